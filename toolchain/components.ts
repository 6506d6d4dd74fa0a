// What the toolchain builds: each component's version, the script that builds it and how to check the result.
import { resolve } from "node:path";
import { defaultKubernetesPatch, etcdVersion, labHostVersions } from "../config/versions";

/**
 * The Pulumi CLI the engine tests run: the newest release the Go module proxy serves (it does not serve 3.270.0, the
 * installed @pulumi/pulumi's own version). A CLI at or above the SDK is what Pulumi supports; an older one is refused.
 */
const pulumiCliVersion = "3.274.1";

/**
 * Releases of the Kubernetes provider plugin (pulumi-resource-kubernetes) the Go module proxy serves, by the version the
 * @pulumi/kubernetes SDK requests: the module github.com/pulumi/pulumi-kubernetes/provider/v4 at the pseudo-version of
 * the release commit (the proxy lists no tag of it and refuses v4.25.0), and the published sdk/v4 of the same release,
 * which its go.mod takes from ../sdk. 4.25.0 is the only release the proxy served (2026-12), hence the exact pin in
 * package.json.
 */
const kubernetesProviderReleases: Record<string, { module: string; sdk: string }> = {
    "4.25.0": { module: "v4.0.0-20260115033456-f47bc2d6f199", sdk: "v4.25.0" },
};

/**
 * Tools the lab runs on this machine, not on its hosts (the hosts' versions are config/versions.ts labHostVersions):
 * the OCI registry serving the lab's images (distribution v3, the newest the proxy served in 2026-12) and crane, which
 * builds those images from tar layers and pushes them (its newest release then).
 */
const labToolVersions = { registry: "3.1.2", crane: "0.22.1" } as const;

/**
 * tencentcloud-sdk-go/tencentcloud/vpc for flanneld's build (toolchain/flannel.sh): the proxy refuses the v1.3.x that
 * flannel 0.28 requires (403); v1.1.14 is the newest it served of those tried (none of v1.1.15-v1.1.50, nor samples up
 * to v1.3.150) and compiles. Only flannel's tencent-vpc backend uses it, which kubeha never selects.
 */
const flannelTencentVpcVersion = "v1.1.14";

export interface ToolchainComponent {
    /** Cache folder prefix: `<name>-<version>`. */
    name: string;
    version: string;
    /** Build script beside this file; it writes into $OUT and may use $WORK. */
    script: string;
    environment: Record<string, string>;
    /**
     * Each binary must print `expect` when run with `args` (through `runner` when set: that command gets the binary's
     * path, then `args`): an unstamped build is refused.
     */
    versionChecks: { binary: string; args: string[]; expect: string; runner?: string[] }[];
}

export function toolchainComponents(): ToolchainComponent[] {
    const kubernetes = `v${defaultKubernetesPatch}`;
    const pulumi = pulumiCli();
    return [
        kubernetesComponent(kubernetes),
        etcdComponent(etcdVersion),
        {
            name: "pulumi",
            version: pulumi,
            script: "pulumi.sh",
            environment: { PULUMI_VERSION: pulumi },
            versionChecks: [{ binary: "pulumi", args: ["version"], expect: `v${pulumi}` }],
        },
        kubernetesProviderComponent(),
        ...labComponents(),
    ];
}

/**
 * What a local lab of real machines needs (lab/): the node binaries of the same Kubernetes patch, the container
 * runtime, CNI plugins, crictl, CoreDNS and flanneld at the versions the hosts run, and the registry and crane the
 * lab's image mirror uses.
 */
