// The catalogue of remote steps: for each, the script under scripts/ it runs, the hosts it runs on, the
// KUBEHA_* variables it reads, and whether it handles secrets. Pure data: the bootstrap builds each
// remote.Command from it (create or delete = installedScript(id), environment = stepEnvironment(id, ...)),
// and test/scripts.test.ts holds every script to the variables listed here.
import { HostRole } from "../config/layout";

/** Where the step scripts and lib.sh lie, side by side, on every host. */
export const scriptInstallDir = "/usr/local/lib/kubeha";

/** The shared helpers every step script but the standalone ones sources. */
export const scriptLibrary = "lib.sh";

/** Installed beside the scripts: the snapshot selection of etcd-backup.sh check (and of etcd-snapshot-pick.sh). */
export const snapshotSelector = "etcd-snapshot-select.py";

export type NodeRole = Exclude<HostRole, "bastion">;

export interface StepVariable {
    readonly description: string;
    /** The script's own default when the variable is unset; a variable without one is required. */
    readonly default?: string;
}

export interface Step {
    /** Resource name suffix: the step's remote.Command on host h is `h-<name>`. */
    readonly name: string;
    /** File name under scripts/ (installed in scriptInstallDir). */
    readonly script: string;
    readonly summary: string;
    /** Roles of the hosts the command runs on. */
    readonly roles: readonly NodeRole[];
    /**
     * Which of those hosts: every one (in parallel), the first in layout order, or all but the first;
     * etcd-members limits them to hosts that run an etcd member.
     */
    readonly hosts: "every" | "first" | "all-but-first" | "etcd-members" | "first-etcd-member";
    /**
     * Set for a step that runs on a master on behalf of other nodes: one command per node of these roles,
     * named after that node, with KUBEHA_NODE_NAME = its node name.
     */
    readonly forEachNode?: readonly NodeRole[];
    /**
     * create: the command's create (it runs again when an input changes); update: its update only (runs when an
     * input changes, never on creation); delete: its delete (runs before the node's instance goes); none: no
     * command of its own.
     */
    readonly phase: "create" | "update" | "delete" | "none";
    readonly variables: Readonly<Record<`KUBEHA_${string}`, StepVariable>>;
    /** Handles secret material (stdin, config files with tokens): logging "none" and secret outputs. */
    readonly secret: boolean;
    /** What the command's stdin carries, if anything. */
    readonly stdin?: string;
    /** Sent on stdin to `bash -s` (with the step's own stdin after it), not run from scriptInstallDir: sources no lib.sh. */
    readonly standalone?: boolean;
    /** A condition under which the bootstrap creates the step at all. */
    readonly onlyWhen?: string;
    /** Runs on the bastion on the host's behalf (the host cannot be reached yet). */
    readonly fromBastion?: boolean;
    /**
     * The command only queues this other catalogue entry as a unit on the host, which waits for the host's boot
     * itself and does the work after the command returned: no Pulumi slot is held meanwhile (plan/latency.ts).
     */
    readonly queues?: string;
}

const timeout = (seconds: number, what: string) =>
    ({ KUBEHA_TIMEOUT: { description: `seconds ${what} may take in all`, default: String(seconds) } }) as const;

const etcdClient = {
    KUBEHA_ETCD_ENDPOINTS: {
        description: "client URL of every etcd member, comma-separated (etcdClientUrls in render/etcd.ts)",
    },
    KUBEHA_ETCD_CACERT: { description: "etcd CA certificate (etcdPki.ca)" },
    KUBEHA_ETCD_CERT: { description: "client certificate etcdctl presents (etcdPki.healthcheckClientCert)" },
    KUBEHA_ETCD_KEY: { description: "its private key (etcdPki.healthcheckClientKey)" },
} as const;

const etcdMember = {
    KUBEHA_ETCD_CONFIG: { description: "this member's etcd --config-file (etcdConfigPath)" },
    KUBEHA_ETCD_DISK: {
        description: "mount point of the etcd disk (etcdDiskMountPoint): the step refuses unless it is mounted there",
    },
    ...etcdClient,
} as const;

const kubeadmConfig = (command: string) =>
    ({
        KUBEHA_KUBEADM_CONFIG: {
            description: `the kubeadm ${command} --config file; it holds the bootstrap token, so root's alone (0600)`,
        },
    }) as const;

