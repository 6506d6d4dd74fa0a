// What only the cloud can say about a stack config, asked before any resource exists: that each instance type is
// offered in the region, runs the amd64 image and, on masters, meets kubeadm's preflight minimum; and that zones
// listed by hand are the region's and offer what the program creates there. A problem fails `pulumi up` (and
// the plan, whose mocks answer as the clouds do) with every problem listed by key, like a config problem.
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/resolve";
import { Cloud, InstanceTypeFacts } from "./cloud";

type Group = "masters" | "workers" | "etcd" | "bastion";

/** kubeadm's preflight for a control-plane node: NumCPU >= 2, Mem >= 1700 MB. */
const minimumCpus = 2;
const minimumMemoryMb = 1700;

/** Every cloud-side problem of the config, by key. */
export async function cloudProblems(
    cloud: Cloud,
    config: ClusterConfig,
    listedZones: readonly string[],
): Promise<string[]> {
    const lookup = cloud.instanceType?.bind(cloud);
    const groups: Group[] = lookup
        ? ["masters", "workers", "bastion", ...(config.etcd.dedicated ? (["etcd"] as const) : [])]
        : [];
    if (config.workers.count === 0) groups.splice(groups.indexOf("workers"), 1);
    const types = [...new Set(groups.map((group) => config[group].instanceType))];
    const facts = new Map<string, InstanceTypeFacts | undefined>();
    await Promise.all(types.map(async (type) => facts.set(type, await lookup?.(config, type))));
    const problems: string[] = [];
    for (const group of groups) {
        const type = config[group].instanceType;
        const fact = facts.get(type);
        const key = `kubeha:${group}.instanceType`;
        if (!fact) {
            problems.push(`${key}: ${type} is not an instance type offered in ${config.region}`);
            continue;
        }
        if (!fact.x86) problems.push(`${key}: ${type} is not x86_64: the hosts get the amd64 Ubuntu image`);
        if (group === "masters" && (fact.cpus < minimumCpus || fact.memoryMb < minimumMemoryMb)) {
            problems.push(
                `${key}: ${type} has ${fact.cpus} vCPU(s) and ${fact.memoryMb} MB: kubeadm's preflight needs at ` +
                    `least ${minimumCpus} CPUs and ${minimumMemoryMb} MB on a control-plane node`,
            );
        }
    }
    if (listedZones.length > 0) {
        const offered = await cloud.offeringZones(config);
        listedZones.forEach((zone, i) => {
            if (offered.includes(zone)) return;
            problems.push(
                `kubeha:zones[${i}]: ${zone} ${cloud.zoneRefusal(config)} (zones that do: ${offered.join(", ") || "none"})`,
            );
        });
    }
    return problems;
}

/** Fails the update before any resource exists when the cloud refuses the config. */
export async function checkWithCloud(
    cloud: Cloud,
    config: ClusterConfig,
    listedZones: readonly string[],
): Promise<void> {
    const problems = await cloudProblems(cloud, config, listedZones);
    if (problems.length === 0) return;
    throw new pulumi.RunError(
        `The cloud refuses the stack configuration (${problems.length} problem(s)):\n` +
            problems.map((problem) => `  ${problem}`).join("\n"),
    );
}
