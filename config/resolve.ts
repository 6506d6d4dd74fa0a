// Turns the raw stack configuration (strings, as Pulumi hands them over) into one typed,
// validated ClusterConfig, or into the complete list of problems. Pure: no Pulumi here.
import { z } from "zod";
import { MirrorPreset, Mirrors, resolveMirrors } from "./mirrors";
import { Cloud, configSchema, ParsedConfig } from "./schema";

export const configNamespace = "kubeha";

/** The Pulumi config key holding each cloud's region. */
export const regionKeys: Record<Cloud, string> = { aliyun: "alicloud:region", aws: "aws:region" };

type HostGroupName = "masters" | "workers" | "etcd" | "bastion";

/** Seed 002 sizes (2 vCPU / 4 GiB control plane, micro bastion) in current instance generations. */
export const defaultInstanceTypes: Record<Cloud, Record<HostGroupName, string>> = {
    aliyun: { masters: "ecs.g7.large", workers: "ecs.g7.large", etcd: "ecs.g7.large", bastion: "ecs.t6-c1m2.large" },
    aws: { masters: "t3.medium", workers: "t3.medium", etcd: "t3.medium", bastion: "t3.micro" },
};

const defaultMirrorPreset: Record<Cloud, MirrorPreset> = { aliyun: "china", aws: "global" };

type WithInstanceType<T> = Omit<T, "instanceType"> & { readonly instanceType: string };

/** The validated stack configuration with every default filled in. */
export interface ClusterConfig extends Omit<ParsedConfig, "masters" | "workers" | "etcd" | "bastion" | "mirrors"> {
    readonly region: string;
    readonly masters: WithInstanceType<ParsedConfig["masters"]>;
    readonly workers: WithInstanceType<ParsedConfig["workers"]>;
    readonly etcd: WithInstanceType<ParsedConfig["etcd"]>;
    readonly bastion: WithInstanceType<ParsedConfig["bastion"]>;
    readonly mirrorPreset: MirrorPreset;
    readonly mirrors: Mirrors;
}

export interface RawConfig {
    /** Every `kubeha:*` key that is set, without the namespace, with its value as Pulumi passes it (a string). */
    readonly values: Readonly<Record<string, string>>;
    /** The value of `alicloud:region` and `aws:region`, if set. */
    readonly regions: Readonly<Partial<Record<Cloud, string>>>;
}

export type ResolveResult =
    | { readonly ok: true; readonly config: ClusterConfig; readonly warnings: string[] }
    | { readonly ok: false; readonly problems: string[] };

export function resolveConfig(raw: RawConfig): ResolveResult {
    const problems: string[] = [];
    const input: Record<string, unknown> = {};
    for (const [key, text] of Object.entries(raw.values)) {
        if (isTextKey(key)) {
            input[key] = text;
            continue;
        }
        try {
            input[key] = JSON.parse(text);
        } catch {
            problems.push(
                `${configNamespace}:${key}: ${JSON.stringify(text)} is not a valid value (expected a number, list or object)`,
            );
        }
    }
    const parsed = configSchema.safeParse(input, { reportInput: true });
    if (!parsed.success) problems.push(...parsed.error.issues.map(describeIssue));
    const cloud = parsed.success ? parsed.data.cloud : (input.cloud as Cloud | undefined);
    const region = cloud && regionKeys[cloud] ? raw.regions[cloud] : undefined;
    if (cloud && regionKeys[cloud] && !region) {
        problems.push(
            `${regionKeys[cloud]}: required for ${configNamespace}:cloud ${cloud} (pulumi config set ${regionKeys[cloud]} <region>)`,
        );
    }
    if (!parsed.success || problems.length > 0) return { ok: false, problems };

    const config = withDefaults(parsed.data, region as string);
    return { ok: true, config, warnings: warningsFor(config) };
}

function withDefaults(parsed: ParsedConfig, region: string): ClusterConfig {
    const types = defaultInstanceTypes[parsed.cloud];
    const mirrorPreset = parsed.mirrors.preset ?? defaultMirrorPreset[parsed.cloud];
    return {
        ...parsed,
        region,
        masters: { ...parsed.masters, instanceType: parsed.masters.instanceType ?? types.masters },
        workers: { ...parsed.workers, instanceType: parsed.workers.instanceType ?? types.workers },
        etcd: { ...parsed.etcd, instanceType: parsed.etcd.instanceType ?? types.etcd },
        bastion: { ...parsed.bastion, instanceType: parsed.bastion.instanceType ?? types.bastion },
        mirrorPreset,
        mirrors: resolveMirrors(mirrorPreset, parsed.mirrors),
        // One firewall rule per distinct range: a range listed twice would be a duplicate rule.
        allowedCidrs: {
            ssh: [...new Set(parsed.allowedCidrs.ssh)],
            api: [...new Set(parsed.allowedCidrs.api)],
            nodePorts: [...new Set(parsed.allowedCidrs.nodePorts)],
        },
    };
}

