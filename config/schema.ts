// The stack configuration (namespace `kubeha`): its schema, defaults and cross-field rules.
// Pulumi.yaml declares the same keys and defaults; test/config-reference.test.ts keeps them in step.
import { z } from "zod";
import { cidrProblem, containsAddress, overlaps, parseCidr } from "./cidr";
import { calendarEventMessage, isCalendarEvent } from "./calendar";
import { layoutInput, layoutProblems } from "./layout";
import {
    belowControlPlaneMinimum,
    diskLimits,
    isArmInstanceType,
    largestServicePrefix,
    nodePodPrefix,
    podRangeCapacity,
    reservedRangeProblem,
    reservedTcpPorts,
    smallestServicePrefix,
    vpcSizeProblem,
} from "./limits";
import {
    addonImages,
    cloudIntegrationImages,
    defaultKubernetesPatch,
    defaultKubernetesVersion,
    kubernetesPatches,
    supportedKubernetesMinors,
} from "./versions";

export const clouds = ["aliyun", "aws"] as const;
export type Cloud = (typeof clouds)[number];

/** Where the cluster runs: one of the clouds, or machines the user already has (kubeha:machines). */
export const targets = [...clouds, "machines"] as const;
export type Target = (typeof targets)[number];

const cidr = z.string().superRefine((value, ctx) => {
    const problem = cidrProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const hostName = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, {
    message: "must be a lower-case DNS name with at least two labels, like k8s.internal",
});

/** A secret value: a problem with it never shows the value (Pulumi passes it decrypted). */
const secretText = (what: string) =>
    z
        .string({ message: `must be a string (${what}; the value is not shown: it is a secret)` })
        .min(1, { message: `must not be empty (${what})` })
        .regex(/^[^\s]+$/, { message: `must not hold spaces or line breaks (${what}; the value is not shown)` });

/** cloud machines: where the etcd members put their snapshots (an S3-compatible bucket of the user's). */
const backupS3 = z.strictObject(
    {
        /** The S3 API's https URL, without a path. */
        endpoint: z.string().regex(/^https:\/\/[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?\/?$/, {
            message:
                "must be the S3 API's https URL without a path, like https://s3.example.com or https://minio.example.com:9000",
        }),
        bucket: z.string().regex(/^(?=.{3,63}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, {
            message:
                "must be a bucket name: 3 to 63 lower-case letters, digits, dots and dashes, starting and ending with a letter or digit",
        }),
        region: z
            .string()
            .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, {
                message: "must be the bucket's region as the endpoint names it, like us-east-1 (lower-case, dashes)",
            })
            .default("us-east-1"),
        /** Where in the bucket; absent, etcd/<project>-<stack>/. */
        prefix: z
            .string()
            .regex(/^([A-Za-z0-9._-]+\/)+$/, {
                message: "must be a path ending in /, like kubeha/prod/ (letters, digits, dots, dashes, underscores)",
            })
            .optional(),
        accessKeyId: secretText("the key pair's access key id"),
        secretAccessKey: secretText("the key pair's secret"),
    },
    { message: "must be an object (a YAML mapping) {endpoint, bucket, region, prefix, accessKeyId, secretAccessKey}" },
);

// The range checks abort: a later rule (odd) must not add a second, misleading message to an out-of-range count.
const count = (min: number, max: number, fallback: number) =>
    z
        .number({ message: `must be a whole number from ${min} to ${max}` })
        .int({ message: `must be a whole number from ${min} to ${max}`, abort: true })
        .min(min, { message: `must be at least ${min}`, abort: true })
        .max(max, { message: `must be at most ${max}`, abort: true })
        .default(fallback);

const odd = (why: string) =>
    [(value: number) => value % 2 === 1, { message: `must be odd (1, 3, 5 or 7): ${why}` }] as const;

const diskSize = (min: number, fallback: number) =>
    z
        .number()
        .int()
        .min(min, { message: `must be at least ${min} (GiB)` })
        .max(32768, { message: "must be at most 32768 (GiB)" })
        .default(fallback);

const instanceType = z
    .string()
    .min(1, { message: "must not be empty; leave it out for the cloud's default" })
    .optional();

/**
 * A package mirror: https only (user-data and apt would fetch plain http unauthenticated), no credentials,
 * query or fragment, and only characters that stay literal in an apt source line, a shell word and a YAML or
 * TOML string. One pattern, so a bad value gets one message.
 */
const mirrorUrlPattern =
    /^https:\/\/[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?(\/[A-Za-z0-9._~:%+-]*)*$/;
const mirrorUrlMessage =
    "must be an https URL like https://mirror.example/ubuntu: a lower-case host name, an optional port, " +
    "and a path of letters, digits and . _ ~ : % + - / (no credentials, query, spaces or quotes)";
const mirrorUrl = z.string().regex(mirrorUrlPattern, { message: mirrorUrlMessage });

// distribution/reference's grammar of an image name, which `<repository>/<image>` must satisfy:
// [domain[:port]/]path-component(/path-component)*, path components lower-case alphanumerics joined by
// one of the separators `.`, `_`, `__` or dashes.
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const imageNamePattern = new RegExp(
    `^(?:${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?/)?${pathComponent}(?:/${pathComponent})*$`,
);

/** Whether `<repository>/<image>` is a valid image name (every image the program pulls is named so). */
function isImageRepository(repository: string): boolean {
    return repository.length <= 200 && imageNamePattern.test(`${repository}/image`);
}

/** Every `mirrors.*Images` key and kubeadm's imageRepository: one rule, so each is checked the same way. */
const imageRepository = z.string().refine(isImageRepository, {
    message:
        "must be an image repository like registry.example.com/google_containers: no scheme (https://), no " +
        'trailing "/", no tag; lower-case path of letters, digits and . _ -',
});

// An image reference: `<name>[:<tag>][@<digest>]` per distribution/reference, the name as above.
const tagPattern = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const digestPattern = "sha256:[0-9a-f]{64}";
const imageTag = z.string().regex(new RegExp(`^${tagPattern}$`), {
    message: "must be an image tag like v1.2.3: at most 128 letters, digits and _ . - (not starting with . or -)",
});
const imageDigest = z.string().regex(new RegExp(`^${digestPattern}$`), {
    message: 'must be an image digest: "sha256:" and 64 lower-case hex digits',
});

/** `<name>:<tag>`, `<name>@<digest>` or both: a bare name would pull `latest`, which moves. */
function isImageReference(reference: string): boolean {
    // A port only in the first component, before a slash: `pause:3.10.1` is a name and a tag, not a host and a port.
    const match = new RegExp(
        `^([^/:@]+(?::[0-9]+(?=/))?(?:/[^/:@]+)*)(?::(${tagPattern}))?(?:@(${digestPattern}))?$`,
    ).exec(reference);
    if (!match || (match[2] === undefined && match[3] === undefined)) return false;
    const name = match[1];
    return name.length <= 255 && imageNamePattern.test(name);
}

const imageReference = z.string().refine(isImageReference, {
    message:
        "must be an image reference like registry.example.com/team/image:v1.2.3, with a tag, a digest " +
        "(@sha256:<64 hex digits>) or both, and no scheme (https://)",
});

const imageOverrideMessage =
    "must be an image reference (a string like registry.example.com/team/image:v1.2.3) or an object of the parts " +
    "that differ: {repository, tag, digest}";

const imageParts = z.strictObject({
    repository: imageRepository.optional(),
    tag: imageTag.optional(),
    digest: imageDigest.optional(),
});

/** `mirrors.images.<image>`: the whole reference, or the parts that differ from the default. */
const imageOverride = z.union([imageReference, imageParts], { message: imageOverrideMessage });

/**
 * The same for an image pulled by digest (the addons'): its default digest is its default tag's, so a new tag alone
 * would change nothing that runs. A whole reference says exactly what to pull and may leave the digest out.
 */
const pinnedImageOverride = (defaultTag: string) =>
    z.union(
        [
            imageReference,
            imageParts.superRefine(
                (parts, ctx) => {
                    if (parts.tag === undefined || parts.digest !== undefined) return;
                    ctx.addIssue({
                        code: "custom",
                        path: ["tag"],
                        message:
                            `${parts.tag} needs its digest beside it (digest: sha256:...): the image is pulled by ` +
                            `digest, and the default digest is ${defaultTag}'s`,
                    });
                },
                { when: (payload) => payload.issues.length === 0 },
            ),
        ],
        { message: imageOverrideMessage },
    );

/** kubeadm names CoreDNS `<dns.imageRepository>/coredns:<dns.imageTag>` and takes no digest for it. */
const corednsOverride = z.union(
    [
        imageReference.refine((reference) => /^[^@]+\/coredns:[^@/]+$/.test(reference), {
            message:
                "must be <repository>/coredns:<tag> (kubeadm names the image coredns and takes no digest for it), " +
                "like registry.example.com/coredns/coredns:v1.12.1",
        }),
        z.strictObject({ repository: imageRepository.optional(), tag: imageTag.optional() }),
    ],
    {
        message: imageOverrideMessage.replace(
            "{repository, tag, digest}",
            "{repository, tag} (kubeadm takes no digest)",
        ),
    },
);

/** An apt signing key's fingerprint, as `gpg --show-keys --with-colons` gives it (fpr field); stored upper-case. */
const keyFingerprint = z
    .string()
    .regex(/^[0-9A-Fa-f]{40}$/, {
        message:
            "must be the full fingerprint of an OpenPGP key: 40 hex digits without spaces, as gpg --show-keys " +
            "prints it (like DE15B14486CD377B9E876E1A234654DA9A296436)",
    })
    .toUpperCase();

const maxUnavailable = {
    message: 'must be a whole number of workers (at least 1) or a percentage of them from 1% to 100%, like "25%"',
};

const hostGroup = (counts: z.ZodDefault<z.ZodNumber>, systemDisk: number, containerdDisk: number) =>
    z
        .strictObject({
            count: counts,
            /** Cloud instance type; default per cloud (see defaultInstanceTypes). */
            instanceType,
            /** System disk (GiB). */
            diskSizeGb: diskSize(20, systemDisk),
            /** Separate data disk for containerd's images and containers (GiB). */
            containerdDiskSizeGb: diskSize(20, containerdDisk),
        })
        .prefault({});

const sshAddress = z.string().regex(/^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, {
    message: "must be an IPv4 address or a lower-case DNS name, without a port",
});
const sshUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
    message: "must be a login name: lower-case letters, digits, _ and -, starting with a letter or _",
});
const sshPort = z
    .number({ message: "must be a TCP port from 1 to 65535" })
    .int({ message: "must be a TCP port from 1 to 65535" })
    .min(1, { message: "must be a TCP port from 1 to 65535" })
    .max(65535, { message: "must be a TCP port from 1 to 65535" });
const sshHostKey = z.string().superRefine((value, ctx) => {
    const problem = hostKeyProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Why `line` is not an Ed25519 host key in known_hosts form (`ssh-ed25519 <base64>`, a comment allowed). */
export function hostKeyProblem(line: string): string | undefined {
    const usage =
        "must be the machine's Ed25519 SSH host key as known_hosts holds it: ssh-ed25519 AAAA... (ssh-keyscan -t " +
        "ed25519 <address>, or /etc/ssh/ssh_host_ed25519_key.pub on the machine)";
    const [type, blob] = line.trim().split(/\s+/);
    if (type !== "ssh-ed25519" || !/^[A-Za-z0-9+/]+=*$/.test(blob ?? "")) return usage;
    const bytes = Buffer.from(blob, "base64");
    // The wire format: string "ssh-ed25519", then string <32-byte key>, each with a 4-byte length.
    const name = "ssh-ed25519";
    const ok =
        bytes.length === 4 + name.length + 4 + 32 &&
        bytes.readUInt32BE(0) === name.length &&
        bytes.subarray(4, 4 + name.length).toString("latin1") === name &&
        bytes.readUInt32BE(4 + name.length) === 32;
    return ok ? undefined : `${usage}; this one's key data is not an Ed25519 public key`;
}

const machineName = z.string().regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: "must be a host name: a lower-case DNS label like master-1 (letters, digits and -)",
});

/** cloud machines: one machine of kubeha:machines. */
const machine = z.strictObject({
    name: machineName.refine((name) => name !== "bastion", {
        message: "must not be bastion: kubeha:bastion names the jump host",
    }),
    role: z.enum(["master", "worker", "etcd"], {
        message: "must be master, worker or etcd (a dedicated etcd member)",
    }),
    /** The private address every other machine reaches it at (and SSH, through the bastion if any). */
    address: z.string().refine((value) => isIpv4Address(value), {
        message: "must be an IPv4 address like 192.0.2.10",
    }),
    /** A failure-domain label (rack, room, site); machines without one share one zone. */
    zone: z
        .string()
        .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
            message: "must be a label of lower-case letters, digits and - (like rack-1)",
        })
        .optional(),
    user: sshUser.default("root"),
    port: sshPort.default(22),
    hostKey: sshHostKey,
});

