// Where hosts fetch packages and images. The china preset avoids the Great Firewall for
// Aliyun stacks; every item can be overridden one by one in `kubeha:mirrors`, and so can the key that signs each
// apt repository and the reference of every image the cluster pulls (a private mirror re-signs and re-packs).
import { addonImages, AddonImage, cloudIntegrationImages, pauseImageTag } from "./versions";

export type MirrorPreset = "china" | "global";

export interface Mirrors {
    /**
     * Ubuntu archive; undefined keeps the image's own sources (already a regional mirror on AWS). apt checks it
     * against the image's own keyring (ubuntu-keyring), so it must be a copy signed by Ubuntu.
     */
    readonly ubuntuApt?: string;
    /** Base of the per-minor Kubernetes apt repositories (`<base>/v1.36/deb/`). */
    readonly kubernetesApt: string;
    /** Fingerprint (40 upper-case hex digits) of the key that signs the kubernetesApt repositories. */
    readonly kubernetesAptKey: string;
    /** Docker's apt repository, the source of containerd 2.x (`containerd.io`). */
    readonly containerdApt: string;
    /** Fingerprint (40 upper-case hex digits) of the key that signs the containerdApt repository. */
    readonly containerdAptKey: string;
    /** Image repository for kube-* images, pause and coredns (kubeadm `imageRepository`). */
    readonly kubernetesImages: string;
    /** Repository holding the flannel and flannel-cni-plugin images. */
    readonly flannelImages: string;
    /** Repository holding the Kubernetes Dashboard images (dashboard, metrics-scraper). */
    readonly dashboardImages: string;
    /** Repository holding the Headlamp image. */
    readonly headlampImages: string;
    /**
     * One repository holding every cloud integration image under its own name (`<repo>/csi-provisioner:<tag>`, as
     * kubeadm's imageRepository does); undefined pulls each image from where its project publishes it
     * (config/versions.ts cloudIntegrationImages).
     */
    readonly cloudImages?: string;
    /** Base of etcd's release downloads: `<base>/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz`, SHA256SUMS beside it. */
    readonly etcdReleases: string;
    /** Per-image overrides of the references above (imageOf, corednsImage). */
    readonly images: ImageOverrides;
    /**
     * Everything the hosts' boot downloads (the apt repositories, the Kubernetes images, etcd's releases) is reachable
     * inside the VPC without the NAT gateway: a mirror of the operator's own in the VPC, or the cloud's in-VPC
     * endpoints. The boot then does not wait for NAT (components/cluster.ts).
     */
    readonly insideVpc: boolean;
}

/** The value of `mirrors.ubuntuApt` that keeps the image's own Ubuntu sources, whatever the preset says. */
export const imageOwnUbuntuApt = "image";

export type MirrorOverrides = Partial<Omit<Mirrors, "images">> & {
    readonly preset?: MirrorPreset;
    readonly images?: ImageOverrides;
};

/**
 * Fingerprints of the keys that sign the apt repositories; hosts install a repository's key only if the file the
 * mirror serves holds exactly this key. Every preset's mirror (Aliyun's included) is a copy of the publisher's
 * repository with its signed Release files, so it serves the publisher's key: one fingerprint per repository, whatever
 * the preset. A mirror of your own that re-signs with its own key names that key's fingerprint in
 * `mirrors.kubernetesAptKey` or `mirrors.containerdAptKey`.
 */
export const aptSigningKeys = {
    /**
     * "isv:kubernetes OBS Project", the openSUSE Build Service key that signs every pkgs.k8s.io core:/stable:
     * repository (the same key for each minor): the fingerprint `gpg --show-keys` gives for its Release.key, which
     * independent installers pin alike (public Salt, Puppet and cloud-init configurations; kubernetes/website#42718
     * asks the install guide to check it). OBS extends the key's expiry in place: the fingerprint stays.
     */
    kubernetes: "DE15B14486CD377B9E876E1A234654DA9A296436",
    /** "Docker Release (CE deb)", the key Docker's install guide names for download.docker.com/linux/ubuntu/gpg. */
    docker: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
} as const;