function labComponents(): ToolchainComponent[] {
    const kubernetes = `v${defaultKubernetesPatch}`;
    const lab = labHostVersions;
    return [
        kubernetesNodeComponent(kubernetes),
        // Without the btrfs and devmapper snapshotters (the lab uses overlayfs) and cgo off: static binaries.
        goInstallComponent({
            name: "containerd",
            module: "github.com/containerd/containerd/v2",
            version: lab.containerd,
            packages: ["cmd/containerd", "cmd/containerd-shim-runc-v2", "cmd/ctr"],
            stamps: ["github.com/containerd/containerd/v2/version.Version"],
            tags: ["no_btrfs", "no_devmapper"],
            versionChecks: (tag) => [
                { binary: "containerd", args: ["--version"], expect: `containerd/v2 ${tag}` },
                { binary: "containerd-shim-runc-v2", args: ["-v"], expect: `Version:  ${tag}\n` },
                { binary: "ctr", args: ["--version"], expect: `ctr github.com/containerd/containerd/v2 ${tag}` },
            ],
        }),
        // seccomp needs cgo and libseccomp (Debian libseccomp-dev, pkg-config); linked dynamically against libseccomp2,
        // which every Debian machine with systemd has. Its version comes from the release's embedded VERSION file.
        goInstallComponent({
            name: "runc",
            module: "github.com/opencontainers/runc",
            version: lab.runc,
            packages: ["."],
            tags: ["seccomp"],
            cgo: true,
            versionChecks: () => [{ binary: "runc", args: ["--version"], expect: `runc version ${lab.runc}\n` }],
        }),
        // A CNI plugin run without CNI_COMMAND prints its name and the stamped version.
        goInstallComponent({
            name: "cni-plugins",
            module: "github.com/containernetworking/plugins",
            version: lab.cniPlugins,
            packages: [
                "plugins/main/bridge",
                "plugins/ipam/host-local",
                "plugins/main/loopback",
                "plugins/meta/portmap",
            ],
            stamps: ["github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion"],
            versionChecks: (tag) =>
                ["bridge", "host-local", "loopback", "portmap"].map((binary) => ({
                    binary,
                    args: [],
                    expect: `CNI ${binary} plugin ${tag}`,
                })),
        }),
        goInstallComponent({
            name: "cni-flannel",
            module: "github.com/containernetworking/plugins",
            version: lab.flannelCniPlugin,
            packages: ["plugins/meta/flannel"],
            stamps: ["github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion"],
            versionChecks: (tag) => [{ binary: "flannel", args: [], expect: `CNI flannel plugin ${tag}` }],
        }),
        goInstallComponent({
            name: "cri-tools",
            module: "sigs.k8s.io/cri-tools",
            version: lab.criTools,
            packages: ["cmd/crictl"],
            stamps: ["sigs.k8s.io/cri-tools/pkg/version.Version"],
            versionChecks: (tag) => [{ binary: "crictl", args: ["--version"], expect: `crictl version ${tag}` }],
        }),
        corednsComponent(lab.coredns),
        // A wrapper module (toolchain/flannel.sh): the proxy refuses a dependency of its tencent-vpc backend.
        {
            name: "flannel",
            version: `v${lab.flannel}`,
            script: "flannel.sh",
            environment: { FLANNEL_VERSION: `v${lab.flannel}`, FLANNEL_TENCENT_VPC: flannelTencentVpcVersion },
            versionChecks: [{ binary: "flanneld", args: ["--version"], expect: `v${lab.flannel}\n` }],
        },
        goInstallComponent({
            name: "registry",
            module: "github.com/distribution/distribution/v3",
            version: labToolVersions.registry,
            packages: ["cmd/registry"],
            stamps: ["github.com/distribution/distribution/v3/version.version"],
            versionChecks: (tag) => [{ binary: "registry", args: ["--version"], expect: `distribution/v3 ${tag}` }],
        }),
        goInstallComponent({
            name: "crane",
            module: "github.com/google/go-containerregistry",
            version: labToolVersions.crane,
            packages: ["cmd/crane"],
            stamps: ["github.com/google/go-containerregistry/cmd/crane/cmd.Version"],
            versionChecks: (tag) => [{ binary: "crane", args: ["version"], expect: `${tag}\n` }],
        }),
    ];
}