const nodeName = (whose: string) => ({ KUBEHA_NODE_NAME: { description: whose } }) as const;

/** What a worker's join reads, in the unit join-worker queues (the step passes them on). */
const joinWorkerVariables = {
    ...kubeadmConfig("join"),
    ...nodeName("this worker's node name"),
    ...timeout(2100, "the wait for the boot preparation (up to 1200 s, as the ready step's) and the join"),
} as const;

/** The transient systemd unit in which a worker joins (scripts/queue-join-worker.sh starts it). */
export const workerJoinUnit = "kubeha-join-worker.service";

const kubernetesTarget = {
    KUBEHA_KUBERNETES_VERSION: {
        description: "the exact Kubernetes version to run, 1.37.2 (exactKubernetesVersion of kubernetesVersion)",
    },
} as const;

const installFiles = {
    script: "install-files.sh",
    roles: ["master", "etcd", "worker"],
    hosts: "every",
    phase: "create",
    variables: {
        KUBEHA_ROOT: { description: "tests only: directory the paths are relative to; unset on hosts", default: "" },
    },
    stdin: "the host's files as a bundle (encodeBundle in render/file-bundle.ts)",
    standalone: true,
} as const;

/** Every step, in the order the bootstrap runs them on a host. */
export const steps = {
    ssh: {
        name: "ssh",
        script: "wait-for-ssh.sh",
        summary: "waits, polling from the bastion with back-off, until the host's sshd answers",
        roles: ["master", "etcd", "worker"],
        hosts: "every",
        phase: "create",
        variables: {
            KUBEHA_HOST: { description: "the host's private address" },
            KUBEHA_PORT: { description: "the port to wait for", default: "22" },
            KUBEHA_HOST_KEY: {
                description: "the host key the program pinned (`<type> <base64>`): a different one fails the step",
                default: "",
            },
            ...timeout(900, "the host's start"),
        },
        secret: false,
        standalone: true,
        fromBastion: true,
    },
    ready: {
        name: "ready",
        script: "wait-cloud-init.sh",
        summary:
            "waits until cloud-init finished the boot preparation; names the stage that failed (a worker's join waits for it on the worker instead)",
        roles: ["master", "etcd"],
        hosts: "every",
        phase: "create",
        variables: timeout(1200, "the boot preparation"),
        secret: false,
        standalone: true,
    },
    files: {
        name: "files",
        summary: "installs the host's configuration files and certificates (content, mode, atomically)",
        secret: false,
        ...installFiles,
    },
    keys: {
        name: "keys",
        summary: "installs the host's private keys and secret files (0600)",
        secret: true,
        ...installFiles,
    },
    "kubeadm-config": {
        name: "kubeadm-config",
        summary:
            "installs the host's kubeadm configuration (it holds the bootstrap token); joined hosts keep theirs when a new token is drawn",
        secret: true,
        ...installFiles,
        roles: ["master", "worker"],
    },
    etcd: {
        name: "etcd",
        script: "start-etcd.sh",
        summary: "enables and starts etcd.service, restarts it on changed files; replaces a member of a replaced host",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "create",
        variables: { ...etcdMember, ...timeout(300, "a member replacement") },
        secret: false,
    },
    "etcd-health": {
        name: "etcd-health",
        script: "etcd-health.sh",
        summary: "gate: every etcd member healthy over mutual TLS and started",
        roles: ["master", "etcd"],
        hosts: "first-etcd-member",
        phase: "create",
        variables: { ...etcdClient, ...timeout(300, "the wait for a healthy cluster") },
        secret: false,
    },
    init: {
        name: "init",
        script: "kubeadm-init.sh",
        summary: "kubeadm init on the first master, unless initialised already",
        roles: ["master"],
        hosts: "first",
        phase: "create",
        variables: { ...kubeadmConfig("init"), ...timeout(900, "kubeadm init and the API server") },
        secret: true,
    },
    token: {
        name: "token",
        script: "ensure-bootstrap-token.sh",
        summary: "keeps the current bootstrap token on the cluster, so nodes added months later still join",
        roles: ["master"],
        hosts: "first",
        phase: "create",
        variables: { ...kubeadmConfig("init"), ...timeout(300, "the token list and creation") },
        secret: true,
    },
    "join-control-plane": {
        name: "join",
        script: "join-control-plane.sh",
        summary: "kubeadm join --control-plane of the other masters, unless joined already",
        roles: ["master"],
        hosts: "all-but-first",
        phase: "create",
        variables: {
            ...kubeadmConfig("join"),
            ...nodeName("this master's node name"),
            ...timeout(900, "the join"),
        },
        secret: true,
    },
    "join-worker": {
        name: "join",
        script: "queue-join-worker.sh",
        summary:
            "queues the worker's join as a systemd unit on it (join-worker-unit) and returns at once: the unit waits for the boot, joins and retries until joined, holding no Pulumi slot; workers-joined waits for them all",
        roles: ["worker"],
        hosts: "every",
        phase: "create",
        variables: {
            ...joinWorkerVariables,
            KUBEHA_JOIN_UNIT: { description: "the transient unit that joins (workerJoinUnit)" },
        },
        secret: true,
        queues: "join-worker-unit",
    },
    "join-worker-unit": {
        name: "join-unit",
        script: "join-worker.sh",
        summary:
            "run by the unit join-worker queues (no command of its own): waits for the boot preparation, then kubeadm join, unless joined already; the unit retries it until it succeeds",
        roles: ["worker"],
        hosts: "every",
        phase: "none",
        variables: joinWorkerVariables,
        secret: true,
    },
    "workers-joined": {
        name: "workers-joined",
        script: "wait-workers-joined.sh",
        summary:
            "gate on the first master: waits until every new or replaced worker's Node is registered (their queued joins done), naming those that are not",
        roles: ["master"],
        hosts: "first",
        phase: "create",
        variables: {
            KUBEHA_WORKERS: {
                description:
                    "every worker as <node name>=<instance id>, comma-separated: it waits for those it has not seen joined with that instance",
            },
            KUBEHA_JOIN_UNIT: {
                description: "the unit that joins each worker, for the failure's hints (workerJoinUnit)",
            },
            KUBEHA_STRAGGLER_SECONDS: {
                description:
                    "once some workers joined, how long the others may lag behind the last join before it fails",
                default: "600",
            },
            ...timeout(1800, "the workers' boot and join"),
        },
        secret: false,
    },
    "serving-cert": {
        name: "serving-cert",
        script: "approve-kubelet-serving.sh",
        summary:
            "approves a node's kubelet serving CSR when the node, its names and addresses check out; waits until the kubelet serves",
        roles: ["master"],
        hosts: "first",
        forEachNode: ["master", "worker"],
        phase: "create",
        variables: {
            KUBEHA_NODES_FILE: {
                description:
                    "every node that may ask, one a line: its name, then its addresses and DNS names comma-separated (kubeletServingApprover.nodesFile)",
            },
            KUBEHA_NODE_NAME: {
                description:
                    "the node whose serving certificate to approve and wait for; unset (the timer): one pass over every node's pending requests",
                default: "",
            },
            ...timeout(300, "the wait for the kubelet's certificate"),
        },
        secret: false,
        onlyWhen: "the KubeletConfiguration sets serverTLSBootstrap: true",
    },
    "serving-approver": {
        name: "serving-approver",
        script: "enable-timer.sh",
        summary:
            "enables the timer that approves kubelet serving certificate renewals (scripts/approve-kubelet-serving.sh) on every master",
        roles: ["master"],
        hosts: "every",
        phase: "create",
        variables: {
            KUBEHA_TIMER: { description: "the .timer unit to load, enable and start (kubeletServingApprover.timer)" },
        },
        secret: false,
        onlyWhen: "the KubeletConfiguration sets serverTLSBootstrap: true",
    },
    "kubeconfig-renewal": {
        name: "kubeconfig-renewal",
        script: "renew-kubeconfigs.sh",
        summary:
            "run by kubeha-renew-kubeconfigs.timer (no command of its own): renews the certificates kubeadm embedded in a master's kubeconfigs before they expire, restarting the controller-manager and scheduler",
        roles: ["master"],
        hosts: "every",
        phase: "none",
        variables: {
            KUBEHA_RENEW_BEFORE_HOURS: {
                description: "renew a certificate that expires within this many hours (kubeha:pki.earlyRenewalHours)",
            },
            KUBEHA_KUBEADM_CONFIG: {
                description: "the ClusterConfiguration kubeadm certs renew reads (kubeconfigRenewal.kubeadmConfig)",
            },
            KUBEHA_KUBERNETES_DIR: { description: "where the kubeconfigs are", default: "/etc/kubernetes" },
        },
        secret: false,
    },
    "renewal-timer": {
        name: "renewal-timer",
        script: "enable-timer.sh",
        summary: "enables the daily timer that renews kubeadm's kubeconfig certificates on every master",
        roles: ["master"],
        hosts: "every",
        phase: "create",
        variables: {
            KUBEHA_TIMER: { description: "the .timer unit to load, enable and start (kubeconfigRenewal.timer)" },
        },
        secret: false,
    },
    "apiserver-restart": {
        name: "apiserver-restart",
        script: "restart-apiserver.sh",
        summary:
            "on re-issued certificates (nothing on creation: a new master's apiserver starts after its files), restarts the kube-apiserver when it started before they were written, then waits until it is ready; masters one after another",
        roles: ["master"],
        hosts: "every",
        phase: "update",
        variables: {
            KUBEHA_APISERVER_CERTS: {
                description:
                    "the certificate files the kube-apiserver reads, comma-separated, in the digest's order (apiserverCertificates)",
            },
            KUBEHA_APISERVER_CERTS_DIGEST: {
                description:
                    "sha256 over those files' paths and contents as the program issued them (digestOf): its change runs the step, which refuses other files on disk",
            },
            ...timeout(300, "the restart and the wait for readiness"),
        },
        secret: false,
    },
    "etcd-backup": {
        name: "etcd-backup",
        script: "etcd-backup.sh",
        summary:
            "run by kubeha-etcd-backup.timer (no command of its own): the leader's snapshot, checked, compressed, uploaded with its sha256; `check` (kubeha-etcd-backup-check.timer) fails while the bucket's newest snapshot is stale",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "none",
        variables: {
            KUBEHA_ETCD_CONFIG: { description: "this member's etcd --config-file (etcdConfigPath)" },
            KUBEHA_ETCD_CACERT: etcdClient.KUBEHA_ETCD_CACERT,
            KUBEHA_ETCD_CERT: etcdClient.KUBEHA_ETCD_CERT,
            KUBEHA_ETCD_KEY: etcdClient.KUBEHA_ETCD_KEY,
            KUBEHA_BACKUP_BUCKET: { description: "the bucket the program created, or kubeha:backup.s3's" },
            KUBEHA_BACKUP_PREFIX: {
                description: "where in it: etcd/<cluster>/ (backupPrefix), or kubeha:backup.s3.prefix",
            },
            KUBEHA_BACKUP_ENDPOINT: {
                description: "the S3 API endpoint (AWS S3, OSS's S3-compatible one, or kubeha:backup.s3.endpoint)",
            },
            KUBEHA_BACKUP_REGION: { description: "the bucket's region" },
            KUBEHA_BACKUP_PROVIDER: { description: "rclone's S3 provider: AWS, Alibaba or Other" },
            KUBEHA_METADATA: {
                description:
                    "aws-imdsv2 or aliyun-hardened: the instance role's credentials from the metadata service; static: the key pair in KUBEHA_BACKUP_CREDENTIALS_FILE",
            },
            KUBEHA_METADATA_URL: { description: "the metadata service's base URL (not static)", default: "" },
            KUBEHA_BACKUP_ROLE: { description: "the instance role's name (not static)", default: "" },
            KUBEHA_BACKUP_CREDENTIALS_FILE: {
                description:
                    'static: the key pair\'s file, root only, {"AccessKeyId", "SecretAccessKey"} (etcdBackup.credentialsFile)',
                default: "",
            },
            KUBEHA_BACKUP_WORK_DIR: {
                description: "a directory on the etcd disk for the snapshot (etcdBackup.workDir)",
            },
            KUBEHA_BACKUP_SCHEDULE: {
                description:
                    "the timers' OnCalendar= (kubeha:backup.schedule): `check` counts the runs since the newest snapshot",
            },
            KUBEHA_BACKUP_STALE_RUNS: {
                description:
                    "`check` fails after this many scheduled runs without a newer snapshot (kubeha:backup.staleAfterRuns)",
                default: "3",
            },
        },
        secret: false,
        onlyWhen: "kubeha:backup.enabled",
    },
    "backup-timer": {
        name: "backup-timer",
        script: "enable-timer.sh",
        summary:
            "enables the etcd backup timer (only the leader uploads) and the staleness check's timer on every etcd member",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "create",
        variables: {
            KUBEHA_TIMER: {
                description:
                    "the .timer units to load, enable and start, comma-separated (etcdBackup.timer, checkTimer)",
            },
        },
        secret: false,
        onlyWhen: "kubeha:backup.enabled",
    },
    "etcd-restore": {
        name: "etcd-restore",
        script: "etcd-restore.sh",
        summary:
            "run by an operator on every member (README, Backups and restore): restores a snapshot into a fresh data directory",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "none",
        variables: {
            KUBEHA_ETCD_CONFIG: { description: "this member's etcd --config-file (etcdConfigPath)" },
            KUBEHA_SNAPSHOT: { description: "the snapshot file on the host (.db or .db.gz)" },
            KUBEHA_CLUSTER_TOKEN: { description: "a new cluster token, the same on every member" },
            KUBEHA_SNAPSHOT_SHA256: { description: "sha256 of the snapshot file, the same on every member" },
            KUBEHA_BUMP_REVISION: { description: "how far the restored revision is raised", default: "1000000000" },
            KUBEHA_ETCD_DISK: {
                description: "mount point of the etcd disk (etcdDiskMountPoint): refused unless it is mounted there",
                default: "/var/lib/etcd",
            },
            KUBEHA_APISERVER_MANIFEST: {
                description: "the kube-apiserver's static pod manifest: refused while it is in place",
                default: "/etc/kubernetes/manifests/kube-apiserver.yaml",
            },
            KUBEHA_ETCD_CACERT: { ...etcdClient.KUBEHA_ETCD_CACERT, default: "/etc/etcd/pki/ca.crt" },
            KUBEHA_ETCD_CERT: { ...etcdClient.KUBEHA_ETCD_CERT, default: "/etc/etcd/pki/healthcheck-client.crt" },
            KUBEHA_ETCD_KEY: { ...etcdClient.KUBEHA_ETCD_KEY, default: "/etc/etcd/pki/healthcheck-client.key" },
            KUBEHA_QUIET_SECONDS: {
                description: "how long etcd's revision must stay still (no apiserver writing) before the restore",
                default: "15",
            },
        },
        secret: false,
    },
    "remove-node": {
        name: "remove-node",
        script: "remove-node.sh",
        summary: "scale-down: cordons, drains and deletes a worker's Node; succeeds when it is gone",
        roles: ["master"],
        hosts: "first",
        forEachNode: ["worker"],
        phase: "delete",
        variables: { ...nodeName("the node to remove"), ...timeout(600, "the drain and delete") },
        secret: false,
    },
    "upgrade-check": {
        name: "upgrade-check",
        script: "upgrade-check.sh",
        summary:
            "before a Kubernetes upgrade touches any host: refuses a downgrade or a skipped minor from the versions the cluster runs",
        roles: ["master"],
        hosts: "first",
        phase: "create",
        variables: { ...kubernetesTarget, ...timeout(300, "reading the cluster's versions") },
        secret: false,
    },
    "upgrade-drain": {
        name: "upgrade-drain",
        script: "upgrade-drain.sh",
        summary: "Kubernetes upgrade: cordons and drains a node that does not run the target yet",
        roles: ["master"],
        hosts: "first",
        forEachNode: ["master", "worker"],
        phase: "update",
        variables: { ...nodeName("the node to drain"), ...kubernetesTarget, ...timeout(600, "the drain") },
        secret: false,
    },
    upgrade: {
        name: "upgrade",
        script: "upgrade-node.sh",
        summary:
            "Kubernetes upgrade of one node: kubeadm from the target's repository, kubeadm upgrade apply|node, kubelet and kubectl, kubelet restart",
        roles: ["master", "worker"],
        hosts: "every",
        phase: "update",
        variables: {
            ...kubernetesTarget,
            ...nodeName("this node's name"),
            KUBEHA_KUBEADM_UPGRADE: {
                description:
                    "apply on the first master (kubeadm upgrade apply v<target>), node elsewhere (kubeadm upgrade node)",
            },
            KUBEHA_IGNORE_PREFLIGHT_ERRORS: {
                description:
                    "kubeadm preflight checks to ignore, comma-separated: kubeha:ignorePreflightErrors, as init and join get them",
                default: "",
            },
            ...timeout(900, "the node's upgrade"),
        },
        stdin: "the apt source and pin of the target's minor, as a bundle for install-files.sh (kubernetesAptFiles)",
        secret: false,
    },
    "upgrade-uncordon": {
        name: "upgrade-uncordon",
        script: "upgrade-uncordon.sh",
        summary: "Kubernetes upgrade: waits until the node is Ready at the target, then lifts kubeha's cordon",
        roles: ["master"],
        hosts: "first",
        forEachNode: ["master", "worker"],
        phase: "update",
        variables: {
            ...nodeName("the upgraded node"),
            ...kubernetesTarget,
            ...timeout(300, "the wait for the node to be Ready"),
        },
        secret: false,
    },
    "etcd-upgrade": {
        name: "etcd-upgrade",
        script: "upgrade-etcd.sh",
        summary:
            "etcd upgrade of one member: refuses a path etcd does not support, snapshots the member before a minor upgrade, installs the checked release, restarts, waits until it and the cluster are healthy at the target",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "update",
        variables: {
            KUBEHA_ETCD_VERSION: { description: "the exact etcd release to run, 3.6.16 (etcdVersion)" },
            KUBEHA_ETCD_RELEASE: {
                description: "URL of its etcd-v<version>-linux-amd64.tar.gz, SHA256SUMS beside it (etcdReleaseUrl)",
            },
            KUBEHA_ETCD_SHA256: {
                description: "the tarball's pinned SHA-256 (etcdReleaseSha256); empty: the mirror's SHA256SUMS",
                default: "",
            },
            KUBEHA_ETCD_BIN_DIR: { description: "where etcd, etcdctl and etcdutl lie (etcdBinDir)" },
            KUBEHA_ETCD_CONFIG: { description: "this member's etcd --config-file (etcdConfigPath)" },
            KUBEHA_ETCD_SNAPSHOT_DIR: {
                description:
                    "where the snapshot before a minor upgrade goes, on the etcd disk (etcdUpgradeSnapshotDir)",
            },
            ...etcdClient,
            ...timeout(600, "the member's upgrade and the wait for a healthy cluster"),
        },
        secret: false,
    },
    "replace-etcd-member": {
        name: "replace-etcd-member",
        script: "replace-etcd-member.sh",
        summary:
            "member remove, member add, start with initial-cluster-state existing (start-etcd runs it when needed)",
        roles: ["master", "etcd"],
        hosts: "etcd-members",
        phase: "none",
        variables: { ...etcdMember, ...timeout(300, "the replacement") },
        secret: false,
    },
} as const satisfies Record<string, Step>;

