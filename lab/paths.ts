// Where a lab lives and how it is addressed: one lab per stack, all of it inside a network namespace of its own.
// The cache (base image, mirror content) outlives labs like the toolchain's; the state of a running lab is removed
// by `lab down`.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { addressAt, parseCidr } from "../config/cidr";

/** Kept across labs: the Debian base image and the mirrors' built content. */
export const labCacheDir = resolve(process.env.KUBEHA_LAB_CACHE ?? join(homedir(), ".cache", "kubeha", "lab"));

/** Everything one running lab made: machines' overlays and data, mirror state, logs. Removed by `lab down`. */
export const labStateRoot = "/var/lib/kubeha-lab";

/** Lab names are stack names; they become namespace, machine and interface names, so they stay short and plain. */
export function checkLabName(lab: string): string {
    if (!/^[a-z][a-z0-9-]{0,15}$/.test(lab))
        throw new Error(`lab: stack name ${JSON.stringify(lab)} must be 1-16 lower-case letters, digits or '-'`);
    return lab;
}

export function labStateDir(lab: string): string {
    return join(labStateRoot, checkLabName(lab));
}

/** The lab's router: a network namespace holding the lab network's bridge, its mirrors and its load balancer. */
export function labNetns(lab: string): string {
    return `kubeha-lab-${checkLabName(lab)}`;
}

export const labBridge = "labbr0";

export function machineName(lab: string, host: string): string {
    return `kh-${checkLabName(lab)}-${host}`;
}

/**
 * Addresses the lab's services take on its network: a documentation range (RFC 5737) that no VPC, pod or service
 * range of a stack may hold, so the lab never shadows a planned address.
 */
export const labServices = {
    servicesCidr: "192.0.2.0/24",
    mirror: "192.0.2.10",
    registry: "192.0.2.11",
    dns: "192.0.2.53",
    /** The API load balancer's address where the cloud gives it a name only (AWS's NLB): the lab's DNS maps it here. */
    apiLoadBalancer: "192.0.2.20",
} as const;

/** Names the lab's mirrors answer to, resolved by the lab's DNS and in the machines' certificates. */
export const labNames = { mirror: "mirror.kubeha.lab", registry: "registry.kubeha.lab" } as const;

/**
 * The router's address inside the VPC, the machines' default gateway: the VPC's first address, which every cloud
 * keeps for itself (AWS's VPC router sits there), so no planned host has it.
 */
export function labGateway(vpcCidr: string): { address: string; prefix: number } {
    const vpc = parseCidr(vpcCidr);
    return { address: addressAt(vpc, 1), prefix: vpc.prefix };
}
