// The lab's router: a network namespace `kubeha-lab-<lab>` holding the bridge `labbr0` that every machine of the
// lab is plugged into (systemd-nspawn --network-bridge, run inside this namespace). The router answers on the VPC's
// gateway address and on the lab's service addresses (mirrors, registry, DNS, metadata stand-in). Nothing is ever
// changed in this machine's own network namespace: no interface, no address, no sysctl.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { mustRun, runCommand } from "./command";
import { labBridge, labNetns } from "./paths";

export interface LabNetworkSpec {
    readonly lab: string;
    /**
     * The router's addresses on the bridge, CIDR notation: the gateway in the VPC (e.g. 192.168.0.1/16) and the
     * service addresses (e.g. 192.0.2.10/24, 100.100.100.200/32).
     */
    readonly addresses: readonly string[];
    /** Routes packets between the lab's links (net.ipv4.ip_forward in the router's namespace only). Default off. */
    readonly forwarding?: boolean;
}

/** The namespace file nsenter --net takes (`ip netns add` creates it). */
export function labNetnsPath(lab: string): string {
    return join("/run/netns", labNetns(lab));
}

export function labNetworkExists(lab: string): boolean {
    return existsSync(labNetnsPath(lab));
}

/** argv prefix that runs a command in the router's namespace. nsenter, not `ip netns exec`, which remounts /sys. */
export function inRouter(lab: string, argv: readonly string[]): string[] {
    return ["nsenter", `--net=${labNetnsPath(lab)}`, "--", ...argv];
}

/** Creates the router (or completes one left half-made): namespace, loopback, bridge, addresses. Idempotent. */
export function createLabNetwork(spec: LabNetworkSpec): void {
    const netns = labNetns(spec.lab);
    if (!labNetworkExists(spec.lab)) mustRun(["ip", "netns", "add", netns]);
    const ip = (...args: string[]) => mustRun(["ip", "-n", netns, ...args]);
    ip("link", "set", "lo", "up");
    if (runCommand(["ip", "-n", netns, "link", "show", labBridge]).status !== 0) {
        ip("link", "add", labBridge, "type", "bridge");
    }
    ip("link", "set", labBridge, "up");
    for (const address of spec.addresses) ip("address", "replace", address, "dev", labBridge);
    const forwarding = spec.forwarding ? "1" : "0";
    // /proc/sys/net belongs to the namespace of the process that opens it: this writes the router's setting only.
    if (routerSysctl(spec.lab, "net/ipv4/ip_forward") !== forwarding) {
        mustRun(inRouter(spec.lab, ["sh", "-c", `echo ${forwarding} >/proc/sys/net/ipv4/ip_forward`]));
    }
}

/** A route in the router's namespace: a public address the cloud maps 1:1 onto an instance's private one. */
export function routeInLabNetwork(lab: string, destination: string, via: string): void {
    mustRun(["ip", "-n", labNetns(lab), "route", "replace", destination, "via", via]);
}

/** A sysctl as the router's namespace sees it (key as a /proc/sys path, e.g. net/ipv4/ip_forward). */
export function routerSysctl(lab: string, key: string): string {
    return mustRun(inRouter(lab, ["cat", join("/proc/sys", key)])).trim();
}

/** Process ids still inside the router's namespace (machines, mirrors, forwarders). */
export function processesInLabNetwork(lab: string): number[] {
    if (!labNetworkExists(lab)) return [];
    const out = runCommand(["ip", "netns", "pids", labNetns(lab)]).stdout;
    return out
        .split("\n")
        .filter(Boolean)
        .map(Number)
        .filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "));
}

/**
 * Removes the router. Refused while processes still run in it (stop the machines and services first): deleting the
 * name would leave the namespace, its bridge and addresses alive and unnamed. Removing an absent router is a no-op.
 */
export function destroyLabNetwork(lab: string): void {
    if (!labNetworkExists(lab)) return;
    const left = processesInLabNetwork(lab);
    if (left.length > 0) {
        throw new Error(`lab ${lab}: processes still run in ${labNetns(lab)} (${left.join(", ")}); stop them first`);
    }
    mustRun(["ip", "netns", "delete", labNetns(lab)]);
}
