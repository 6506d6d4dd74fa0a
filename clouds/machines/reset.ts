// What the reset of a machine (scripts/reset-machine.sh, the delete of its preparation step) removes: the units, files
// and packages the program puts on that machine, named from the same render functions that write them.
import { PlannedHost } from "../../config/layout";
import { ClusterConfig } from "../../config/resolve";
import { clusterHostBoot } from "../../render/cloud-init";
import { etcdBinDir, etcdDataDir, renderEtcdFiles } from "../../render/etcd";
import { renderKubeconfigRenewal } from "../../render/kubeconfig-renewal";
import { renderKubeletServingApprover } from "../../render/kubelet-serving";
import { scriptInstallDir } from "../../render/steps";

/** The reset's script under scripts/, sent in the delete command itself: it runs whatever is left on the machine. */
export const resetScript = "reset-machine.sh";

/** The reset's parameters for one machine (scripts/reset-machine.sh reads them). */
export function machineResetEnvironment(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
    host: PlannedHost,
    clusterName: string,
): Record<string, string> {
    const boot = clusterHostBoot(config, layout, host);
    const files = [
        // /etc/hosts is put back as it was, not removed.
        ...boot.files.map((file) => file.path).filter((path) => path !== "/etc/hosts"),
        ...(host.etcdMember ? renderEtcdFiles(config, layout, host).map((file) => file.path) : []),
        ...(host.role === "master"
            ? [...renderKubeletServingApprover(config, layout), ...renderKubeconfigRenewal(config, layout)].map(
                  (file) => file.path,
              )
            : []),
    ];
    // The apt keyrings the boot installs: the first word of each "keyring fingerprint url" line.
    const keyrings = (boot.environment.KUBEHA_APT_KEYS ?? "")
        .split("\n")
        .map((line) => line.split(" ")[0])
        .filter(Boolean);
    const runsKubelet = host.role === "master" || host.role === "worker";
    // Directories the steps fill: the installed scripts, the API proxy's and pod firewall's, kubeadm's and the
    // kubelet's, etcd's configuration and PKI.
    const programDirectories = [
        scriptInstallDir,
        "/etc/kubeha",
        ...(runsKubelet ? ["/etc/kubernetes", "/var/lib/kubelet"] : []),
        ...(host.etcdMember ? ["/etc/etcd"] : []),
    ];
    const etcdBinaries = host.etcdMember ? ["etcd", "etcdctl", "etcdutl"].map((name) => `${etcdBinDir}/${name}`) : [];
    const paths = [...new Set([...files, ...keyrings, ...etcdBinaries, ...programDirectories])].filter(
        (path) => !programDirectories.some((dir) => path.startsWith(`${dir}/`)),
    );
    const units = files
        .filter((path) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer)$/.test(path))
        .map((path) => path.split("/").pop()!);
    const held = (boot.environment.KUBEHA_HELD_PACKAGES ?? "").split(" ").filter(Boolean);
    return {
        KUBEHA_CLUSTER: clusterName,
        KUBEHA_UNITS: [...(runsKubelet ? ["kubelet.service", "containerd.service"] : []), ...units].join(" "),
        KUBEHA_PATHS: paths.sort().join(" "),
        // The packages of the program's own repositories (the boot holds them); nginx and nftables may be the user's.
        KUBEHA_PACKAGES: (held.length > 0 ? [...held, "cri-tools"] : []).join(" "),
        ...(host.etcdMember ? { KUBEHA_ETCD_DATA: etcdDataDir } : {}),
        KUBEHA_REMOVE_ETCD_DATA: String(config.removeEtcdDataOnReset === true),
    };
}