/** A release built with `go install <module>/<package>@v<version>` (toolchain/go-install.sh). */
function goInstallComponent(spec: {
    name: string;
    module: string;
    /** Without the leading v. */
    version: string;
    /** Package folders inside the module ("." is its root); "<folder>:<name>" installs the binary as name. */
    packages: string[];
    /** Variables (`<package>.<name>`) set to the release tag, as the project's release build stamps them. */
    stamps?: string[];
    /** What the stamps hold: the tag (v1.2.3, the default) or the version without its v. */
    stampedAs?: "tag" | "version";
    tags?: string[];
    /** GOEXPERIMENT settings the release's own build sets. */
    experiments?: string[];
    cgo?: boolean;
    versionChecks: (tag: string) => ToolchainComponent["versionChecks"];
}): ToolchainComponent {
    const tag = `v${spec.version}`;
    const stamp = spec.stampedAs === "version" ? spec.version : tag;
    return {
        name: spec.name,
        version: tag,
        script: "go-install.sh",
        environment: {
            GO_INSTALL_MODULE: spec.module,
            GO_INSTALL_VERSION: tag,
            GO_INSTALL_PACKAGES: spec.packages.join(" "),
            GO_INSTALL_LDFLAGS: (spec.stamps ?? []).map((variable) => `-X ${variable}=${stamp}`).join(" "),
            GO_INSTALL_TAGS: (spec.tags ?? []).join(","),
            CGO_ENABLED: spec.cgo ? "1" : "0",
            ...(spec.experiments ? { GOEXPERIMENT: spec.experiments.join(",") } : {}),
        },
        versionChecks: spec.versionChecks(tag),
    };
}

/**
 * The etcd release the etcd upgrade test (test/system/etcd-upgrade.test.ts) starts its cluster with: the newest 3.5
 * patch the Go module proxy serves, on the path etcd supports to the 3.6 the hosts run (3.5.26 or later). Built only
 * when that test asks for it (`npm run -s toolchain -- --etcd <version>`), not with the default set.
 */
export const etcdUpgradeFromVersion = "3.5.35";

/** etcd, etcdctl and etcdutl of one release. */
export function etcdComponent(version: string): ToolchainComponent {
    return {
        name: "etcd",
        version,
        script: "etcd.sh",
        environment: { ETCD_VERSION: version },
        versionChecks: [
            { binary: "etcd", args: ["--version"], expect: `etcd Version: ${version}` },
            { binary: "etcdctl", args: ["version"], expect: `etcdctl version: ${version}` },
            { binary: "etcdutl", args: ["version"], expect: `etcdutl version: ${version}` },
        ],
    };
}

/** kubeadm, the control plane's binaries and kubectl of one release (`v1.36.3`). */
export function kubernetesComponent(version: string): ToolchainComponent {
    return {
        name: "kubernetes",
        version,
        script: "kubernetes.sh",
        environment: { KUBERNETES_VERSION: version },
        versionChecks: [
            { binary: "kubeadm", args: ["version", "-o", "short"], expect: version },
            { binary: "kube-apiserver", args: ["--version"], expect: version },
            { binary: "kube-controller-manager", args: ["--version"], expect: version },
            { binary: "kube-scheduler", args: ["--version"], expect: version },
            { binary: "kubectl", args: ["version", "--client"], expect: version },
        ],
    };
}

/**
 * The node's kubelet and kube-proxy of one release (`v1.36.3`): a component of its own beside `kubernetes`, so adding
 * it left that cache folder valid; Go's build cache makes it quick after the control-plane binaries.
 */
export function kubernetesNodeComponent(version: string): ToolchainComponent {
    return {
        name: "kubernetes-node",
        version,
        script: "kubernetes.sh",
        environment: { KUBERNETES_VERSION: version, KUBERNETES_COMMANDS: "kubelet kube-proxy" },
        versionChecks: [
            { binary: "kubelet", args: ["--version"], expect: `Kubernetes ${version}` },
            { binary: "kube-proxy", args: ["--version"], expect: `Kubernetes ${version}` },
        ],
    };
}

/** CoreDNS of one release (`1.14.2`): the version printed is the release's own constant (coremain.CoreVersion); gitTag marks it a release build. */
export function corednsComponent(version: string): ToolchainComponent {
    return goInstallComponent({
        name: "coredns",
        module: "github.com/coredns/coredns",
        version,
        packages: ["."],
        stamps: ["github.com/coredns/coredns/coremain.gitTag"],
        versionChecks: () => [{ binary: "coredns", args: ["-version"], expect: `CoreDNS-${version}\n` }],
    });
}