function isIpv4Address(value: string): boolean {
    const parts = value.split(".");
    return parts.length === 4 && parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

/** Pod Security Standards levels, least to most restrictive. */
export const podSecurityLevels = ["privileged", "baseline", "restricted"] as const;
export type PodSecurityLevel = (typeof podSecurityLevels)[number];

export const configSchema = z
    .strictObject({
        cloud: z.enum(targets, { message: `must be one of ${targets.join(", ")}` }),
        /** cloud machines: the hosts, each with its role, private address and pinned SSH host key. */
        machines: z.array(machine).min(1, { message: "must list at least one master" }).optional(),
        /**
         * cloud machines: the private key (OpenSSH or PEM) every SSH connection logs in with, to the bastion and every
         * machine. A secret: pulumi config set --secret kubeha:sshPrivateKey -- "$(cat key)".
         */
        sshPrivateKey: z
            .string()
            .regex(/^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----\n[\s\S]+\n-----END ([A-Z]+ )?PRIVATE KEY-----\s*$/, {
                message:
                    "must be an SSH private key in OpenSSH or PEM armor (-----BEGIN OPENSSH PRIVATE KEY----- ... " +
                    "-----END OPENSSH PRIVATE KEY-----)",
            })
            .optional(),
        /**
         * cloud machines: the name or address clients outside the cluster use for the API (a load balancer or DNS name
         * of your own on port 6443); absent, the first master's address.
         */
        apiEndpoint: z
            .string()
            .regex(/^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, {
                message: "must be a lower-case DNS name like k8s-api.example.com or an IPv4 address, without a port",
            })
            .optional(),
        /**
         * cloud machines: the reset that runs when a machine leaves the list and on `pulumi destroy` also removes etcd's
         * data (scripts/reset-machine.sh); absent or false, etcd's data stays on the machine.
         */
        removeEtcdDataOnReset: z.boolean({ message: "must be true or false" }).optional(),
        zones: z
            .array(
                z.string().regex(/^[a-z0-9-]+$/, { message: "must be a zone ID like eu-central-1a or cn-hangzhou-h" }),
            )
            .min(2, {
                message:
                    "must list at least two zones (the API load balancer spans two or more, and one zone " +
                    "does not survive its own outage), or be left out to use the region's first three",
            })
            .refine((zones) => new Set(zones).size === zones.length, {
                message: "must not list a zone twice: hosts are spread over the zones in order",
            })
            .optional(),
        kubernetesVersion: z
            .string()
            .default(defaultKubernetesVersion)
            .superRefine((value, ctx) => {
                const match = /^(1\.\d+)(?:\.(\d+))?$/.exec(value);
                if (!match || !(supportedKubernetesMinors as readonly string[]).includes(match[1])) {
                    ctx.addIssue({
                        code: "custom",
                        message:
                            `"${value}" is not a supported version; use a minor (${supportedKubernetesMinors.join(", ")}) ` +
                            `or an exact patch of one (e.g. ${defaultKubernetesPatch})`,
                    });
                    return;
                }
                // Hosts install exactly this patch: one newer than the pinned one is not known to exist.
                const pinned = kubernetesPatches[match[1] as keyof typeof kubernetesPatches];
                const newest = Number(pinned.split(".")[2]);
                if (match[2] !== undefined && Number(match[2]) > newest) {
                    ctx.addIssue({
                        code: "custom",
                        message:
                            `${value} is newer than the patches this version of kubeha knows (${match[1]}.0 to ` +
                            `${pinned}): hosts would fail to install it; use ${match[1]} (= ${pinned}) or an older patch`,
                    });
                }
            }),
        masters: hostGroup(count(1, 7, 3).refine(...odd("etcd and the control plane need a majority")), 40, 50),
        workers: hostGroup(count(0, 1000, 3), 40, 100),
        bastion: z
            .strictObject({
                instanceType,
                /** cloud machines: the jump host's address (as pulumi up reaches it); absent, no jump host. */
                address: sshAddress.optional(),
                /** cloud machines: the login user on the jump host. */
                user: sshUser.optional(),
                /** cloud machines: its SSH port. */
                port: sshPort.optional(),
                /** cloud machines: its SSH host key, as in known_hosts: ssh-ed25519 AAAA... */
                hostKey: sshHostKey.optional(),
            })
            .prefault({}),
        etcd: z
            .strictObject({
                /** Run etcd on its own hosts (etcd-N) instead of on the masters. */
                dedicated: z.boolean().default(false),
                /** Members when dedicated; otherwise every master runs one. */
                count: count(1, 7, 3).refine(...odd("etcd needs a majority of members to accept writes")),
                instanceType,
                /** etcd's own data disk (GiB), on every host that runs a member. */
                diskSizeGb: diskSize(20, 20),
                /** Seed 000: the 2 GiB default stops writes too early; 8 GiB is etcd's suggested maximum. */
                quotaBackendBytes: z
                    .number()
                    .int()
                    .min(2 ** 30, { message: "must be at least 1 GiB (1073741824)" })
                    .max(8 * 2 ** 30, { message: "must be at most 8 GiB (8589934592), etcd's suggested maximum" })
                    .default(8 * 2 ** 30),
                /** Seed 000: 1.5 MiB default is too small; 10 MiB is etcd's recommended ceiling. */
                maxRequestBytes: z
                    .number()
                    .int()
                    .min(1572864, { message: "must be at least 1.5 MiB (1572864), etcd's default" })
                    .max(32 * 2 ** 20, { message: "must be at most 32 MiB (33554432)" })
                    .default(10 * 2 ** 20),
                /** Periodic compaction keeps this much history (seed 000: hourly). */
                compactionRetention: z
                    .string()
                    .regex(/^\d+(m|h)$/, { message: 'must be a duration in minutes or hours, like "1h" or "30m"' })
                    .default("1h"),
            })
            .prefault({}),
        backup: z
            .strictObject({
                /**
                 * etcd snapshots to a bucket the program creates in the stack's cloud; on cloud machines, to backup.s3's
                 * (without it there are none).
                 */
                enabled: z.boolean().default(true),
                /** cloud machines: the S3-compatible bucket of the user's the snapshots go to, and its key pair. */
                s3: backupS3.optional(),
                /** When: a systemd calendar expression (OnCalendar=), checked on the hosts by systemd. */
                schedule: z.string().refine(isCalendarEvent, { message: calendarEventMessage }).default("hourly"),
                /** The bucket's lifecycle rule deletes snapshots this many days old. */
                retentionDays: count(1, 3650, 7),
                /**
                 * The check on every etcd member (kubeha-etcd-backup-check) fails once this many scheduled runs passed
                 * without a newer complete snapshot in the bucket.
                 */
                staleAfterRuns: count(1, 99, 3),
            })
            .prefault({}),
        network: z
            .strictObject({
                vpcCidr: cidr.default("192.168.0.0/16"),
                podCidr: cidr.default("10.244.0.0/16"),
                serviceCidr: cidr.default("10.96.0.0/12"),
                clusterDomain: hostName.default("cluster.local"),
                /** Private DNS zone holding every host's name (`master-1.<privateDomain>`). */
                privateDomain: hostName.default("k8s.internal"),
                /** Port of the per-node API proxy on 127.0.0.1 (not 6443, which the apiserver holds on masters). */
                apiProxyPort: z
                    .number()
                    .int()
                    .min(1024)
                    .max(65535)
                    .refine((port) => port !== 6443, {
                        message: "must not be 6443, which the apiserver holds on masters",
                    })
                    .superRefine((port, ctx) => {
                        const taken = reservedTcpPorts.find(([from, to]) => port >= from && port <= to);
                        if (taken) {
                            const [from, to, what] = taken;
                            ctx.addIssue({
                                code: "custom",
                                message: `must not be ${port}: ${from === to ? "that is" : `${from}-${to} is`} ${what}`,
                            });
                        }
                    })
                    .default(8443),
                /** AWS only: one NAT gateway for the VPC (unset: single), or one per zone (survives a zone outage, costs more). */
                natGateways: z.enum(["single", "per-zone"], { message: "must be single or per-zone" }).optional(),
            })
            .prefault({}),
        allowedCidrs: z
            .strictObject({
                /** Who may SSH to the bastion (pulumi itself connects through it). */
                ssh: z
                    .array(cidr)
                    .min(1, { message: reachedByPulumi("SSH to the bastion: every remote step goes through it") })
                    .default(["0.0.0.0/0"]),
                /** Who may reach the API load balancer on 6443. */
                api: z
                    .array(cidr)
                    .min(1, {
                        message: reachedByPulumi("the API load balancer: the api-ready step and the addons use it"),
                    })
                    .default(["0.0.0.0/0"]),
                /**
                 * Who may reach Service NodePorts besides the nodes themselves: e.g. a load balancer of your own in
                 * front of a NodePort Service. kubeha runs no cloud controller, so no Service creates one by itself.
                 */
                nodePorts: z.array(cidr).default([]),
            })
            .prefault({}),
        /**
         * Aliyun: a domain hosted in Alibaba Cloud DNS where the program creates `<record>.<domain>`, a CNAME to the
         * API load balancer (a new NLB is not reachable by its own DNS name). Without it, clients use its addresses.
         */
        apiDns: z
            .strictObject({
                domain: hostName,
                record: z
                    .string()
                    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, {
                        message: "must be lower-case DNS labels, like k8s-api or api.prod",
                    })
                    .default("k8s-api"),
            })
            .optional(),
        mirrors: z
            .strictObject({
                /** china is the default on Aliyun, global on AWS. */
                preset: z.enum(["china", "global"], { message: "must be china or global" }).optional(),
                /** `image` keeps the image's own sources, whatever the preset. */
                ubuntuApt: z
                    .string()
                    .regex(new RegExp(`${mirrorUrlPattern.source}|^image$`), {
                        message: `${mirrorUrlMessage}; or image, to keep the image's own Ubuntu sources`,
                    })
                    .optional(),
                kubernetesApt: mirrorUrl
                    .refine((url) => !/\/v1\.\d+(\/|$)/.test(url), {
                        message:
                            "must be the base of the per-minor repositories, without /v1.xx/deb/ (kubeha appends the " +
                            "minor it installs), like https://pkgs.k8s.io/core:/stable: or " +
                            "https://mirrors.aliyun.com/kubernetes-new/core/stable",
                    })
                    .optional(),
                /** The key that signs the kubernetesApt repositories (a mirror that re-signs names its own). */
                kubernetesAptKey: keyFingerprint.optional(),
                containerdApt: mirrorUrl.optional(),
                /** The key that signs the containerdApt repository. */
                containerdAptKey: keyFingerprint.optional(),
                kubernetesImages: imageRepository.optional(),
                flannelImages: imageRepository.optional(),
                dashboardImages: imageRepository.optional(),
                headlampImages: imageRepository.optional(),
                etcdReleases: mirrorUrl.optional(),
                cloudImages: imageRepository.optional(),
                /** The boot's sources are all reachable inside the VPC: the boot does not wait for NAT. */
                insideVpc: z.boolean({ message: "must be true or false" }).optional(),
                /** Per image: a whole reference, or the repository, tag or digest that differ from the default. */
                images: z
                    .strictObject({
                        pause: imageOverride.optional(),
                        coredns: corednsOverride.optional(),
                        ...pinnedImageOverrides(),
                        ...imageOverrides([
                            ...new Set([
                                ...(Object.keys(
                                    cloudIntegrationImages.aws,
                                ) as (keyof typeof cloudIntegrationImages.aws)[]),
                                ...(Object.keys(
                                    cloudIntegrationImages.aliyun,
                                ) as (keyof typeof cloudIntegrationImages.aliyun)[]),
                            ]),
                        ]),
                    })
                    .optional(),
            })
            .prefault({}),
        /**
         * The cloud's own controllers: the cloud controller manager (LoadBalancer Services, node lifecycle) and the
         * block-storage CSI driver with a default StorageClass. Off leaves every node without a cloud provider.
         */
        cloudIntegration: z.boolean({ message: "must be true or false" }).default(true),
        /**
         * kubeadm preflight checks every node skips, by kubeadm's names (as Kubespray's
         * kubeadm_ignore_preflight_errors): for hosts that differ from what kubeha targets, like the lab's cgroup v1
         * machines (SystemVerification). Not "all": a check named here is one the operator has looked at.
         */
        ignorePreflightErrors: z
            .array(
                z
                    .string()
                    .regex(/^[A-Za-z][A-Za-z0-9.-]*$/, {
                        message: "must be a kubeadm preflight check name, like SystemVerification or Swap",
                    })
                    .refine((name) => name.toLowerCase() !== "all", {
                        message: "all would skip every check kubeadm makes: name the checks to skip",
                    }),
            )
            .refine((names) => new Set(names).size === names.length, { message: "must not name a check twice" })
            .default([]),
        kubeProxyMode: z
            .enum(["nftables", "ipvs", "iptables"], { message: "must be one of nftables, ipvs, iptables" })
            .default("nftables"),
        /**
         * Pod Security admission's cluster-wide enforced level, for every namespace without its own label
         * (kube-system is exempt; the program's addon namespaces carry their own). Audit and warn are `restricted`.
         */
        podSecurity: z
            .strictObject({
                enforce: z
                    .enum(podSecurityLevels, { message: "must be one of privileged, baseline, restricted" })
                    .default("baseline"),
            })
            .prefault({}),
        addons: z
            .strictObject({
                cni: z
                    .strictObject({
                        backend: z
                            .enum(["vxlan", "wireguard"], {
                                message:
                                    "must be vxlan or wireguard (host-gw needs one L2 segment, which a multi-zone VPC is not)",
                            })
                            .default("vxlan"),
                    })
                    .prefault({}),
                dashboard: z
                    .enum(["kubernetes-dashboard", "headlamp", "none"], {
                        message: "must be one of kubernetes-dashboard, headlamp, none",
                    })
                    .default("kubernetes-dashboard"),
                /**
                 * Also give the UI's admin a token that never expires (a Secret; the dashboardToken output). Off:
                 * operators make a short-lived one with `kubectl create token` (dashboardAccess.tokenCommand).
                 */
                longLivedDashboardToken: z.boolean().default(false),
            })
            .prefault({}),
        pki: z
            .strictObject({
                caValidityHours: count(24, 20 * 8760, 87600),
                certValidityHours: count(24, 5 * 8760, 8760),
                earlyRenewalHours: count(0, 5 * 8760, 720),
            })
            .prefault({}),
        /** How fast the control plane gives up on a silent node (seed 000 wanted failover within seconds). */
        controlPlane: z
            .strictObject({
                /**
                 * Seconds without a kubelet heartbeat before a node is NotReady. A kubelet needs up to ~45 s to
                 * notice a dead API connection (HTTP/2 read-idle 30 s + ping 15 s) and reconnect, and a worker's
                 * one long-lived connection through its local proxy is dropped whenever a master goes away:
                 * upstream raised its default to 50 s in 1.32 for this (kubernetes PR #126287).
                 */
                nodeMonitorGracePeriodSeconds: z
                    .number()
                    .int()
                    .min(50, {
                        message:
                            "must be at least 50: a kubelet takes up to ~45 s to replace a dead API connection, and less marks healthy nodes NotReady",
                    })
                    .max(600, { message: "must be at most 600" })
                    .default(50),
                /** How often the node controller checks (seed 000: 3s). */
                nodeMonitorPeriodSeconds: count(1, 30, 3),
                /**
                 * Seconds pods stay on a NotReady or unreachable node before they are evicted (the apiserver's
                 * default toleration; the controller-manager's --pod-eviction-timeout was removed in 1.27).
                 */
                podEvictionTimeoutSeconds: count(0, 3600, 60),
            })
            .prefault({}),
        /** How `pulumi up` rolls a new kubernetesVersion over the nodes (masters always one at a time). */
        upgrade: z
            .strictObject({
                /** Workers drained and upgraded at once: a count, or a percentage of workers.count. */
                maxUnavailable: z
                    .union(
                        [
                            z.number().int(maxUnavailable).min(1, maxUnavailable),
                            z.string().regex(/^([1-9][0-9]?|100)%$/, maxUnavailable),
                        ],
                        maxUnavailable,
                    )
                    .default(1),
            })
            .prefault({}),
        timezone: z
            .string()
            .default("UTC")
            .refine(isCanonicalTimeZone, {
                message:
                    "must be a canonical IANA time zone, written as in the tz database: UTC or Area/City like " +
                    "Asia/Shanghai (abbreviations such as PST or CST, and legacy names such as US/Pacific, are not in " +
                    "Ubuntu's tzdata)",
            }),
    })
    // Cross-field rules: each runs as soon as the keys it reads are valid, so every problem is reported at once.
    .superRefine(
        (config, ctx) => {
            // Machines have no VPC the program plans: their own addresses are checked against the ranges below.
            const ranges = [
                ...(config.cloud === "machines" ? [] : ([["vpcCidr", config.network.vpcCidr]] as const)),
                ["podCidr", config.network.podCidr],
                ["serviceCidr", config.network.serviceCidr],
            ] as const;
            ranges.forEach(([key, value], i) =>
                ranges.slice(i + 1).forEach(([otherKey, other]) => {
                    if (overlaps(parseCidr(value), parseCidr(other))) {
                        ctx.addIssue({
                            code: "custom",
                            path: ["network", otherKey],
                            message: `${other} overlaps network.${key} ${value}; the three ranges must be disjoint`,
                        });
                    }
                }),
            );
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["network"]) },
    )
    .superRefine(
        (config, ctx) => {
            if (config.cloud === "machines") return;
            const problems = layoutProblems(layoutInput({ ...config, cloud: config.cloud }, config.zones?.length ?? 3));
            for (const problem of problems) {
                const [key, ...rest] = problem.split(": ");
                ctx.addIssue({ code: "custom", path: key.split("."), message: rest.join(": ") });
            }
        },
        {
            when: (payload) =>
                !hasIssuesUnder(payload.issues, ["cloud"], ["network"], ["zones"], ["masters"], ["workers"], ["etcd"]),
        },
    )
    .superRefine(
        (config, ctx) => {
            // Keys that mean something on one cloud only are errors on the other, never silently ignored.
            if (config.cloud !== "aws" && config.network.natGateways !== undefined) {
                ctx.addIssue({
                    code: "custom",
                    path: ["network", "natGateways"],
                    message:
                        config.cloud === "aliyun"
                            ? "applies to AWS only: an Aliyun stack has one NAT gateway; remove the key"
                            : "applies to AWS only: the program creates no network for machines; remove the key",
                });
            }
        },
        { when: (payload) => !hasIssuesAt(payload.issues, ["cloud"], ["network", "natGateways"]) },
    )
    // One rule per host group, so that a problem with one group's type never hides another's.
    .superRefine(instanceTypeRule("masters"), { when: instanceTypeReady("masters") })
    .superRefine(instanceTypeRule("workers"), { when: instanceTypeReady("workers") })
    .superRefine(instanceTypeRule("etcd"), { when: instanceTypeReady("etcd") })
    .superRefine(instanceTypeRule("bastion"), { when: instanceTypeReady("bastion") })
    .superRefine(
        (config, ctx) => {
            // What the cloud and Kubernetes refuse in the address plan, each reported at its key.
            const { vpcCidr, podCidr, serviceCidr, clusterDomain, privateDomain } = config.network;
            const network = (key: string, message: string) =>
                ctx.addIssue({ code: "custom", path: ["network", key], message });
            const cloud = config.cloud === "machines" ? undefined : config.cloud;
            for (const [key, cidr] of [
                ...(cloud ? ([["vpcCidr", vpcCidr]] as const) : []),
                ["podCidr", podCidr],
                ["serviceCidr", serviceCidr],
            ] as const) {
                const reserved = reservedRangeProblem(cloud, cidr);
                if (reserved) network(key, `${reserved}; choose another range`);
            }
            const vpcSize = cloud ? vpcSizeProblem(cloud, vpcCidr) : undefined;
            if (vpcSize) network("vpcCidr", vpcSize);
            const servicePrefix = parseCidr(serviceCidr).prefix;
            if (servicePrefix < largestServicePrefix) {
                network(
                    "serviceCidr",
                    `${serviceCidr} is too large: kube-apiserver refuses service ranges larger than ` +
                        `/${largestServicePrefix}; use a /${largestServicePrefix} to /${smallestServicePrefix}`,
                );
            } else if (servicePrefix > smallestServicePrefix) {
                network(
                    "serviceCidr",
                    `${serviceCidr} is too small: kubeadm gives cluster DNS the range's 10th address; use a ` +
                        `/${smallestServicePrefix} or larger`,
                );
            }
            const roleCount = (role: string) => (config.machines ?? []).filter((item) => item.role === role).length;
            const masterCount = cloud ? config.masters.count : roleCount("master");
            const workerCount = cloud ? config.workers.count : roleCount("worker");
            const nodes = masterCount + workerCount;
            const capacity = podRangeCapacity(podCidr);
            if (nodes > capacity) {
                const needed = nodePodPrefix - Math.ceil(Math.log2(nodes));
                network(
                    "podCidr",
                    `${podCidr} holds ${capacity} per-node /${nodePodPrefix} pod ranges, but the cluster has ${nodes} ` +
                        `nodes (${masterCount} masters and ${workerCount} workers; each node's ` +
                        `kubelet runs up to 220 pods in its own /${nodePodPrefix}); use a /${needed} or larger`,
                );
            }
            const nested = (inner: string, outer: string) => inner === outer || inner.endsWith(`.${outer}`);
            if (nested(privateDomain, clusterDomain) || nested(clusterDomain, privateDomain)) {
                network(
                    "clusterDomain",
                    `${clusterDomain} must not equal or contain network.privateDomain ${privateDomain} (or lie ` +
                        "inside it): CoreDNS answers for the whole cluster domain, so pods could not resolve the " +
                        "hosts' names",
                );
            }
        },
        {
            when: (payload) =>
                !hasIssuesUnder(payload.issues, ["cloud"], ["network"], ["masters", "count"], ["workers", "count"]),
        },
    )
    .superRefine(
        (config, ctx) => {
            // Machines bring their own disks (docs/machines.md): no size applies.
            if (config.cloud === "machines") return;
            const limits = diskLimits[config.cloud];
            const disks = [
                ["masters", "diskSizeGb", limits.system, "system disk"],
                ["workers", "diskSizeGb", limits.system, "system disk"],
                ["masters", "containerdDiskSizeGb", limits.data, "data disk"],
                ["workers", "containerdDiskSizeGb", limits.data, "data disk"],
                ["etcd", "diskSizeGb", limits.data, "data disk"],
            ] as const;
            for (const [group, key, max, what] of disks) {
                const size = (config[group] as unknown as Record<string, number>)[key];
                if (size <= max) continue;
                ctx.addIssue({
                    code: "custom",
                    path: [group, key],
                    message: `must be at most ${max} (GiB) on ${config.cloud}: a ${limits.kind} ${what} is no larger`,
                });
            }
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["cloud"], ["masters"], ["workers"], ["etcd"]) },
    )
    .superRefine(
        (config, ctx) => {
            // Hosts find their data disks by size (device names differ by cloud and, on AWS, by boot).
            if (
                config.cloud !== "machines" &&
                !config.etcd.dedicated &&
                config.etcd.diskSizeGb === config.masters.containerdDiskSizeGb
            ) {
                ctx.addIssue({
                    code: "custom",
                    path: ["etcd", "diskSizeGb"],
                    message:
                        `must differ from masters.containerdDiskSizeGb (${config.masters.containerdDiskSizeGb}) ` +
                        "while etcd runs on the masters: hosts tell their data disks apart by size",
                });
            }
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["etcd"], ["masters"]) },
    )
    .superRefine(
        (config, ctx) => {
            if (config.apiDns && config.cloud !== "aliyun") {
                ctx.addIssue({
                    code: "custom",
                    path: ["apiDns"],
                    message:
                        config.cloud === "aws"
                            ? `is for cloud aliyun only (an AWS NLB is reachable by its own DNS name); remove it`
                            : "is for cloud aliyun only: on machines, name the API with kubeha:apiEndpoint; remove it",
                });
            }
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["cloud"], ["apiDns"]) },
    )
    .superRefine(
        (config, ctx) => {
            const { certValidityHours, caValidityHours, earlyRenewalHours } = config.pki;
            if (certValidityHours > caValidityHours) {
                ctx.addIssue({
                    code: "custom",
                    path: ["pki", "certValidityHours"],
                    message: `must not exceed pki.caValidityHours (${caValidityHours}): a leaf cannot outlive its CA`,
                });
            }
            if (earlyRenewalHours >= certValidityHours) {
                ctx.addIssue({
                    code: "custom",
                    path: ["pki", "earlyRenewalHours"],
                    message: `must be less than pki.certValidityHours (${certValidityHours}), or every run renews every certificate`,
                });
            }
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["pki"]) },
    )

    .superRefine(
        (config, ctx) => {
            // Runs whatever the values are: a key for the other cloud's image is an error of its own.
            const images = (config.mirrors as { images?: unknown } | null)?.images;
            if (!images || typeof images !== "object") return;
            if (config.cloud === "machines") {
                const integration = new Set([
                    ...Object.keys(cloudIntegrationImages.aws),
                    ...Object.keys(cloudIntegrationImages.aliyun),
                ]);
                for (const key of Object.keys(images).filter((name) => integration.has(name))) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["mirrors", "images", key],
                        message: "applies to the clouds' integration only, which machines do not run; remove the key",
                    });
                }
                return;
            }
            const other = otherCloud(config.cloud);
            for (const key of Object.keys(images)) {
                if (key in cloudIntegrationImages[config.cloud] || !(key in cloudIntegrationImages[other])) continue;
                ctx.addIssue({
                    code: "custom",
                    path: ["mirrors", "images", key],
                    message:
                        `applies to ${other === "aws" ? "AWS" : "Aliyun"} only: the ${config.cloud} cloud ` +
                        "integration runs no such image; remove the key",
                });
            }
        },
        { when: (payload) => !hasIssuesUnder(payload.issues, ["cloud"]) },
    )
    // Runs whatever else is wrong in the list (each check reads only values of the right type), so that a bad host
    // key does not hide a repeated address.
    .superRefine(machinesRule, { when: (payload) => !hasIssuesUnder(payload.issues, ["cloud"]) });

