// The address plan: which zone and which fixed private address every host gets.
// Fixed addresses let the PKI and every host file be computed before any instance exists.
import { addressAt, Cidr, formatCidr, parseCidr, subnet } from "./cidr";
import type { Cloud, Target } from "./schema";

export type HostRole = "master" | "worker" | "etcd" | "bastion";

/** The jump host's name (one per stack). */
export const bastionName = "bastion";

/** A host as the address plan sees it: plain data, the same on every cloud. */
export interface PlannedHost {
    /** Resource and host name: master-1, worker-3, etcd-2, bastion. */
    readonly name: string;
    readonly role: HostRole;
    readonly zoneIndex: number;
    readonly privateIp: string;
    /** Runs an etcd member (masters unless etcd is dedicated, and dedicated etcd hosts). */
    readonly etcdMember: boolean;
}

export interface LayoutInput {
    /** Which addresses of a subnet the cloud keeps for itself (reservedAddresses). */
    readonly cloud: Cloud;
    readonly vpcCidr: string;
    readonly zoneCount: number;
    readonly masters: number;
    readonly workers: number;
    /** Dedicated etcd hosts; 0 when etcd runs on the masters. */
    readonly dedicatedEtcd: number;
}

/** The VPC is cut into 16 equal blocks: private subnet of zone i = block i, public = block 8 + i. */
const blocksPerVpc = 16;
export const maxZones = blocksPerVpc / 2;

/**
 * Addresses every subnet keeps for the cloud: Aliyun the first and the last three of a vSwitch, AWS the first four
 * and the last one of a subnet. No planned address may be one of them.
 */
export const reservedAddresses: Record<Cloud, { readonly first: number; readonly last: number }> = {
    aliyun: { first: 1, last: 3 },
    aws: { first: 4, last: 1 },
};

// Offsets inside a zone's subnets, all past every cloud's reserved first addresses; each role has its own range
// so scaling one never moves another. The public subnet holds the bastion (zone 0) and the NAT gateways.
const firstOffset = { bastion: 4, natGateway: 5, master: 10, etcd: 20, worker: 32 } as const;
const perZoneCapacity = { master: firstOffset.etcd - firstOffset.master, etcd: firstOffset.worker - firstOffset.etcd };

export function zoneSubnets(vpcCidr: string, zoneIndex: number): { private: string; public: string } {
    const { private: priv, public: pub } = zoneBlocks(parseCidr(vpcCidr), zoneIndex);
    return { private: formatCidr(priv), public: formatCidr(pub) };
}

function zoneBlocks(vpc: Cidr, zoneIndex: number): { private: Cidr; public: Cidr } {
    const prefix = vpc.prefix + Math.log2(blocksPerVpc);
    return { private: subnet(vpc, prefix, zoneIndex), public: subnet(vpc, prefix, maxZones + zoneIndex) };
}

/** Problems that make the layout impossible (too many zones, subnets too small), for config validation. */
export function layoutProblems(input: LayoutInput): string[] {
    const vpc = parseCidr(input.vpcCidr);
    const problems: string[] = [];
    if (input.zoneCount > maxZones) {
        problems.push(`zones: at most ${maxZones} zones are supported, got ${input.zoneCount}`);
        return problems;
    }
    const zonePrefix = vpc.prefix + Math.log2(blocksPerVpc);
    if (zonePrefix > 28) {
        problems.push(`network.vpcCidr: /${vpc.prefix} is too small; use /24 or larger (each zone gets 1/16 of it)`);
        return problems;
    }
    const perZone = (count: number) => Math.ceil(count / input.zoneCount);
    const subnetSize = 2 ** (32 - zonePrefix);
    const needed = firstOffset.worker + perZone(input.workers) + reservedAddresses[input.cloud].last;
    if (perZone(input.masters) > perZoneCapacity.master || perZone(input.dedicatedEtcd) > perZoneCapacity.etcd) {
        problems.push(`zones: too many masters or etcd hosts per zone; spread them over more zones`);
    }
    if (needed > subnetSize) {
        const minPrefix = 32 - Math.ceil(Math.log2(needed)) - Math.log2(blocksPerVpc);
        problems.push(
            `network.vpcCidr: /${vpc.prefix} gives zone subnets of ${subnetSize} addresses, ` +
                `but ${perZone(input.workers)} workers per zone need ${needed}; use a /${minPrefix} VPC or larger`,
        );
    }
    return problems;
}

/** A machine of kubeha:machines as the address plan reads it. */
export interface LayoutMachine {
    readonly name: string;
    readonly role: Exclude<HostRole, "bastion">;
    readonly address: string;
    readonly zone?: string;
}

/** The shape of the stack config the address plan reads. */
export interface LayoutConfig {
    readonly cloud: Target;
    /** cloud machines: the hosts, as listed. */
    readonly machines?: readonly LayoutMachine[];
    /** cloud machines: the jump host's address, if any. */
    readonly bastion?: { readonly address?: string };
    readonly network: { readonly vpcCidr: string };
    readonly masters: { readonly count: number };
    readonly workers: { readonly count: number };
    readonly etcd: { readonly dedicated: boolean; readonly count: number };
}

