// The mock runtime shared by the tests and the offline plan: it answers every provider call the
// program makes with realistic, stable values, so two runs plan the same resources. The same answers
// serve the real engine through the stand-in provider plugins (test/engine/stand-in-provider.ts).
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { randomSecretOutputs, randomState } from "./random-double";
import { withSecretOutputs } from "./secret-outputs";
import { tlsSecretOutputs, tlsState } from "./tls-double";

type State = Record<string, unknown>;

export interface MockContext {
    /** The stack's region, used for zone names, DNS names and ARNs. */
    readonly region: string;
    /** Outputs of the stack's last deployment, as its reference to itself reads them; none for a new stack. */
    readonly deployedOutputs?: Record<string, unknown>;
}

/** Stable pseudo-random number in [0, modulo) from a resource name. */
export function stableNumber(seed: string, modulo: number): number {
    return createHash("sha256").update(seed).digest().readUInt32BE(0) % modulo;
}

/** A documentation-range public address (RFC 5737 TEST-NET-3), stable per resource name. */
function publicAddress(name: string): string {
    return `203.0.113.${1 + stableNumber(name, 254)}`;
}

/** Zone ids of an Aliyun region by suffix letter: cn-hangzhou-h, ... */
function aliyunZones(region: string, suffixes: string): string[] {
    return [...suffixes].map((suffix) => `${region}-${suffix}`);
}

/** Answers for provider functions (invokes), by token. */
const invokes: Record<string, (inputs: State, ctx: MockContext) => State> = {
    // Instances in five zones; the NLB not in -i, the enhanced NAT gateway not in -k (zone discovery skips both).
    "alicloud:index/getZones:getZones": (_inputs, { region }) => {
        const ids = aliyunZones(region, "hijkl");
        return { id: region, ids, zones: ids.map((id) => ({ id, localName: id, multiZoneIds: [] })) };
    },
    "alicloud:nlb/getZones:getZones": (_inputs, { region }) => {
        const ids = aliyunZones(region, "hjkl");
        return { id: region, ids, zones: ids.map((id) => ({ id, localName: id, zoneId: id })) };
    },
    "alicloud:vpc/getEnhancedNatAvailableZones:getEnhancedNatAvailableZones": (_inputs, { region }) => {
        const ids = aliyunZones(region, "hijl");
        return { id: region, ids, zones: ids.map((id) => ({ localName: id, zoneId: id })) };
    },
    "alicloud:ecs/getImages:getImages": () => {
        const id = "ubuntu_24_04_x64_20G_alibase_20251015.vhd";
        return { id: "images", ids: [id], images: [{ id, imageId: id, name: id, osName: "Ubuntu 24.04 64-bit" }] };
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": (_inputs, { region }) => {
        const names = ["a", "b", "c", "d"].map((suffix) => `${region}${suffix}`);
        return { id: region, region, names, zoneIds: names.map((_, i) => `use1-az${i + 1}`), groupNames: names };
    },
    // The region offers the types below (real figures); any other is refused as the provider refuses an unknown one.
    "aws:ec2/getInstanceType:getInstanceType": (inputs) => {
        const type = String(inputs.instanceType);
        const known = awsInstanceTypes[type];
        if (!known) throw new Error(`no EC2 Instance Type found matching criteria; try different search (${type})`);
        const [defaultVcpus, memorySize, architecture] = known;
        return { id: type, instanceType: type, defaultVcpus, memorySize, supportedArchitectures: [architecture] };
    },
    "alicloud:ecs/getInstanceTypes:getInstanceTypes": (inputs) => {
        const type = String(inputs.instanceType);
        const known = aliyunInstanceTypes[type];
        if (!known) return { id: "types", ids: [], instanceTypes: [] };
        const [cpuCoreCount, memorySize] = known;
        return { id: "types", ids: [type], instanceTypes: [{ id: type, cpuCoreCount, memorySize }] };
    },
    "aws:ec2/getAmi:getAmi": () => ({
        id: "ami-0f5c6d7e8a9b0c1d2",
        imageId: "ami-0f5c6d7e8a9b0c1d2",
        name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251015",
        ownerId: "099720109477",
        architecture: "x86_64",
    }),
};

/** AWS instance types the mock region offers: vCPUs, memory (MiB), architecture (AWS's published figures). */
const awsInstanceTypes: Record<string, [number, number, string]> = {
    "t3.micro": [2, 1024, "x86_64"],
    "t3.small": [2, 2048, "x86_64"],
    "t3.medium": [2, 4096, "x86_64"],
    "t3.large": [2, 8192, "x86_64"],
    "t3.xlarge": [4, 16384, "x86_64"],
    "m7i.large": [2, 8192, "x86_64"],
    "m7i.xlarge": [4, 16384, "x86_64"],
    "m7i-flex.large": [2, 8192, "x86_64"],
    "c7i.large": [2, 4096, "x86_64"],
    "m7g.large": [2, 8192, "arm64"],
    "t4g.medium": [2, 4096, "arm64"],
};

