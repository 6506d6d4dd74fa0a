// IPv4 CIDR arithmetic for the address plan. Parsing and validation come from ipaddr.js;
// what it lacks (overlap, carving a block into equal subnets, the n-th address) is integer math here.
import * as ipaddr from "ipaddr.js";

export interface Cidr {
    /** Network address as an unsigned 32-bit integer. */
    readonly base: number;
    readonly prefix: number;
}

/** Why `text` is not a usable IPv4 CIDR in canonical form, or undefined if it is. */
export function cidrProblem(text: string): string | undefined {
    if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(text)) {
        return `"${text}" is not an IPv4 CIDR like 10.0.0.0/16`;
    }
    const [address, prefix] = ipaddr.IPv4.parseCIDR(text);
    const network = ipaddr.IPv4.networkAddressFromCIDR(text).toString();
    if (network !== address.toString()) {
        return `"${text}" has host bits set; the network is ${network}/${prefix}`;
    }
    return undefined;
}

export function parseCidr(text: string): Cidr {
    const problem = cidrProblem(text);
    if (problem) throw new Error(problem);
    const [address, prefix] = ipaddr.IPv4.parseCIDR(text);
    return { base: toInt(address.toString()), prefix };
}

export function formatCidr(cidr: Cidr): string {
    return `${toAddress(cidr.base)}/${cidr.prefix}`;
}

export function size(cidr: Cidr): number {
    return 2 ** (32 - cidr.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
    return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** Whether the IPv4 `address` lies in the CIDR `range`. */
export function containsAddress(range: string, address: string): boolean {
    return ipaddr.IPv4.parse(address).match(ipaddr.IPv4.parseCIDR(range));
}

/** The `index`-th of the equal subnets with `newPrefix` that `cidr` splits into. */
export function subnet(cidr: Cidr, newPrefix: number, index: number): Cidr {
    if (newPrefix < cidr.prefix || newPrefix > 32) {
        throw new Error(`cannot split ${formatCidr(cidr)} into /${newPrefix} subnets`);
    }
    const count = 2 ** (newPrefix - cidr.prefix);
    if (index < 0 || index >= count) {
        throw new Error(`${formatCidr(cidr)} has ${count} /${newPrefix} subnets, not ${index + 1}`);
    }
    return { base: cidr.base + index * 2 ** (32 - newPrefix), prefix: newPrefix };
}

/** The address at `offset` from the network address (offset 1 is the first host). */
export function addressAt(cidr: Cidr, offset: number): string {
    if (offset < 0 || offset >= size(cidr)) {
        throw new Error(`${formatCidr(cidr)} has no address at offset ${offset}`);
    }
    return toAddress(cidr.base + offset);
}

function toInt(address: string): number {
    return ipaddr.IPv4.parse(address)
        .toByteArray()
        .reduce((value, byte) => value * 256 + byte, 0);
}

function toAddress(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}