/** The address plan of a stack's hosts over `zoneCount` zones. */
export function clusterLayout(config: LayoutConfig, zoneCount: number): PlannedHost[] {
    if (config.cloud === "machines") return machineHosts(config);
    return planHosts(layoutInput({ ...config, cloud: config.cloud }, zoneCount));
}

/**
 * The zones of cloud machines: each distinct zone label in the order the list first names it, or one zone when no
 * machine has a label (machines without a label then share the first zone).
 */
export function machineZones(config: Pick<LayoutConfig, "machines">): string[] {
    const labels = [...new Set((config.machines ?? []).flatMap((item) => (item.zone ? [item.zone] : [])))];
    return labels.length > 0 ? labels : ["default"];
}

/**
 * The hosts of cloud machines, from the list: names, roles, zones and addresses as given; in layout order (the
 * bastion, if any, then masters, dedicated etcd hosts, workers, each in list order).
 */
export function machineHosts(config: LayoutConfig): PlannedHost[] {
    const machines = config.machines ?? [];
    const zones = machineZones(config);
    const dedicatedEtcd = machines.some((item) => item.role === "etcd");
    const ofRole = (role: Exclude<HostRole, "bastion">): PlannedHost[] =>
        machines
            .filter((item) => item.role === role)
            .map((item) => ({
                name: item.name,
                role,
                zoneIndex: item.zone ? zones.indexOf(item.zone) : 0,
                privateIp: item.address,
                etcdMember: role === "etcd" || (role === "master" && !dedicatedEtcd),
            }));
    const bastionAddress = config.bastion?.address;
    return [
        ...(bastionAddress
            ? [
                  {
                      name: bastionName,
                      role: "bastion" as const,
                      zoneIndex: 0,
                      privateIp: bastionAddress,
                      etcdMember: false,
                  },
              ]
            : []),
        ...ofRole("master"),
        ...ofRole("etcd"),
        ...ofRole("worker"),
    ];
}

export function layoutInput(config: LayoutConfig & { readonly cloud: Cloud }, zoneCount: number): LayoutInput {
    return {
        cloud: config.cloud,
        vpcCidr: config.network.vpcCidr,
        zoneCount,
        masters: config.masters.count,
        workers: config.workers.count,
        dedicatedEtcd: config.etcd.dedicated ? config.etcd.count : 0,
    };
}

/** Every host with its zone and fixed private address. Masters, workers and etcd hosts go round-robin over zones. */
export function planHosts(input: LayoutInput): PlannedHost[] {
    const problems = layoutProblems(input);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const vpc = parseCidr(input.vpcCidr);
    const spread = (role: Exclude<HostRole, "bastion">, count: number, etcdMember: boolean): PlannedHost[] =>
        Array.from({ length: count }, (_, i) => {
            const zoneIndex = i % input.zoneCount;
            const offset = firstOffset[role] + Math.floor(i / input.zoneCount);
            return {
                name: `${role}-${i + 1}`,
                role,
                zoneIndex,
                privateIp: addressAt(zoneBlocks(vpc, zoneIndex).private, offset),
                etcdMember,
            };
        });
    const bastion: PlannedHost = {
        name: bastionName,
        role: "bastion",
        zoneIndex: 0,
        privateIp: addressAt(zoneBlocks(vpc, 0).public, firstOffset.bastion),
        etcdMember: false,
    };
    return [
        bastion,
        ...spread("master", input.masters, input.dedicatedEtcd === 0),
        ...spread("etcd", input.dedicatedEtcd, true),
        ...spread("worker", input.workers, false),
    ];
}

/**
 * The NAT gateway's fixed private address in a zone's public subnet. Fixed before it exists, it can never take the
 * bastion's planned address there, whichever is created first.
 */
export function natGatewayAddress(vpcCidr: string, zoneIndex: number): string {
    return addressAt(zoneBlocks(parseCidr(vpcCidr), zoneIndex).public, firstOffset.natGateway);
}

/**
 * The part of a zone's public subnet that holds its planned addresses (the bastion's, the NAT gateway's), reserved on
 * AWS so that the cloud gives none of it to anything it addresses itself (the API load balancer): whatever is created
 * first, nothing takes a planned address.
 */
export function plannedPublicRange(vpcCidr: string, zoneIndex: number): string {
    const block = zoneBlocks(parseCidr(vpcCidr), zoneIndex).public;
    // offsets 4-7: the bastion's (4) and the NAT gateway's (5), aligned as a CIDR must be.
    return formatCidr({ base: block.base + firstOffset.bastion, prefix: 30 });
}

/** A host's name in the private DNS zone: master-1.k8s.internal. */
export function hostFqdn(hostName: string, privateDomain: string): string {
    return `${hostName}.${privateDomain}`;
}

/** The controlPlaneEndpoint name; /etc/hosts maps it to 127.0.0.1 (the local API proxy) on every node. */
export function apiProxyName(privateDomain: string): string {
    return `apiserver.${privateDomain}`;
}