/**
 * kubeadm alone, of another Kubernetes release: the real control plane test's upgrade target (the next minor's
 * pinned patch), which runs `kubeadm upgrade plan` and `upgrade apply --dry-run` against the cluster. Built only when
 * that test asks for it (`npm run -s toolchain -- --kubeadm <version>`), not with the default set.
 */
export function kubeadmComponent(version: string): ToolchainComponent {
    const stamped = `v${version}`;
    return {
        name: "kubeadm",
        version: stamped,
        script: "kubernetes.sh",
        environment: { KUBERNETES_VERSION: stamped, KUBERNETES_COMMANDS: "kubeadm" },
        versionChecks: [{ binary: "kubeadm", args: ["version", "-o", "short"], expect: stamped }],
    };
}

/**
 * trivy, whose built-in Kubernetes checks the benchmark test runs offline (test/real/trivy.test.ts): the newest release
 * the Go module proxy served (2026-12). Built only when that test asks for it (`npm run -s toolchain -- --trivy
 * <version>`), not with the default set: its cold build is 986 s of CPU and 3.2 GB of memory into a 168 MB binary (it
 * links every scanner trivy has; it ships no narrower command and no build tags to leave scanners out).
 */
export const trivyVersion = "0.74.0";

/** trivy's command line, as its release build makes it (goreleaser.yml: GOEXPERIMENT=jsonv2, cgo off, app.ver). */
export function trivyComponent(version: string): ToolchainComponent {
    return goInstallComponent({
        name: "trivy",
        module: "github.com/aquasecurity/trivy",
        version,
        packages: ["cmd/trivy"],
        stamps: ["github.com/aquasecurity/trivy/pkg/version/app.ver"],
        stampedAs: "version",
        experiments: ["jsonv2"],
        versionChecks: () => [{ binary: "trivy", args: ["--version"], expect: `Version: ${version}\n` }],
    });
}

/**
 * The Kubernetes provider plugin at the version the installed @pulumi/kubernetes requests, built by
 * toolchain/pulumi-resource-kubernetes.sh. A plugin has no --version flag: the check asks it over gRPC as the engine
 * does, for its stamped version and for the version of the schema it embeds.
 */
function kubernetesProviderComponent(): ToolchainComponent {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const version = (require("@pulumi/kubernetes/package.json") as { pulumi: { version: string } }).pulumi.version;
    const release = kubernetesProviderReleases[version];
    if (!release) {
        throw new Error(
            `toolchain: the installed @pulumi/kubernetes requests the kubernetes plugin ${version}, which the Go module ` +
                `proxy does not serve (it serves ${Object.keys(kubernetesProviderReleases).join(", ")}): ` +
                `pin @pulumi/kubernetes in package.json to one of those`,
        );
    }
    return {
        name: "pulumi-resource-kubernetes",
        version,
        script: "pulumi-resource-kubernetes.sh",
        environment: {
            PROVIDER_VERSION: version,
            PROVIDER_MODULE_VERSION: release.module,
            PROVIDER_SDK_VERSION: release.sdk,
        },
        versionChecks: [
            {
                binary: "pulumi-resource-kubernetes",
                runner: [
                    process.execPath,
                    "--require",
                    require.resolve("ts-node/register/transpile-only"),
                    resolve(__dirname, "plugin-version.ts"),
                ],
                args: [],
                expect: `plugin ${version} schema ${version}\n`,
            },
        ],
    };
}

/** pulumiCliVersion, checked against the installed @pulumi/pulumi. */
function pulumiCli(): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdk = (require("@pulumi/pulumi/package.json") as { version: string }).version;
    const parts = (version: string) => version.split(/[.-]/).slice(0, 3).map(Number);
    const [cli, installed] = [parts(pulumiCliVersion), parts(sdk)];
    const older = cli.findIndex((part, i) => part !== installed[i]);
    if (older >= 0 && cli[older] < installed[older]) {
        throw new Error(
            `toolchain: the Pulumi CLI ${pulumiCliVersion} is older than the installed @pulumi/pulumi ${sdk}: ` +
                `raise pulumiCliVersion in toolchain/components.ts to a release the Go module proxy serves`,
        );
    }
    return pulumiCliVersion;
}
