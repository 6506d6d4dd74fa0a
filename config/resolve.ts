// Turns the raw stack configuration (strings, as Pulumi hands them over) into one typed,
// validated ClusterConfig, or into the complete list of problems. Pure: no Pulumi here.
import { z } from "zod";
import { AddonImageKey, addonImage, cloudImage, MirrorPreset, Mirrors, resolveMirrors } from "./mirrors";
import { regionPatterns } from "./limits";
import { machineZones } from "./layout";
import { Cloud, clouds, configSchema, ParsedConfig, targets } from "./schema";
import { cloudIntegrationImages } from "./versions";

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
export interface ClusterConfig extends Omit<
    ParsedConfig,
    "network" | "masters" | "workers" | "etcd" | "bastion" | "mirrors"
> {
    readonly region: string;
    readonly network: Required<ParsedConfig["network"]>;
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
    /** Every other key set in the stack, with its namespace (`aws:region`, `kube-ha:timezone`). */
    readonly otherKeys?: readonly string[];
    /** Keys whose values Pulumi holds in plain text (not set with --secret). */
    readonly plainKeys?: readonly string[];
}

/** Provider keys that hold credentials: set in a stack, they belong encrypted (`pulumi config set --secret`). */
export const credentialKeys = [
    "kubeha:sshPrivateKey",
    "alicloud:accessKey",
    "alicloud:secretKey",
    "alicloud:securityToken",
    "aws:accessKey",
    "aws:secretKey",
    "aws:token",
];

/** Namespaces whose keys mean something to this program or the providers it uses. */
export const knownNamespaces = [configNamespace, "alicloud", "aws", "command", "kubernetes", "pulumi", "random", "tls"];

export type ResolveResult =
    | { readonly ok: true; readonly config: ClusterConfig; readonly warnings: string[] }
    | { readonly ok: false; readonly problems: string[] };

export function resolveConfig(raw: RawConfig): ResolveResult {
    const problems: string[] = [];
    const input: Record<string, unknown> = {};
    for (const [key, text] of Object.entries(raw.values)) {
        // Pulumi passes lists, objects, numbers and booleans as JSON; what is not JSON is a string, which the
        // schema then judges: a wrong type for a known key, "unknown key" for a misspelled one.
        input[key] = isTextKey(key) ? text : parseJson(text);
    }
    const target = targets.find((name) => name === input.cloud);
    const cloud = clouds.find((name) => name === input.cloud);
    const region = cloud ? raw.regions[cloud] : undefined;
    const regionProblem = cloud && region !== undefined && !regionPatterns[cloud].pattern.test(region);
    // A malformed region is its own problem; zones are then not compared with it.
    const checked =
        region && !regionProblem ? configSchema.superRefine(zonesOf(region), { when: noZoneIssues }) : configSchema;
    const parsed = checked.safeParse(input, { reportInput: true, error: genericMessage });
    // One line per problem (an unknown-keys issue may name several keys), so that the count is right.
    if (!parsed.success) problems.push(...parsed.error.issues.flatMap((issue) => describeIssue(issue).split("\n")));
    if (cloud && !region) {
        problems.push(
            `${regionKeys[cloud]}: required for ${configNamespace}:cloud ${cloud} (pulumi config set ${regionKeys[cloud]} <region>)`,
        );
    }
    if (cloud && regionProblem) {
        problems.push(
            `${regionKeys[cloud]}: ${JSON.stringify(region)} is not a region name; use one like ` +
                `${regionPatterns[cloud].example} (lower-case letters, digits and dashes)`,
        );
    }
    if (target === "machines") problems.push(...machinesKeyProblems(input, raw.regions));
    if (!parsed.success || problems.length > 0) return { ok: false, problems };

    const config = withDefaults(parsed.data, target === "machines" ? "" : (region as string));
    return {
        ok: true,
        config,
        warnings: [
            ...warningsFor(config),
            ...unusedKeyWarnings(raw.otherKeys ?? []),
            ...plainCredentialWarnings(raw.plainKeys ?? []),
            ...(config.backup.s3 !== undefined && (raw.plainKeys ?? []).includes(`${configNamespace}:backup`)
                ? [
                      `${configNamespace}:backup.s3 holds the bucket's key pair in plain text in the stack: set both ` +
                          `with pulumi config set --path --secret ${configNamespace}:backup.s3.secretAccessKey <secret> ` +
                          `(and ${configNamespace}:backup.s3.accessKeyId)`,
                  ]
                : []),
        ],
    };
}

