// Ports the cluster's components listen on: one place for every cloud's firewall rules and every host config.
import { ParsedConfig } from "./schema";

export type CniBackend = ParsedConfig["addons"]["cni"]["backend"];

/** A TCP or UDP port, or an inclusive range of them. */
export interface PortRange {
    readonly protocol: "tcp" | "udp";
    readonly from: number;
    readonly to: number;
}

export const ports = {
    ssh: 22,
    /** kube-apiserver on every master (the per-node proxy listens on network.apiProxyPort instead). */
    apiserver: 6443,
    etcdClient: 2379,
    etcdPeer: 2380,
    /** etcd's plain-HTTP /health and /metrics, on 127.0.0.1 only (kubeadm's choice of port). */
    etcdMetrics: 2381,
    kubelet: 10250,
} as const;

/**
 * Idle seconds before the API load balancer drops a connection: watches, `kubectl exec` and `logs -f` sit idle for
 * long. 900 is the most Aliyun's NLB allows; AWS's NLB listener would default to 350.
 */
export const apiLoadBalancerIdleTimeoutSeconds = 900;

/**
 * The API load balancer's health checks on both clouds: a master gets traffic after 2 passes 5 s apart and none after
 * 2 failures (10 s, where 10 s apart took 20). 5 s is the shortest interval both allow; each check may take 4 s.
 */
export const apiHealthCheck = { intervalSeconds: 5, timeoutSeconds: 4, healthyThreshold: 2, unhealthyThreshold: 2 };

/** Kubernetes' default Service NodePort range (--service-node-port-range). */
export const nodePortRange: PortRange = { protocol: "tcp", from: 30000, to: 32767 };

/** flannel's node-to-node UDP port: the Linux VXLAN port flannel uses (not IANA's 4789), or WireGuard's default. */
const flannelUdpPorts: Record<CniBackend, number> = { vxlan: 8472, wireguard: 51820 };

export function flannelPort(backend: CniBackend): PortRange {
    const port = flannelUdpPorts[backend];
    return { protocol: "udp", from: port, to: port };
}

/** A single TCP port as a range. */
export function tcp(port: number): PortRange {
    return { protocol: "tcp", from: port, to: port };
}