/** Keys of cloud machines only. */
const machinesOnlyKeys = ["machines", "sshPrivateKey", "apiEndpoint", "removeEtcdDataOnReset"] as const;
const machinesOnlyBastionKeys = ["address", "user", "port", "hostKey"] as const;

interface MachinesView {
    readonly cloud: Target;
    readonly machines?: readonly { name: string; role: string; address: string; zone?: string }[];
    readonly sshPrivateKey?: string;
    readonly apiEndpoint?: string;
    readonly removeEtcdDataOnReset?: boolean;
    readonly bastion: { readonly address?: string; readonly hostKey?: string; readonly instanceType?: string };
    readonly network: { readonly podCidr: string; readonly serviceCidr: string };
    readonly backup: { readonly s3?: unknown };
}

/** The machine list's own rules on cloud machines; its keys refused on the clouds. */
function machinesRule<T extends MachinesView>(config: T, ctx: z.RefinementCtx<T>): void {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (config.cloud !== "machines") {
        for (const key of machinesOnlyKeys) {
            if (config[key] !== undefined)
                issue(
                    [key],
                    `applies to cloud machines only: ${config.cloud} creates its hosts and keys; remove the key`,
                );
        }
        for (const key of machinesOnlyBastionKeys) {
            if ((config.bastion as Record<string, unknown>)[key] !== undefined) {
                issue(
                    ["bastion", key],
                    `applies to cloud machines only: ${config.cloud} creates its bastion; remove the key`,
                );
            }
        }
        if (typeof config.backup === "object" && config.backup !== null && config.backup.s3 !== undefined) {
            issue(
                ["backup", "s3"],
                `applies to cloud machines only: ${config.cloud} creates the backup bucket and the members' role; remove the key`,
            );
        }
        return;
    }
    // Entries of the right shape only: the list may have problems of its own (reported at their keys).
    const machines = (Array.isArray(config.machines) ? config.machines : []).map((item) =>
        typeof item === "object" && item !== null ? item : { name: undefined, role: undefined, address: undefined },
    );
    if (config.machines === undefined) {
        issue(["machines"], "required for cloud machines: list every machine with name, role, address and hostKey");
    }
    if (config.sshPrivateKey === undefined) {
        issue(
            ["sshPrivateKey"],
            'required for cloud machines: pulumi config set --secret kubeha:sshPrivateKey -- "$(cat <key file>)"',
        );
    }
    const bastion: MachinesView["bastion"] =
        typeof config.bastion === "object" && config.bastion !== null ? config.bastion : {};
    if (bastion.address !== undefined && bastion.hostKey === undefined) {
        issue(
            ["bastion", "hostKey"],
            "required with bastion.address: connections to the jump host pin it (ssh-keyscan -t ed25519 <address>)",
        );
    }
    if (bastion.address === undefined) {
        for (const key of ["user", "port", "hostKey"] as const) {
            if ((bastion as Record<string, unknown>)[key] !== undefined) {
                issue(
                    ["bastion", key],
                    "needs bastion.address: without it there is no jump host; remove the key or set the address",
                );
            }
        }
    }
    const seen = new Map<string, number>();
    const addresses = new Map<string, string>();
    if (typeof bastion.address === "string") addresses.set(bastion.address, "bastion.address");
    const ranges = (["podCidr", "serviceCidr"] as const).filter(
        (key) => typeof config.network?.[key] === "string" && cidrProblem(config.network[key]) === undefined,
    );
    machines.forEach((item, i) => {
        if (typeof item.name !== "string" || typeof item.address !== "string") return;
        const first = seen.get(item.name);
        if (first !== undefined)
            issue(["machines", i, "name"], `${item.name} is machines[${first}]'s name too: names must be unique`);
        else seen.set(item.name, i);
        const other = addresses.get(item.address);
        if (other !== undefined)
            issue(["machines", i, "address"], `${item.address} is ${other}'s address too: addresses must be unique`);
        else addresses.set(item.address, `machines[${i}]`);
        if (!isIpv4Address(item.address)) return;
        for (const key of ranges) {
            const range = config.network[key];
            if (containsAddress(range, item.address)) {
                issue(
                    ["machines", i, "address"],
                    `${item.address} lies in network.${key} ${range}: pod and service ranges must be clear of every machine; choose other ranges`,
                );
            }
        }
    });
    const count = (role: string) => machines.filter((item) => item.role === role).length;
    const masters = count("master");
    const etcd = count("etcd");
    if (config.machines !== undefined) {
        if (masters === 0) issue(["machines"], "must list at least one machine with role master");
        else if (masters % 2 === 0 || masters > 7) {
            issue(
                ["machines"],
                `lists ${masters} masters: must be odd (1, 3, 5 or 7): etcd and the control plane need a majority`,
            );
        }
        if (etcd > 0 && (etcd % 2 === 0 || etcd > 7)) {
            issue(
                ["machines"],
                `lists ${etcd} etcd machines: must be odd (1, 3, 5 or 7), or none to run etcd on the masters`,
            );
        }
    }
}

