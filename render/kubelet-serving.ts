// Kubelet serving certificates, approved for as long as the cluster runs: Kubernetes approves no
// kubernetes.io/kubelet-serving request by itself, and every kubelet asks for a new certificate before
// its current one expires (serverTLSBootstrap, render/kubeadm.ts). A timer on every master runs
// scripts/approve-kubelet-serving.sh, which approves a pending request only when a planned node asked for
// its own names and addresses, listed here; anything else stays pending and is logged.
import { hostFqdn, PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { hostFactsOf } from "../clouds/host-facts";
import { HostFile } from "./host-file";
import { installedScript } from "./steps";

export const kubeletServingApprover = {
    /** One line per node that may ask: `<node name> <address>,<name>,...` (its private address and FQDN). */
    nodesFile: "/etc/kubeha/kubelet-serving-nodes",
    service: "kubeha-approve-kubelet-serving.service",
    timer: "kubeha-approve-kubelet-serving.timer",
    /** How often the timer runs it: a kubelet asks again well before its certificate expires. */
    intervalMinutes: 5,
} as const;

const unitDir = "/etc/systemd/system";

/** The nodes file, the service and the timer, for every master. */
export function renderKubeletServingApprover(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile[] {
    const nodes = layout
        .filter((host) => host.role === "master" || host.role === "worker")
        .map((host) => {
            const names = [
                host.privateIp,
                hostFqdn(host.name, config.network.privateDomain),
                ...hostFactsOf(config).nodeNames(config, host),
            ];
            return `${host.name} ${names.join(",")}\n`;
        })
        .join("");
    const { nodesFile, service, timer, intervalMinutes } = kubeletServingApprover;
    const script = installedScript("serving-cert");
    return [
        { path: nodesFile, mode: "0644", content: nodes },
        {
            path: `${unitDir}/${service}`,
            mode: "0644",
            content: `# Rendered by kubeha; started by ${timer}. Why a request stays pending: journalctl -u ${service}
[Unit]
Description=Approve the kubelet serving certificate requests of the cluster's own nodes
Documentation=file://${script}
# Only a master that joined has the admin credentials.
ConditionPathExists=/etc/kubernetes/admin.conf

[Service]
Type=oneshot
Environment=KUBEHA_NODES_FILE=${nodesFile}
ExecStart=${script}
`,
        },
        {
            path: `${unitDir}/${timer}`,
            mode: "0644",
            content: `# Rendered by kubeha; enabled by the <master>-serving-approver step.
[Unit]
Description=Approve kubelet serving certificate requests every ${intervalMinutes} minutes

[Timer]
OnBootSec=2min
OnUnitActiveSec=${intervalMinutes}min
# Every master runs it: spread them, so two rarely approve the same request at once.
RandomizedDelaySec=1min

[Install]
WantedBy=timers.target
`,
        },
    ];
}
