// Versions kubeha installs. One place, so an upgrade is a one-line change reviewed with its notes.

/**
 * The exact patch kubeha deploys for each supported minor (each gets patches for about 14 months): the newest
 * release of each on 2026-11-25. A configured minor means its patch here, so hosts built at different times, or
 * behind a firewall that blocks kubeadm's online `stable-1.xx` lookup, all run the same version. Packages, kubeadm
 * configs, image pre-pulls and the test toolchain follow this table; an exact patch in the config wins over it.
 */
export const kubernetesPatches = { "1.35": "1.35.4", "1.36": "1.36.3", "1.37": "1.37.2" } as const;
export type KubernetesMinor = keyof typeof kubernetesPatches;
export const supportedKubernetesMinors = Object.keys(kubernetesPatches) as KubernetesMinor[];
export const defaultKubernetesVersion: KubernetesMinor = "1.36";

/** etcd release run on the etcd hosts (the maintained 3.6 line). */
export const etcdVersion = "3.6.16";

/**
 * SHA-256 of etcd-v<etcdVersion>-linux-amd64.tar.gz as the release's SHA256SUMS lists it; update it with the version.
 * Set, hosts check the download against it, which also guards against a compromised mirror. Undefined, they check it
 * against the SHA256SUMS the mirror serves beside it: that catches corruption only. Not pinned yet: the digest of
 * 3.6.16 could not be looked up from where this was written, and a guessed one would stop every etcd host.
 */
export const etcdReleaseSha256: string | undefined = undefined;

/**
 * An addon image as it is pulled: the release tag, kept for people, and the digest of the tag's multi-platform
 * index, which is what containerd resolves (`name:tag@digest` pulls the digest; the tag is not consulted). A mirror
 * that copies the index unchanged (`skopeo copy --all`, `crane copy`) serves the same digest; one that re-packs the
 * image does not, and the pull fails rather than run something else.
 */
export interface AddonImage {
    readonly name: string;
    readonly tag: string;
    readonly digest: string;
}

/**
 * The addons' images (components/addons.ts); the repositories come from the mirror preset. Digests were not
 * fetched from a registry (none is reachable from where this was written): each is the one public records give
 * for that tag, cited here. Update tag and digest together.
 */
export const addonImages = {
    /**
     * flannel v0.28.9 and the CNI plugin its release manifest (kube-flannel.yml) pins. Digests: a third-party log
     * of `docker buildx imagetools inspect` from 2026-09-30, the only stored record found; the same log's digest of
     * registry.k8s.io/pause:3.10.1 (278fb9db...) matches what many independent sources record for that image.
     */
    flannel: {
        name: "flannel",
        tag: "v0.28.9",
        digest: "sha256:708a2c9c1cfbfe529d1dbb249cb7113af117f3ed26b5e3e4c8ee015e10555204",
    },
    flannelCniPlugin: {
        name: "flannel-cni-plugin",
        tag: "v1.9.1-flannel3",
        digest: "sha256:9fccdf677e6e26e76a4aa60da2113bab9852e8317287ba51b2c29778d2351345",
    },
    /**
     * Kubernetes Dashboard's last plain-manifest release (the project was archived in January 2026). Digests as
     * minikube's dashboard addon pins them (kubernetes/minikube, pkg/minikube/assets/addons.go).
     */
    dashboard: {
        name: "dashboard",
        tag: "v2.7.0",
        digest: "sha256:2e500d29e9d5f4a086b908eb8dfe7ecac57d2ab09d65b24f588b1d449841ef93",
    },
    dashboardMetricsScraper: {
        name: "metrics-scraper",
        tag: "v1.0.8",
        digest: "sha256:76049887f07a0476dc93efc2d3569b9529bf982b22d29f356092ce206e98765c",
    },
    /**
     * Headlamp, the dashboard's successor under kubernetes-sigs. Digest: the one several independent repositories
     * pin for v0.45.0 (e.g. uhthomas/automata, a Renovate-maintained cluster).
     */
    headlamp: {
        name: "headlamp",
        tag: "v0.45.0",
        digest: "sha256:db3f0e0fc58d358d41daa3fe7fc852437552c7ee873c3645470f7b86a8e0db49",
    },
} as const satisfies Record<string, AddonImage>;

/** `<repository>/<name>:<tag>@<digest>`: pulled by digest, readable by tag. */
export function addonImageReference(repository: string, image: AddonImage): string {
    return `${repository}/${image.name}:${image.tag}@${image.digest}`;
}

/**
 * Images of the cloud integration (kubeha:cloudIntegration), as their projects publish them; `mirrors.cloudImages`
 * moves them all to one repository under their last path element. Each was found published at this tag:
 * - AWS cloud-controller-manager v1.35.2: the newest tag the registry served for 1.35/1.36 in 2026-07 (v1.35.3 and
 *   v1.36.x were GitHub releases without images). It talks to the API through long-stable types and to EC2/ELB
 *   only, so one minor behind the apiserver is within the supported skew.
 * - aws-ebs-csi-driver v1.59.0 with the CSI sidecars its Helm chart 2.59.0 pins (AWS's builds of them).
 * - cloud-provider-alibaba-cloud v2.14.0 (its release notes name this image) and alibaba-cloud-csi-driver v1.34.3
 *   with the sidecars its Helm chart pins, from ACK's public registry.
 * By tag only, unlike addonImages: no public record of their digests was found, and a guessed digest would stop the
 * pull. A registry that moves one of these tags changes what runs.
 */