export const mirrorPresets: Record<MirrorPreset, Mirrors> = {
    global: {
        kubernetesApt: "https://pkgs.k8s.io/core:/stable:",
        kubernetesAptKey: aptSigningKeys.kubernetes,
        containerdApt: "https://download.docker.com/linux/ubuntu",
        containerdAptKey: aptSigningKeys.docker,
        kubernetesImages: "registry.k8s.io",
        flannelImages: "ghcr.io/flannel-io",
        dashboardImages: "docker.io/kubernetesui",
        headlampImages: "ghcr.io/headlamp-k8s",
        etcdReleases: "https://github.com/etcd-io/etcd/releases/download",
        images: {},
        insideVpc: false,
    },
    china: {
        ubuntuApt: "https://mirrors.aliyun.com/ubuntu",
        kubernetesApt: "https://mirrors.aliyun.com/kubernetes-new/core/stable",
        kubernetesAptKey: aptSigningKeys.kubernetes,
        containerdApt: "https://mirrors.aliyun.com/docker-ce/linux/ubuntu",
        containerdAptKey: aptSigningKeys.docker,
        kubernetesImages: "registry.aliyuncs.com/google_containers",
        // No maintained China mirror exists for ghcr.io or the dashboard images: override these where needed.
        flannelImages: "ghcr.io/flannel-io",
        dashboardImages: "docker.io/kubernetesui",
        headlampImages: "ghcr.io/headlamp-k8s",
        // Huawei Cloud's copy of the GitHub release assets, same layout and file names.
        etcdReleases: "https://mirrors.huaweicloud.com/etcd",
        images: {},
        insideVpc: false,
    },
};

/** The preset's mirrors with the user's per-item overrides applied (`ubuntuApt: image` unsets the preset's). */
export function resolveMirrors(preset: MirrorPreset, overrides: MirrorOverrides): Mirrors {
    const { preset: _ignored, ...items } = overrides;
    const mirrors = { ...mirrorPresets[preset], ...items };
    if (mirrors.ubuntuApt !== imageOwnUbuntuApt) return mirrors;
    const { ubuntuApt: _imageOwn, ...rest } = mirrors;
    return rest;
}

/** An image by its upstream reference, or by its last path element in the given repository. */
export function mirroredImage(upstream: string, repository: string | undefined): string {
    if (!repository) return upstream;
    return `${repository.replace(/\/+$/, "")}/${upstream.slice(upstream.lastIndexOf("/") + 1)}`;
}

/** An image reference taken apart: `[<repository>/]<name>[:<tag>][@<digest>]`. */
export interface ImageParts {
    /** Everything before the last `/` (registry and path); empty for a bare name like `busybox`. */
    readonly repository: string;
    readonly name: string;
    readonly tag?: string;
    readonly digest?: string;
}

/**
 * A stack's override of one image (`kubeha:mirrors.images.<image>`): a whole reference, or the parts that differ from
 * the default (`repository` holds the image under its own name, like the `*Images` keys).
 */
export type ImageOverride = string | { readonly repository?: string; readonly tag?: string; readonly digest?: string };

/** The images a stack can override, one key each: kubeadm's (pause, CoreDNS), the addons' and the cloud integration's. */
export const overridableImages = [
    "pause",
    "coredns",
    "flannel",
    "flannelCniPlugin",
    "dashboard",
    "dashboardMetricsScraper",
    "headlamp",
    "cloudControllerManager",
    "csiDriver",
    "csiProvisioner",
    "csiAttacher",
    "csiResizer",
    "csiLivenessProbe",
    "csiNodeDriverRegistrar",
] as const;
export type OverridableImage = (typeof overridableImages)[number];
export type ImageOverrides = Readonly<Partial<Record<OverridableImage, ImageOverride>>>;

export type AddonImageKey = keyof typeof addonImages;
export type CloudImageKey = keyof typeof cloudIntegrationImages.aws | keyof typeof cloudIntegrationImages.aliyun;