/** Things that work but that an operator should know about. */
function warningsFor(config: ClusterConfig): string[] {
    const key = (path: string) => `${configNamespace}:${path}`;
    const warnings: string[] = [];
    if (config.masters.count === 1) {
        warnings.push(
            `${key("masters.count")} is 1: the control plane has no redundancy; this cluster is not highly available`,
        );
    }
    if (config.etcd.dedicated ? config.etcd.count === 1 : config.masters.count === 1) {
        warnings.push(`etcd has a single member: losing its host loses the cluster state`);
    }
    if (config.zones && config.zones.length < 3 && config.masters.count >= 3) {
        warnings.push(
            `${key("zones")} lists ${config.zones.length} zone(s): masters cannot be spread over 3 zones, ` +
                `so losing one zone can lose the etcd majority`,
        );
    }
    if (config.workers.count === 0) {
        warnings.push(
            `${key("workers.count")} is 0: ordinary pods have nowhere to run (masters keep their NoSchedule taint)`,
        );
    }
    if (config.mirrorPreset === "china") {
        const foreign = (["flannelImages", "dashboardImages", "headlampImages"] as const).filter((item) =>
            /^(ghcr\.io|docker\.io)\//.test(config.mirrors[item]),
        );
        if (foreign.length > 0) {
            warnings.push(
                `${key("mirrors")}: ${foreign.join(", ")} still point to ghcr.io or docker.io, which are slow or ` +
                    `blocked from mainland China; set them to a registry your hosts reach`,
            );
        }
    }
    if (
        config.cloudIntegration &&
        config.mirrorPreset === "china" &&
        config.cloud === "aws" &&
        !config.mirrors.cloudImages
    ) {
        warnings.push(
            `${key("mirrors.cloudImages")} is unset: the AWS cloud controller and EBS CSI images come from ` +
                `registry.k8s.io and public.ecr.aws, which are slow or blocked from mainland China`,
        );
    }
    if (config.kubeProxyMode === "ipvs") {
        warnings.push(
            `${key("kubeProxyMode")} ipvs is deprecated since Kubernetes 1.35; nftables is the recommended mode`,
        );
    }
    for (const [list, what] of [
        ["ssh", "SSH to the bastion"],
        ["api", "the Kubernetes API load balancer"],
    ] as const) {
        if (config.allowedCidrs[list].includes("0.0.0.0/0")) {
            warnings.push(`${key(`allowedCidrs.${list}`)} includes 0.0.0.0/0: ${what} is open to the whole internet`);
        }
    }
    return warnings;
}

/** Top-level keys whose value is plain text (Pulumi passes everything else as JSON). */
function isTextKey(key: string): boolean {
    const schema = (configSchema.shape as Record<string, z.ZodType>)[key];
    if (!schema) return false;
    const result = schema.safeParse("?");
    return result.success || !result.error.issues.some((issue) => issue.code === "invalid_type");
}

/** `masters.count`, `allowedCidrs.ssh[0]`: the key path as the user writes it. */
function keyPath(path: readonly PropertyKey[]): string {
    return path
        .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i > 0 ? "." : ""}${String(part)}`))
        .join("");
}

function describeIssue(issue: z.core.$ZodIssue): string {
    const where = `${configNamespace}:${keyPath(issue.path)}`;
    if (issue.input === undefined && issue.code !== "unrecognized_keys" && issue.code !== "custom") {
        return issue.path.length === 1 && issue.path[0] === "cloud"
            ? `${where}: required; set it with pulumi config set ${configNamespace}:cloud aliyun|aws`
            : `${where}: required`;
    }
    switch (issue.code) {
        case "unrecognized_keys":
            return issue.keys
                .map((key) => {
                    const allowed = allowedKeysAt(issue.path);
                    return `${configNamespace}:${keyPath([...issue.path, key])}: unknown key; allowed here: ${allowed.join(", ")}`;
                })
                .join("\n");
        case "invalid_type":
            if (!["number", "string", "boolean", "array", "object"].includes(issue.expected)) break;
            return `${where}: must be ${article(issue.expected)} (got ${JSON.stringify(issue.input)})`;
        case "invalid_format":
            // A pattern's own message says what is allowed.
            if (issue.format === "regex") break;
            return `${where}: must be a ${issue.format === "url" ? "URL like https://mirror.example/ubuntu" : issue.format}`;
    }
    return `${where}: ${issue.message}`;
}

function article(expected: string): string {
    return expected === "array" ? "a list" : expected === "object" ? "an object (a YAML mapping)" : `a ${expected}`;
}

/** Keys the schema accepts at an object path (for "unknown key" messages). */
function allowedKeysAt(path: PropertyKey[]): string[] {
    let schema: z.ZodType = configSchema;
    for (const key of path) {
        const shape = objectShape(schema);
        if (!shape) return [];
        schema = shape[key as string];
    }
    return Object.keys(objectShape(schema) ?? {});
}

function objectShape(schema: z.ZodType | undefined): Record<string, z.ZodType> | undefined {
    let current = schema as z.ZodType & { def?: { innerType?: z.ZodType; shape?: Record<string, z.ZodType> } };
    while (current?.def?.innerType) current = current.def.innerType as typeof current;
    return current?.def?.shape;
}