function otherCloud(cloud: Cloud): Cloud {
    return cloud === "aws" ? "aliyun" : "aws";
}

/** The addons' images, each checked against its default tag. */
function pinnedImageOverrides(): {
    [K in keyof typeof addonImages]: z.ZodOptional<ReturnType<typeof pinnedImageOverride>>;
} {
    return Object.fromEntries(
        Object.entries(addonImages).map(([key, image]) => [key, pinnedImageOverride(image.tag).optional()]),
    ) as { [K in keyof typeof addonImages]: z.ZodOptional<ReturnType<typeof pinnedImageOverride>> };
}

/** The same override rule for each of these images. */
function imageOverrides<K extends string>(keys: readonly K[]): Record<K, z.ZodOptional<typeof imageOverride>> {
    return Object.fromEntries(keys.map((key) => [key, imageOverride.optional()])) as Record<
        K,
        z.ZodOptional<typeof imageOverride>
    >;
}

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;

function hasIssuesUnder(issues: readonly { path?: PropertyKey[] }[], ...prefixes: string[][]): boolean {
    return issues.some((issue) => prefixes.some((prefix) => prefix.every((key, i) => issue.path?.[i] === key)));
}

/** Whether a value problem concerns one of these keys: at the key, inside it, or at an object holding it. */
function hasIssuesAt(issues: readonly { code?: string; path?: PropertyKey[] }[], ...keys: string[][]): boolean {
    return issues.some(
        (issue) =>
            issue.code !== "unrecognized_keys" &&
            keys.some((key) => key.slice(0, issue.path?.length ?? 0).every((part, i) => issue.path?.[i] === part)),
    );
}