/** Which `*Images` mirror key holds each addon image by default. */
const addonImageRepositories: Record<AddonImageKey, "flannelImages" | "dashboardImages" | "headlampImages"> = {
    flannel: "flannelImages",
    flannelCniPlugin: "flannelImages",
    dashboard: "dashboardImages",
    dashboardMetricsScraper: "dashboardImages",
    headlamp: "headlampImages",
};

/** `[<repository>/]<name>[:<tag>][@<digest>]` taken apart (the schema has checked the grammar). */
export function parseImageReference(reference: string): ImageParts {
    const [nameAndTag, digest] = reference.split("@");
    const slash = nameAndTag.lastIndexOf("/");
    const [name, tag] = nameAndTag.slice(slash + 1).split(":");
    return {
        repository: slash < 0 ? "" : nameAndTag.slice(0, slash),
        name,
        ...(tag === undefined ? {} : { tag }),
        ...(digest === undefined ? {} : { digest }),
    };
}

/** The reference as containerd takes it: with a digest, the digest is pulled and the tag is for people. */
export function formatImageReference(image: ImageParts): string {
    const name = image.repository ? `${image.repository}/${image.name}` : image.name;
    return `${name}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`;
}

/**
 * The default with an override applied: a string replaces it whole; an object's parts replace the default's. A new
 * tag keeps the default digest only if the schema let it through, which it does not for a digest-pinned image.
 */
export function applyImageOverride(image: ImageParts, override: ImageOverride | undefined): ImageParts {
    if (override === undefined) return image;
    if (typeof override === "string") return parseImageReference(override);
    return {
        ...image,
        ...(override.repository === undefined ? {} : { repository: override.repository }),
        ...(override.tag === undefined ? {} : { tag: override.tag }),
        ...(override.digest === undefined ? {} : { digest: override.digest }),
    };
}

/** An addon image as the mirrors pull it: `<repository>/<name>:<tag>@<digest>` unless overridden. */
export function addonImage(mirrors: Mirrors, key: AddonImageKey): string {
    const image: AddonImage = addonImages[key];
    const defaults = { repository: mirrors[addonImageRepositories[key]], ...image };
    return formatImageReference(applyImageOverride(defaults, mirrors.images[key]));
}

/** A cloud integration image: its project's reference, moved to `mirrors.cloudImages` if set, then overridden. */
export function cloudImage(mirrors: Mirrors, cloud: "aliyun" | "aws", key: CloudImageKey): string {
    const upstream = (cloudIntegrationImages[cloud] as Partial<Record<CloudImageKey, string>>)[key];
    if (upstream === undefined) throw new Error(`no ${key} image on ${cloud}`);
    const image = parseImageReference(mirroredImage(upstream, mirrors.cloudImages));
    return formatImageReference(applyImageOverride(image, mirrors.images[key]));
}

/** The pod sandbox image containerd pins: `<kubernetesImages>/pause:<pauseImageTag>` unless overridden. */
export function pauseImage(mirrors: Mirrors): string {
    const defaults = { repository: mirrors.kubernetesImages, name: "pause", tag: pauseImageTag };
    return formatImageReference(applyImageOverride(defaults, mirrors.images.pause));
}

/**
 * kubeadm's `dns` settings when CoreDNS is overridden (ClusterConfiguration v1beta4 `dns.imageRepository` and
 * `dns.imageTag`; kubeadm names the image `<imageRepository>/coredns:<imageTag>` and takes no digest), undefined
 * when it is not: kubeadm then pulls `<kubernetesImages>/coredns` at the tag it pins for its version.
 */
export function corednsImage(mirrors: Mirrors): { imageRepository?: string; imageTag?: string } | undefined {
    const override = mirrors.images.coredns;
    if (override === undefined) return undefined;
    const { repository, tag } = typeof override === "string" ? parseImageReference(override) : override;
    return {
        ...(repository === undefined ? {} : { imageRepository: repository }),
        ...(tag === undefined ? {} : { imageTag: tag }),
    };
}