export type StepId = keyof typeof steps;

export const stepIds = Object.keys(steps) as StepId[];

type Variables<Id extends StepId> = (typeof steps)[Id]["variables"];
type Required<Id extends StepId, Value> = {
    [K in keyof Variables<Id> as Variables<Id>[K] extends { default: string } ? never : K]: Value;
};
type Optional<Id extends StepId, Value> = {
    [K in keyof Variables<Id> as Variables<Id>[K] extends { default: string } ? K : never]?: Value;
};
/** The values a step takes: every required variable, and any optional one (strings, or values still to come). */
export type StepValues<Id extends StepId, Value = string> = Required<Id, Value> & Optional<Id, Value>;

/** The command text: the installed script's path (every parameter travels in the environment). */
export function installedScript(id: StepId): string {
    return `${scriptInstallDir}/${steps[id].script}`;
}

/** The files to install in scriptInstallDir on every host: lib.sh and every step script. */
export function installedScriptFiles(): string[] {
    return [scriptLibrary, ...new Set(stepIds.map((id) => steps[id].script)), snapshotSelector];
}

/** The remote.Command environment of a step, checked against the catalogue; keys sorted, for stable diffs. */
export function stepEnvironment<Id extends StepId, Value = string>(
    id: Id,
    values: StepValues<Id, Value>,
): Record<string, Value> {
    const variables: Record<string, StepVariable> = steps[id].variables;
    const given: Record<string, Value | undefined> = values;
    const unknown = Object.keys(given).filter((name) => !(name in variables));
    if (unknown.length > 0) throw new Error(`step ${id} does not read ${unknown.join(", ")}`);
    const missing = Object.keys(variables).filter((name) => variables[name].default === undefined && !given[name]);
    if (missing.length > 0) throw new Error(`step ${id} needs ${missing.join(", ")}`);
    return Object.fromEntries(
        Object.keys(given)
            .filter((name) => given[name] !== undefined)
            .sort()
            .map((name) => [name, given[name] as Value]),
    );
}