type HostGroup = "masters" | "workers" | "etcd" | "bastion";

/** A group's instance type: of the stack's cloud, of the image's architecture, and big enough for kubeadm. */
// Typed by the keys it reads: the schema's own output type cannot be named inside the schema.
type InstanceTypes = { readonly cloud: Target } & Record<HostGroup, { readonly instanceType?: string }>;

function instanceTypeRule(group: HostGroup) {
    return <T extends InstanceTypes>(config: T, ctx: z.RefinementCtx<T>) => {
        const type = config[group].instanceType;
        if (type === undefined) return;
        const problem = (message: string) => ctx.addIssue({ code: "custom", path: [group, "instanceType"], message });
        if (config.cloud === "machines") {
            problem("does not apply to cloud machines: the program creates no instances; remove the key");
            return;
        }
        if (!instanceTypePatterns[config.cloud].test(type)) {
            problem(`${JSON.stringify(type)} is not ${instanceTypeExamples[config.cloud]}`);
            return;
        }
        if (isArmInstanceType(config.cloud, type)) {
            problem(
                `${type} is an Arm (aarch64) type: the hosts get the amd64 Ubuntu image and amd64 binaries; ` +
                    "choose an x86_64 type",
            );
        }
        // kubeadm's preflight (NumCPU, Mem) stops `kubeadm init` and control-plane joins below 2 CPUs or 1700 MB.
        const small = group === "masters" ? belowControlPlaneMinimum(config.cloud, type) : undefined;
        if (small) problem(`${small}: kubeadm's preflight needs at least 2 CPUs and 1700 MB on a control-plane node`);
    };
}

