// What only the cloud can say about a stack config, asked before any resource exists: that each instance type is
// offered in the region, runs the amd64 image and, on masters, meets kubeadm's preflight minimum; and that zones
// listed by hand are the region's and offer what the program creates there. A problem fails `pulumi up` (and
// the plan, whose mocks answer as the clouds do) with every problem listed by key, like a config problem.
import * as alicloud from "@pulumi/alicloud";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/resolve";
import { offeringZones } from "./aliyun-infra";

type Group = "masters" | "workers" | "etcd" | "bastion";

/** kubeadm's preflight for a control-plane node: NumCPU >= 2, Mem >= 1700 MB. */
const minimumCpus = 2;
const minimumMemoryMb = 1700;

interface TypeFacts {
    readonly cpus: number;
    readonly memoryMb: number;
    readonly x86: boolean;
}

/** Every cloud-side problem of the config, by key. */
export async function cloudProblems(config: ClusterConfig, listedZones: readonly string[]): Promise<string[]> {
    const groups: Group[] = ["masters", "workers", "bastion", ...(config.etcd.dedicated ? (["etcd"] as const) : [])];
    if (config.workers.count === 0) groups.splice(groups.indexOf("workers"), 1);
    const types = [...new Set(groups.map((group) => config[group].instanceType))];
    const facts = new Map<string, TypeFacts | undefined>();
    await Promise.all(types.map(async (type) => facts.set(type, await typeFacts(config, type))));
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
        const offered = config.cloud === "aliyun" ? await offeringZones(config) : await awsZones();
        listedZones.forEach((zone, i) => {
            if (offered.includes(zone)) return;
            problems.push(
                `kubeha:zones[${i}]: ${zone} ` +
                    (config.cloud === "aliyun"
                        ? `does not offer every instance type with ESSD disks, the NLB and the enhanced NAT gateway in ${config.region}`
                        : `is not an available zone of ${config.region}`) +
                    ` (zones that do: ${offered.join(", ") || "none"})`,
            );
        });
    }
    return problems;
}

/** Fails the update before any resource exists when the cloud refuses the config. */
export async function checkWithCloud(config: ClusterConfig, listedZones: readonly string[]): Promise<void> {
    const problems = await cloudProblems(config, listedZones);
    if (problems.length === 0) return;
    throw new pulumi.RunError(
        `The cloud refuses the stack configuration (${problems.length} problem(s)):\n` +
            problems.map((problem) => `  ${problem}`).join("\n"),
    );
}

async function typeFacts(config: ClusterConfig, type: string): Promise<TypeFacts | undefined> {
    if (config.cloud === "aws") {
        // The provider fails the lookup of a type the region does not offer.
        const found = await aws.ec2.getInstanceType({ instanceType: type }).catch(() => undefined);
        if (!found) return undefined;
        return {
            cpus: found.defaultVcpus,
            memoryMb: found.memorySize,
            x86: found.supportedArchitectures.includes("x86_64"),
        };
    }
    const found = await alicloud.ecs.getInstanceTypes({ instanceType: type });
    const match = found.instanceTypes.find((item) => item.id === type);
    if (!match) return undefined;
    return {
        cpus: match.cpuCoreCount,
        memoryMb: Math.round(match.memorySize * 1024),
        // Aliyun's Arm families (g8y, g6r, ...) are the only non-x86 ones it lists for ECS.
        x86: !/^ecs\.[a-z]+\d+[ry]\./.test(type),
    };
}

async function awsZones(): Promise<string[]> {
    const zones = await aws.getAvailabilityZones({ state: "available" });
    return zones.names;
}
