// What the toolchain builds: each component's version, the script that builds it and how to check the result.
import { defaultKubernetesPatch, etcdVersion } from "../config/versions";

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
        {
            name: "etcd",
            version: etcdVersion,
            script: "etcd.sh",
            environment: { ETCD_VERSION: etcdVersion },
            versionChecks: [
                { binary: "etcd", args: ["--version"], expect: `etcd Version: ${etcdVersion}` },
                { binary: "etcdctl", args: ["version"], expect: `etcdctl version: ${etcdVersion}` },
                { binary: "etcdutl", args: ["version"], expect: `etcdutl version: ${etcdVersion}` },
            ],
        },
    ];
}