function instanceTypeReady(group: HostGroup) {
    return (payload: { issues: readonly { code?: string; path?: PropertyKey[] }[] }) =>
        !hasIssuesAt(payload.issues, ["cloud"], [group, "instanceType"]);
}

/** Instance type names per cloud: Aliyun's start with `ecs.`, AWS's are `<family>.<size>`. */
const instanceTypePatterns: Record<Cloud, RegExp> = {
    aliyun: /^ecs\.[a-z0-9-]+\.[a-z0-9-]+$/,
    aws: /^(?!ecs\.)[a-z][a-z0-9-]*\.[a-z0-9]+$/,
};
const instanceTypeExamples: Record<Cloud, string> = {
    aliyun: "an Aliyun instance type like ecs.g7.large",
    aws: "an AWS instance type like t3.medium or m7i.xlarge",
};

function reachedByPulumi(what: string): string {
    return `must list at least one CIDR: the machine that runs pulumi up reaches ${what}`;
}

// The tz database's geographic areas (its Zone names) and Etc: the names Ubuntu's tzdata package keeps;
// abbreviations (PST, CST) and legacy aliases (US/Pacific, PRC) are in tzdata-legacy or nowhere.
const timeZoneName =
    /^(?:UTC|(?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)(?:\/[A-Z][A-Za-z0-9_+-]*)+)$/;

/**
 * A time zone as tzdata names it on the hosts: the shape above, known to the runtime's ICU, and in the exact
 * case ICU lists it (the hosts' file system is case-sensitive, Intl is not).
 */
function isCanonicalTimeZone(name: string): boolean {
    if (!timeZoneName.test(name)) return false;
    try {
        new Intl.DateTimeFormat("en", { timeZone: name });
    } catch {
        return false;
    }
    const listed = Intl.supportedValuesOf("timeZone").find((zone) => zone.toLowerCase() === name.toLowerCase());
    return listed === undefined || listed === name;
}