export const cloudIntegrationImages = {
    aws: {
        cloudControllerManager: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.2",
        csiDriver: "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.59.0",
        csiProvisioner: "public.ecr.aws/csi-components/csi-provisioner:v6.2.0-eksbuild.3",
        csiAttacher: "public.ecr.aws/csi-components/csi-attacher:v4.11.0-eksbuild.4",
        csiResizer: "public.ecr.aws/csi-components/csi-resizer:v2.1.0-eksbuild.4",
        csiLivenessProbe: "public.ecr.aws/csi-components/livenessprobe:v2.18.0-eksbuild.4",
        csiNodeDriverRegistrar: "public.ecr.aws/csi-components/csi-node-driver-registrar:v2.16.0-eksbuild.4",
    },
    aliyun: {
        cloudControllerManager: "registry-cn-hangzhou.ack.aliyuncs.com/acs/cloud-controller-manager:v2.14.0",
        csiDriver: "registry-cn-hangzhou.ack.aliyuncs.com/acs/csi-plugin:v1.34.3",
        csiProvisioner: "registry-cn-hangzhou.ack.aliyuncs.com/acs/csi-provisioner:v5.3.2-aliyun",
        csiAttacher: "registry-cn-hangzhou.ack.aliyuncs.com/acs/csi-attacher:v4.9.0-aliyun",
        csiResizer: "registry-cn-hangzhou.ack.aliyuncs.com/acs/csi-resizer:v1.14.0-aliyun",
        csiNodeDriverRegistrar: "registry-cn-hangzhou.ack.aliyuncs.com/acs/csi-node-driver-registrar:v2.14.0-aliyun",
    },
} as const;

/**
 * What the lab's machines run besides Kubernetes and etcd (lab/, `npm run lab`). Only Debian's mirrors are reachable
 * there, so the toolchain builds these from the Go module proxy and the lab's mirrors serve them; cloud hosts instead
 * install containerd from Docker's apt repository (mirrors.containerdApt) and run flannel and CoreDNS as the addons'
 * images. Versions without the leading v.
 */
export const labHostVersions = {
    /** containerd 2, as Docker's containerd.io gives the cloud hosts: the newest patch the proxy served in 2026-12. */
    containerd: "2.4.2",
    /** runc under containerd's runc shim: the newest release the proxy served in 2026-12 (1.6 was a candidate). */
    runc: "1.5.3",
    /** CNI plugins bridge, host-local, loopback and portmap: the newest release the proxy served in 2026-12. */
    cniPlugins: "1.10.0",
    /**
     * The flannel CNI plugin, standing in for addonImages.flannelCniPlugin's (flannel-io/cni-plugin, which the proxy
     * refuses): 0.9.1 is the last containernetworking/plugins release that still held plugins/meta/flannel.
     */
    flannelCniPlugin: "0.9.1",
    /** crictl of the kubelet's minor: cri-tools releases follow Kubernetes' minors and pkgs.k8s.io pairs them so. */
    criTools: "1.36.0",
    /** CoreDNS: the version kubeadm 1.36.3 deploys (its constants.CoreDNSVersion); also the lab's DNS server. */
    coredns: "1.14.2",
    /** flanneld: the flannel release the addon manifests run. */
    flannel: addonImages.flannel.tag.replace(/^v/, ""),
} as const;

/** Ubuntu release of every host image. */
export const ubuntuRelease = { version: "24.04", codename: "noble" } as const;

/** The minor ("1.36") of a configured version ("1.36" or "1.36.4"). */
export function kubernetesMinor(version: string): string {
    return version.split(".").slice(0, 2).join(".");
}

/** The exact patch ("1.36.3") of a configured version: a supported minor's pinned patch, or the patch given. */
export function exactKubernetesVersion(version: string): string {
    if (/^\d+\.\d+\.\d+$/.test(version)) return version;
    const patch = (kubernetesPatches as Record<string, string>)[version];
    if (!patch)
        throw new Error(`Kubernetes ${version} is not a supported minor (${supportedKubernetesMinors.join(", ")})`);
    return patch;
}

/** The exact version a stack deploys when it configures none ("1.36.3"). */
export const defaultKubernetesPatch = exactKubernetesVersion(defaultKubernetesVersion);

/**
 * Tag of the pod sandbox image containerd pins (kubeadm names pause 3.10.1 for Kubernetes 1.34 and 1.35).
 * Any pause image works; scripts/host-boot.sh logs a note when the installed kubeadm names another tag.
 */
export const pauseImageTag = "3.10.1";
