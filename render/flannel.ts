// flannel's two configuration files, the kube-flannel-cfg ConfigMap's keys: net-conf.json, which flanneld
// reads (the pod network and the backend), and cni-conf.json, which the install-cni init container copies
// to /etc/cni/net.d/10-flannel.conflist on every node. Shaped as in flannel v0.28.9's kube-flannel.yml.
import { CniBackend, flannelPort } from "../config/ports";

/** The backend options flannel documents, with the UDP port the cloud firewalls open stated explicitly. */
export function flannelBackend(backend: CniBackend): Record<string, string | number> {
    const port = flannelPort(backend).from;
    // vxlan's `Port` defaults to the kernel's 8472 and wireguard's `ListenPort` to 51820 (IPv4); naming
    // them ties the node-to-node port to config/ports.ts, which the security groups use too.
    return backend === "vxlan" ? { Type: "vxlan", Port: port } : { Type: "wireguard", ListenPort: port };
}

export function flannelNetConf(podCidr: string, backend: CniBackend): string {
    const netConf = {
        // Must equal kubeadm's networking.podSubnet: flanneld takes each node's lease from its spec.podCIDR.
        Network: podCidr,
        EnableNFTables: false,
        Backend: flannelBackend(backend),
    };
    return `${JSON.stringify(netConf, null, 2)}\n`;
}

export const flannelCniConf = `${JSON.stringify(
    {
        name: "cbr0",
        cniVersion: "0.3.1",
        plugins: [
            { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
            { type: "portmap", capabilities: { portMappings: true } },
        ],
    },
    null,
    2,
)}\n`;