/** Aliyun instance types the mock region offers: vCPUs, memory (GiB) (Aliyun's published figures). */
const aliyunInstanceTypes: Record<string, [number, number]> = {
    "ecs.g7.large": [2, 8],
    "ecs.g7.xlarge": [4, 16],
    "ecs.c7.large": [2, 4],
    "ecs.c7.xlarge": [4, 8],
    "ecs.c7.2xlarge": [8, 16],
    "ecs.r7.large": [2, 16],
    "ecs.t6-c1m2.large": [2, 4],
    "ecs.t6-c4m1.large": [2, 0.5],
    "ecs.g8y.large": [2, 8],
};

/** Outputs the cloud computes (addresses, DNS names, ARNs), by resource type. */
const computedOutputs: Record<string, (name: string, inputs: State, ctx: MockContext) => State> = {
    "aws:ec2/instance:Instance": (name, inputs) => ({
        privateIp: inputs.privateIp,
        privateDns: `ip-${String(inputs.privateIp).replaceAll(".", "-")}.ec2.internal`,
        publicIp: inputs.associatePublicIpAddress ? publicAddress(name) : "",
    }),
    "aws:ec2/eip:Eip": (name) => ({ publicIp: publicAddress(name), allocationId: `eipalloc-${name}` }),
    "aws:lb/loadBalancer:LoadBalancer": (name, _inputs, { region }) => ({
        dnsName: `${name}-${stableNumber(name, 1e10)}.elb.${region}.amazonaws.com`,
        zoneId: "Z26RNL4JYFTOTI",
    }),
    // Pulumi auto-names the key pair: the resource name and a random suffix.
    "aws:ec2/keyPair:KeyPair": (name, inputs) => ({
        keyName: inputs.keyName ?? `${name}-${stableNumber(name, 0x10000000).toString(16)}`,
    }),
    "aws:route53/zone:Zone": (name) => ({
        zoneId: `Z${stableNumber(name, 1e12).toString(36).toUpperCase().padStart(20, "0")}`,
    }),
    "alicloud:ecs/instance:Instance": (name, inputs) => ({
        privateIp: inputs.privateIp,
        publicIp: Number(inputs.internetMaxBandwidthOut ?? 0) > 0 ? publicAddress(name) : "",
    }),
    "alicloud:ecs/eipAddress:EipAddress": (name) => ({ ipAddress: publicAddress(name) }),
    "alicloud:vpc/natGateway:NatGateway": (name) => ({
        snatTableIds: `stb-${stableNumber(name, 1e10).toString(36)}`,
        forwardTableIds: `ftb-${stableNumber(`${name}-forward`, 1e10).toString(36)}`,
    }),
    "pulumi:pulumi:StackReference": (_name, _inputs, { deployedOutputs }) => ({
        outputs: deployedOutputs ?? {},
        secretOutputNames: [],
    }),
    "alicloud:nlb/loadBalancer:LoadBalancer": (name, _inputs, { region }) => ({
        dnsName: `nlb-${stableNumber(name, 1e10).toString(36)}.${region}.nlb.aliyuncsslb.com`,
    }),
};

/** A new resource as a provider sees it. */
export type NewResource = Pick<pulumi.runtime.MockResourceArgs, "type" | "name" | "inputs" | "custom">;

/**
 * What the provider reports for a new resource: its id (none for a component) and its state, the inputs
 * with what the cloud computes. Secret outputs are not marked: the engine marks them as the SDK asks.
 */
export async function providerAnswer(
    args: NewResource,
    context: MockContext,
): Promise<{ id: string | undefined; state: State }> {
    if (args.type.startsWith("tls:")) return tlsState(args);
    if (args.type.startsWith("random:")) return randomState(args);
    const computed = computedOutputs[args.type]?.(args.name, args.inputs, context) ?? {};
    const id = args.custom === false ? undefined : `${args.name}-id`;
    return { id, state: { ...args.inputs, ...computed, ...(typeArn(args.type, args.name, context) ?? {}) } };
}

/** The answer of a provider function (invoke), by token. */
export function invokeAnswer(token: string, inputs: State, context: MockContext): State {
    const answer = invokes[token];
    if (!answer) throw new Error(`the mock runtime has no answer for ${token}: add a realistic one to plan/mocks.ts`);
    return answer(inputs, context);
}

const secretOutputs: Record<string, readonly string[]> = { ...tlsSecretOutputs, ...randomSecretOutputs };

export class KubehaMocks implements pulumi.runtime.Mocks {
    constructor(private readonly context: MockContext) {}

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const { id, state } = await providerAnswer(args, this.context);
        return { id, state: withSecretOutputs(state, secretOutputs[args.type] ?? []) };
    }

    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        return invokeAnswer(args.token, args.inputs, this.context);
    }
}

function typeArn(type: string, name: string, { region }: MockContext): State | undefined {
    if (!type.startsWith("aws:")) return undefined;
    const [, service, kind] = /^aws:([^/]+)\/([^:]+):/.exec(type) ?? [];
    return { arn: `arn:aws:${service}:${region}:123456789012:${kind.toLowerCase()}/${name}` };
}