/** Credentials a stack holds in plain text: readable by anyone who reads the stack file or its history. */
function plainCredentialWarnings(plainKeys: readonly string[]): string[] {
    return credentialKeys
        .filter((key) => plainKeys.includes(key))
        .map((key) =>
            key === `${configNamespace}:sshPrivateKey`
                ? `${key} is stored in plain text in the stack: set it with pulumi config set --secret ${key} -- ` +
                  '"$(cat <key file>)"'
                : `${key} is stored in plain text in the stack: set it with pulumi config set --secret ${key}, or ` +
                  "leave it out and use the provider's environment variables or profile",
        );
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/**
 * Zones must be the stack region's: `<region>` followed by the zone's letter (eu-central-1a, cn-hangzhou-h,
 * ap-southeast-1a) or, for AWS local zones, by `-<zone>` (us-west-2-lax-1a).
 */
function zonesOf(region: string) {
    return (config: ParsedConfig, ctx: z.RefinementCtx<ParsedConfig>) => {
        (config.zones ?? []).forEach((zone, i) => {
            if (zone.startsWith(region) && /^(-?[a-z]|-[a-z0-9-]*[a-z])$/.test(zone.slice(region.length))) return;
            ctx.addIssue({
                code: "custom",
                path: ["zones", i],
                message: `${zone} is not a zone of the stack's region ${region} (${regionKeys[config.cloud as Cloud]})`,
            });
        });
    };
}

/** Zones are compared with the region unless a zone is malformed: a repeated zone does not hide a foreign one. */
function noZoneIssues(payload: { issues: readonly { path?: PropertyKey[] }[] }): boolean {
    return !payload.issues.some(
        (issue) => (issue.path?.[0] === "zones" && issue.path.length > 1) || issue.path?.[0] === "cloud",
    );
}

/** Keys of a namespace nobody reads (`kube-ha:timezone`): Pulumi accepts them, and they change nothing. */
function unusedKeyWarnings(keys: readonly string[]): string[] {
    return keys
        .filter((key) => !knownNamespaces.includes(key.split(":")[0]))
        .map(
            (key) =>
                `${key}: no part of this program reads the namespace ${key.split(":")[0]}, so the key is ignored ` +
                `(this program's keys are ${configNamespace}:*; providers read ${knownNamespaces.filter((n) => n !== configNamespace).join(", ")})`,
        );
}

/**
 * Keys that have defaults (so the schema cannot tell whether they were set) and mean nothing on cloud machines,
 * where the machine list says how many hosts of each role there are and the program creates no cloud resource:
 * each one set is a problem of its own, never silently ignored.
 */
function machinesKeyProblems(
    input: Readonly<Record<string, unknown>>,
    regions: Readonly<Partial<Record<Cloud, string>>>,
): string[] {
    const problems: string[] = [];
    const at = (path: string, why: string) => problems.push(`${configNamespace}:${path}: ${why}; remove the key`);
    const listed = "does not apply to cloud machines: kubeha:machines lists every host with its role";
    const noCloud = "does not apply to cloud machines: the program creates no cloud resource";
    // Pulumi.yaml declares every key's default, and Pulumi hands a key left out over with that value: only a value
    // that differs from it was set by the user.
    const nested = (key: string, inner: string): boolean => {
        const value = input[key];
        if (typeof value !== "object" || value === null || !(inner in value)) return false;
        const fallback = (configSchema.shape as Record<string, z.ZodType>)[key].safeParse(undefined);
        const defaults = (fallback.success ? fallback.data : {}) as Record<string, unknown>;
        return JSON.stringify((value as Record<string, unknown>)[inner]) !== JSON.stringify(defaults[inner]);
    };
    for (const [cloud, key] of Object.entries(regionKeys) as [Cloud, string][]) {
        if (regions[cloud] !== undefined) problems.push(`${key}: ${noCloud} (no region); remove the key`);
    }
    if (input.zones !== undefined) at("zones", "does not apply to cloud machines: give machines a zone label instead");
    for (const group of ["masters", "workers"]) {
        for (const inner of ["count", "diskSizeGb", "containerdDiskSizeGb"]) {
            if (nested(group, inner))
                at(`${group}.${inner}`, inner === "count" ? listed : `${noCloud} (machines bring their own disks)`);
        }
    }
    for (const inner of ["count", "dedicated"]) {
        if (nested("etcd", inner)) at(`etcd.${inner}`, `${listed} (role etcd: dedicated etcd members)`);
    }
    if (nested("etcd", "diskSizeGb")) at("etcd.diskSizeGb", `${noCloud} (machines bring their own disks)`);
    if (nested("mirrors", "ubuntuApt")) {
        at("mirrors.ubuntuApt", "does not apply to cloud machines: they keep their own apt sources");
    }
    if (nested("mirrors", "insideVpc")) at("mirrors.insideVpc", `${noCloud}: there is no NAT gateway to wait for`);
    if (nested("network", "vpcCidr")) at("network.vpcCidr", `${noCloud}: the machines' own addresses are used`);
    for (const inner of ["ssh", "api"]) {
        if (nested("allowedCidrs", inner)) {
            at(`allowedCidrs.${inner}`, `${noCloud}: firewalls are yours to configure (docs/machines.md)`);
        }
    }
    // The bucket is the user's (backup.s3), and so is its lifecycle rule.
    if (nested("backup", "retentionDays")) {
        at(
            "backup.retentionDays",
            "does not apply to cloud machines: the bucket of backup.s3 is yours, and so is how long it keeps snapshots (its lifecycle rule)",
        );
    }
    // cloudIntegration and backup.enabled default to true in Pulumi.yaml, so a true cannot be told from the default:
    // the cloud integration is off on machines whatever it says, and backups run where backup.s3 names a bucket
    // (docs/machines.md).
    return problems;
}

function withDefaults(parsed: ParsedConfig, region: string): ClusterConfig {
    if (parsed.cloud === "machines") return machinesDefaults(parsed);
    const types = defaultInstanceTypes[parsed.cloud];
    const mirrorPreset = parsed.mirrors.preset ?? defaultMirrorPreset[parsed.cloud];
    return {
        ...parsed,
        region,
        network: { ...parsed.network, natGateways: parsed.network.natGateways ?? "single" },
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

/**
 * Cloud machines: host counts, dedicated etcd and zones from the machine list (so every rule and component that reads
 * them sees the list), no instance types, no cloud integration, backups only to backup.s3; the global mirrors unless a
 * preset is set.
 */
function machinesDefaults(parsed: ParsedConfig): ClusterConfig {
    const machines = parsed.machines ?? [];
    const count = (role: string) => machines.filter((item) => item.role === role).length;
    const etcdCount = count("etcd");
    const mirrorPreset = parsed.mirrors.preset ?? "global";
    const none = "none";
    return {
        ...parsed,
        region: "",
        zones: machineZones(parsed),
        network: { ...parsed.network, natGateways: "single" },
        masters: { ...parsed.masters, count: count("master"), instanceType: none },
        workers: { ...parsed.workers, count: count("worker"), instanceType: none },
        etcd: {
            ...parsed.etcd,
            dedicated: etcdCount > 0,
            count: etcdCount > 0 ? etcdCount : count("master"),
            instanceType: none,
        },
        bastion: { ...parsed.bastion, instanceType: none },
        cloudIntegration: false,
        // On where the user named a bucket, unless backup.enabled is false (a value that is not the default).
        backup: { ...parsed.backup, enabled: parsed.backup.enabled && parsed.backup.s3 !== undefined },
        mirrorPreset,
        mirrors: resolveMirrors(mirrorPreset, parsed.mirrors),
        allowedCidrs: { ssh: [], api: [], nodePorts: [...new Set(parsed.allowedCidrs.nodePorts)] },
    };
}

/** The addon images each `*Images` mirror key holds. */
const imagesByMirror: Record<"flannelImages" | "dashboardImages" | "headlampImages", AddonImageKey[]> = {
    flannelImages: ["flannel", "flannelCniPlugin"],
    dashboardImages: ["dashboard", "dashboardMetricsScraper"],
    headlampImages: ["headlamp"],
};

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
    if (config.cloud === "machines" && config.apiEndpoint === undefined) {
        const first = config.machines?.find((item) => item.role === "master");
        warnings.push(
            `${key("apiEndpoint")} is not set: clients outside the cluster (the kubeconfig, the addons) reach the API ` +
                `at the first master's address ${first?.address ?? ""}, with no failover; name a load balancer or DNS ` +
                "name of yours on 6443 there",
        );
    }
    if (config.cloud === "machines" && config.zones && config.zones.length < 3 && config.masters.count >= 3) {
        warnings.push(
            `${key("machines")}: the machines carry ${config.zones.length} zone label(s): masters are not spread ` +
                "over 3 failure domains, so losing one can lose the etcd majority",
        );
    } else if (config.zones && config.zones.length < 3 && config.masters.count >= 3) {
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
        // A mirror key is flagged while any of its images still comes from there (mirrors.images may move one).
        const foreign = (Object.keys(imagesByMirror) as (keyof typeof imagesByMirror)[]).filter((item) =>
            imagesByMirror[item].some((image) => /^(ghcr\.io|docker\.io)\//.test(addonImage(config.mirrors, image))),
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
        (Object.keys(cloudIntegrationImages.aws) as (keyof typeof cloudIntegrationImages.aws)[]).some((image) =>
            /^(registry\.k8s\.io|public\.ecr\.aws)\//.test(cloudImage(config.mirrors, "aws", image)),
        )
    ) {
        warnings.push(
            `${key("mirrors.cloudImages")}: the AWS cloud controller and EBS CSI images still come from ` +
                `registry.k8s.io or public.ecr.aws, which are slow or blocked from mainland China; set it (or ` +
                `mirrors.images.<image>) to a registry your hosts reach`,
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

/** The schema's own message where it has one; these where it relies on zod's defaults. */
function genericMessage(issue: z.core.$ZodRawIssue): string | undefined {
    if (issue.code === "invalid_type" && ["number", "string", "boolean", "array", "object"].includes(issue.expected)) {
        const expected = {
            array: "a list",
            object: "an object (a YAML mapping)",
            number: "a number",
            string: "a string",
            boolean: "true or false",
        }[issue.expected as string];
        return `must be ${expected} (got ${JSON.stringify(issue.input)})`;
    }
    return undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
    const where = `${configNamespace}:${keyPath(issue.path)}`;
    if (issue.input === undefined && issue.code !== "unrecognized_keys" && issue.code !== "custom") {
        return issue.path.length === 1 && issue.path[0] === "cloud"
            ? `${where}: required; set it with pulumi config set ${configNamespace}:cloud aliyun|aws|machines`
            : `${where}: required`;
    }
    if (issue.code === "unrecognized_keys") {
        const allowed = allowedKeysAt(issue.path);
        return issue.keys
            .map((key) => {
                const where = `${configNamespace}:${keyPath([...issue.path, key])}`;
                // `pulumi config set kubeha:masters.count 5` without --path makes a key named "masters.count".
                const head = /^([A-Za-z]+)[.[]/.exec(key)?.[1];
                if (issue.path.length === 0 && head && allowed.includes(head)) {
                    return (
                        `${where}: unknown key: a key name holding a path, as pulumi config set writes it without ` +
                        `--path; set it with pulumi config set --path '${configNamespace}:${key}' <value> and remove ` +
                        `this one (pulumi config rm '${configNamespace}:${key}')`
                    );
                }
                return `${where}: unknown key; allowed here: ${allowed.join(", ")}`;
            })
            .join("\n");
    }
    return `${where}: ${issue.message}`;
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
    type Introspectable = z.ZodType & {
        def?: { innerType?: z.ZodType; shape?: Record<string, z.ZodType>; options?: z.ZodType[] };
    };
    let current = schema as Introspectable | undefined;
    while (current?.def?.innerType) current = current.def.innerType as Introspectable;
    // A value that is a string or an object (mirrors.images.<image>): the object's keys.
    if (current?.def?.options) return current.def.options.map(objectShape).find((shape) => shape !== undefined);
    return current?.def?.shape;
}
