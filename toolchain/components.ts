// What the toolchain builds: each component's version, the script that builds it and how to check the result.
import { defaultKubernetesPatch, etcdVersion } from "../config/versions";

/**
 * The Pulumi CLI the engine tests run: the newest release the Go module proxy serves (it does not serve 3.270.0, the
 * installed @pulumi/pulumi's own version). A CLI at or above the SDK is what Pulumi supports; an older one is refused.
 */
const pulumiCliVersion = "3.274.1";

export interface ToolchainComponent {
    /** Cache folder prefix: `<name>-<version>`. */
    name: string;
    version: string;
    /** Build script beside this file; it writes into $OUT and may use $WORK. */
    script: string;
    environment: Record<string, string>;
    /** Each binary must print `expect` when run with `args`: an unstamped build is refused. */
    versionChecks: { binary: string; args: string[]; expect: string }[];
}

export function toolchainComponents(): ToolchainComponent[] {
    const kubernetes = `v${defaultKubernetesPatch}`;
    const pulumi = pulumiCli();
    return [
        {
            name: "kubernetes",
            version: kubernetes,
            script: "kubernetes.sh",
            environment: { KUBERNETES_VERSION: kubernetes },
            versionChecks: [
                { binary: "kubeadm", args: ["version", "-o", "short"], expect: kubernetes },
                { binary: "kube-apiserver", args: ["--version"], expect: kubernetes },
                { binary: "kube-controller-manager", args: ["--version"], expect: kubernetes },
                { binary: "kube-scheduler", args: ["--version"], expect: kubernetes },
                { binary: "kubectl", args: ["version", "--client"], expect: kubernetes },
            ],
        },
        etcdComponent(etcdVersion),
        {
            name: "pulumi",
            version: pulumi,
            script: "pulumi.sh",
            environment: { PULUMI_VERSION: pulumi },
            versionChecks: [{ binary: "pulumi", args: ["version"], expect: `v${pulumi}` }],
        },
    ];
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
