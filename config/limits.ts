// Limits outside this program that a stack config must respect: the clouds', kubeadm's and the kernel's. Each one
// broke a `pulumi up` after the plan had passed (issue 27); the schema (config/schema.ts) reports them by key.
import { Cidr, formatCidr, overlaps, parseCidr } from "./cidr";
import { ports } from "./ports";
import type { Cloud } from "./schema";

/** Each node's pod range: kubeadm's default --node-cidr-mask-size; the kubelet's maxPods (220) needs a /24. */
export const nodePodPrefix = 24;

/** Pod ranges the cluster can hand out from podCidr, one per node that runs a kubelet. */
export function podRangeCapacity(podCidr: string): number {
    const { prefix } = parseCidr(podCidr);
    return prefix > nodePodPrefix ? 0 : 2 ** (nodePodPrefix - prefix);
}

/** kube-apiserver refuses a larger IPv4 service range ("the mask must be >= 12"). */
export const largestServicePrefix = 12;
/** kubeadm gives cluster DNS the 10th address of the service range: a /28 (16 addresses) is the smallest. */
export const smallestServicePrefix = 28;

/** Ranges no host, pod or service address may come from, on any cloud (RFC 6890: this network, loopback, ...). */
const everywhereReserved: [string, string][] = [
    ["0.0.0.0/8", "this network (RFC 1122)"],
    ["127.0.0.0/8", "loopback"],
    ["169.254.0.0/16", "link-local, where the cloud's metadata service answers"],
    ["224.0.0.0/4", "multicast"],
    ["240.0.0.0/4", "reserved (RFC 1112)"],
];

/** Ranges a cloud keeps for its own services. */
const cloudReserved: Record<Cloud, [string, string][]> = {
    // Aliyun: VPCs may not use 100.64.0.0/10; its metadata, DNS (100.100.2.136/138) and NTP answer in 100.100.0.0/16.
    aliyun: [["100.64.0.0/10", "reserved by Aliyun for its own services (metadata, DNS and NTP in 100.100.0.0/16)"]],
    aws: [],
};

/** Why `cidr` may not be used on `cloud`, if it may not. */
export function reservedRangeProblem(cloud: Cloud | undefined, cidr: string): string | undefined {
    const range = parseCidr(cidr);
    for (const [reserved, why] of [...everywhereReserved, ...(cloud ? cloudReserved[cloud] : [])]) {
        if (overlaps(range, parseCidr(reserved))) return `${cidr} overlaps ${reserved}, ${why}`;
    }
    return undefined;
}

/**
 * VPC sizes each cloud accepts, given that each zone's subnet is 1/16 of the VPC (config/layout.ts): AWS VPCs
 * and subnets are /16 to /28; Aliyun vSwitches are /16 to /29 (so its VPC must be /12 or smaller here).
 */
export const largestVpcPrefix: Record<Cloud, { prefix: number; why: string }> = {
    aws: { prefix: 16, why: "AWS VPCs are /16 to /28" },
    aliyun: { prefix: 12, why: "each zone's vSwitch is 1/16 of the VPC, and Aliyun vSwitches are /16 to /29" },
};

export function vpcSizeProblem(cloud: Cloud, vpcCidr: string): string | undefined {
    const vpc: Cidr = parseCidr(vpcCidr);
    const limit = largestVpcPrefix[cloud];
    if (vpc.prefix >= limit.prefix) return undefined;
    return `${formatCidr(vpc)} is too large: ${limit.why}; use a /${limit.prefix} or smaller`;
}

/** Ports the API proxy on 127.0.0.1 must leave to the cluster's own components. */
export const reservedTcpPorts: [number, number, string][] = [
    [ports.etcdClient, ports.etcdClient, "etcd's client port"],
    [ports.etcdPeer, ports.etcdPeer, "etcd's peer port"],
    [ports.etcdMetrics, ports.etcdMetrics, "etcd's metrics port"],
    [10248, 10248, "the kubelet's health port"],
    [10249, 10249, "kube-proxy's metrics port"],
    [ports.kubelet, ports.kubelet, "the kubelet's API"],
    [10256, 10256, "kube-proxy's health port"],
    [10257, 10257, "kube-controller-manager's port"],
    [10259, 10259, "kube-scheduler's port"],
    [30000, 32767, "Kubernetes' NodePort range (kube-proxy forwards these ports on every node)"],
];

/**
 * Largest system disk (GiB) each cloud creates with the disk kind the program uses: Aliyun's ESSD system disks are
 * 20 to 2048 GiB; AWS gp3 volumes are 1 to 16384 GiB (system and data alike).
 */
export const diskLimits: Record<Cloud, { system: number; data: number; kind: string }> = {
    aliyun: { system: 2048, data: 32768, kind: "Aliyun cloud_essd" },
    aws: { system: 16384, data: 16384, kind: "AWS gp3" },
};

/**
 * Instance families of another architecture than the amd64 Ubuntu image and the amd64 binaries the hosts get:
 * AWS Graviton (a1, and a `g` after the generation: m7g, c6gn, t4g, x2gd, im4gn), Aliyun Arm (Yitian `y`:
 * g8y, c8y; Ampere `r`: g6r, c6r).
 */
const armFamilies: Record<Cloud, RegExp> = {
    aws: /^(a1|[a-z]+\d+[a-z-]*g[a-z]*)\./,
    aliyun: /^ecs\.[a-z]+\d+[ry]\./,
};

export function isArmInstanceType(cloud: Cloud, type: string): boolean {
    return armFamilies[cloud].test(type);
}

/**
 * Instance types below kubeadm's preflight minimum for a control-plane node (2 CPUs, 1700 MB), from their names
 * alone: AWS nano and micro sizes (0.5 and 1 GiB), t2.small (1 vCPU); Aliyun small and nano sizes (1 vCPU) and
 * burstable `cXmY` types whose memory (vCPUs x Y / X GiB) is below 1700 MB. Anything else is left to the cloud.
 */
export function belowControlPlaneMinimum(cloud: Cloud, type: string): string | undefined {
    const [family, size] = cloud === "aws" ? type.split(".") : type.split(".").slice(1);
    if (cloud === "aws") {
        if (size === "nano" || size === "micro") return `${type} has at most 1 GiB of memory`;
        if (family === "t2" && size === "small") return `${type} has 1 vCPU`;
        return undefined;
    }
    if (size === "small" || size === "nano" || size === "micro") return `${type} has 1 vCPU`;
    const ratio = /-c(\d+)m(\d+)$/.exec(family);
    const vcpus = size === "large" ? 2 : size === "xlarge" ? 4 : undefined;
    if (ratio && vcpus !== undefined) {
        const gib = (vcpus * Number(ratio[2])) / Number(ratio[1]);
        if (gib * 1024 < 1700) return `${type} has ${gib} GiB of memory`;
    }
    return undefined;
}

/** Region names: Aliyun's like cn-hangzhou or ap-southeast-1, AWS's like eu-central-1 or us-gov-west-1. */
export const regionPatterns: Record<Cloud, { pattern: RegExp; example: string }> = {
    aliyun: { pattern: /^[a-z]{2}(-[a-z0-9]+)+$/, example: "cn-hangzhou or ap-southeast-1" },
    aws: { pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/, example: "eu-central-1 or us-gov-west-1" },
};
