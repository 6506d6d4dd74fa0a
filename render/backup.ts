// etcd backups: what lands on every etcd member (the timer, its service, the settings of scripts/etcd-backup.sh and,
// on cloud machines, the key pair of the user's bucket) and the least-privilege policies of the instance role that
// uploads (AWS IAM, Aliyun RAM). Pure data: the cloud components fill in the bucket they create.
import { HostFile } from "./host-file";
import { etcdConfigPath, etcdDiskMountPoint, etcdPki } from "./etcd";
import { scriptInstallDir, snapshotSelector } from "./steps";

export const etcdBackup = {
    script: `${scriptInstallDir}/etcd-backup.sh`,
    envFile: "/etc/kubeha/etcd-backup.env",
    /** Static credentials (cloud machines: kubeha:backup.s3), root only: {"AccessKeyId", "SecretAccessKey"}. */
    credentialsFile: "/etc/kubeha/etcd-backup-credentials.json",
    service: "kubeha-etcd-backup.service",
    timer: "kubeha-etcd-backup.timer",
    /** `etcd-backup.sh check` on the same schedule: fails when the bucket's newest complete snapshot is stale. */
    checkService: "kubeha-etcd-backup-check.service",
    checkTimer: "kubeha-etcd-backup-check.timer",
    /** Beside each snapshot object: its sha256, in sha256sum's format. */
    checksumSuffix: ".sha256",
    /** The snapshot while it is taken and compressed: on the etcd disk, which has room for it. */
    workDir: `${etcdDiskMountPoint}/backup`,
    /** Outcome files for operators (written by the script). */
    lastSuccess: "/var/lib/kubeha/etcd-backup.last",
    lastFailure: "/var/lib/kubeha/etcd-backup.failed",
    /** Written by the check while backups are stale (what is newest, and since when), removed once they are not. */
    stale: "/var/lib/kubeha/etcd-backup.stale",
    /** The snapshot selection both the check (on the members) and etcd-snapshot-pick.sh (the operator's) use. */
    selector: snapshotSelector,
} as const;

/** Scripts under scripts/ for the operator's own machine: never installed on a host. */
export const operatorScripts = ["etcd-snapshot-pick.sh"] as const;

const unitDir = "/etc/systemd/system";

/** The files renderEtcdBackupFiles renders, in its order. */
export const etcdBackupPaths = [
    etcdBackup.envFile,
    `${unitDir}/${etcdBackup.service}`,
    `${unitDir}/${etcdBackup.timer}`,
    `${unitDir}/${etcdBackup.checkService}`,
    `${unitDir}/${etcdBackup.checkTimer}`,
] as const;

/** When backups run, and how many scheduled runs may pass without a new snapshot before the check fails. */
export interface BackupSchedule {
    /** systemd calendar expression (OnCalendar=). */
    readonly schedule: string;
    readonly staleAfterRuns: number;
}

/** Where in the bucket a cluster's snapshots go: one prefix per cluster, the only place the role may write. */
export function backupPrefix(clusterName: string): string {
    return `etcd/${clusterName}/`;
}

/** How an etcd member reaches the bucket and gets its credentials. */
export type BackupTarget = InstanceRoleTarget | StaticCredentialsTarget;

interface BucketAt {
    readonly bucket: string;
    readonly prefix: string;
    /** The S3 API endpoint (AWS S3, OSS's S3-compatible endpoint, or the user's). */
    readonly endpoint: string;
    readonly region: string;
}

/** The clouds: the instance role's temporary credentials from the metadata service. */
export interface InstanceRoleTarget extends BucketAt {
    /** rclone's name for the S3 provider. */
    readonly provider: "AWS" | "Alibaba";
    readonly metadata: "aws-imdsv2" | "aliyun-hardened";
    readonly metadataUrl: string;
    /** The instance role's name (the metadata path of its credentials). */
    readonly role: string;
}

/** Cloud machines: a key pair of the user's, in etcdBackup.credentialsFile (renderEtcdBackupCredentials). */
export interface StaticCredentialsTarget extends BucketAt {
    readonly provider: "Other";
    readonly metadata: "static";
}

/** The key pair of an S3-compatible bucket (cloud machines: kubeha:backup.s3): secrets. */
export interface StaticCredentials {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

/** The members' credentials file: JSON with the names the AWS metadata service uses, which the script reads alike. */
export function renderEtcdBackupCredentials(credentials: StaticCredentials): HostFile {
    return {
        path: etcdBackup.credentialsFile,
        mode: "0600",
        content: `${JSON.stringify({ AccessKeyId: credentials.accessKeyId, SecretAccessKey: credentials.secretAccessKey })}\n`,
    };
}

/** The env file, the service and the timer of every etcd member. */
export function renderEtcdBackupFiles(target: BackupTarget, timing: BackupSchedule): HostFile[] {
    const { schedule, staleAfterRuns } = timing;
    const settings: Record<string, string> = {
        KUBEHA_ETCD_CONFIG: etcdConfigPath,
        KUBEHA_ETCD_CACERT: etcdPki.ca,
        KUBEHA_ETCD_CERT: etcdPki.healthcheckClientCert,
        KUBEHA_ETCD_KEY: etcdPki.healthcheckClientKey,
        KUBEHA_BACKUP_BUCKET: target.bucket,
        KUBEHA_BACKUP_PREFIX: target.prefix,
        KUBEHA_BACKUP_ENDPOINT: target.endpoint,
        KUBEHA_BACKUP_REGION: target.region,
        KUBEHA_BACKUP_PROVIDER: target.provider,
        KUBEHA_METADATA: target.metadata,
        ...(target.metadata === "static"
            ? { KUBEHA_BACKUP_CREDENTIALS_FILE: etcdBackup.credentialsFile }
            : { KUBEHA_METADATA_URL: target.metadataUrl, KUBEHA_BACKUP_ROLE: target.role }),
        KUBEHA_BACKUP_WORK_DIR: etcdBackup.workDir,
        // Calendar expressions hold spaces, commas and stars (config/calendar.ts): systemd reads the rest of the line.
        KUBEHA_BACKUP_SCHEDULE: schedule,
        KUBEHA_BACKUP_STALE_RUNS: String(staleAfterRuns),
    };
    for (const [name, value] of Object.entries(settings)) {
        const allowed =
            name === "KUBEHA_BACKUP_SCHEDULE" ? /^[A-Za-z0-9*,.:/-]+( [A-Za-z0-9*,.:/-]+)*$/ : /^[A-Za-z0-9._:/@-]+$/;
        if (!allowed.test(value)) throw new Error(`${name}: '${value}' cannot go in an env file as is`);
    }
    const env = Object.entries(settings)
        .map(([name, value]) => `${name}=${value}\n`)
        .join("");
    const { service, timer, script, checkService, checkTimer } = etcdBackup;
    const [envPath, servicePath, timerPath, checkServicePath, checkTimerPath] = etcdBackupPaths;
    return [
        {
            path: envPath,
            mode: "0644",
            content: `# Settings of ${script} (no credentials: ${
                target.metadata === "static"
                    ? `they are in ${etcdBackup.credentialsFile}, root only`
                    : "they come from the instance role"
            }).\n${env}`,
        },
        {
            path: servicePath,
            mode: "0644",
            content: `# Rendered by kubeha; started by ${timer}. Outcome: journalctl -u ${service},
# ${etcdBackup.lastSuccess} and ${etcdBackup.lastFailure}.
[Unit]
Description=etcd snapshot to the cluster's bucket (taken by the leader only)
Documentation=file://${script}
After=etcd.service
RequiresMountsFor=${etcdDiskMountPoint}

[Service]
Type=oneshot
EnvironmentFile=${envPath}
ExecStart=${script}
# Second to etcd itself on the disk and the CPU.
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
`,
        },
        {
            path: timerPath,
            mode: "0644",
            content: `# Rendered by kubeha (kubeha:backup.schedule); enabled by the <member>-backup-timer step.
[Unit]
Description=etcd snapshot to the cluster's bucket (${schedule})

[Timer]
OnCalendar=${schedule}
# A run missed while the host was down happens at its next boot.
Persistent=true
RandomizedDelaySec=2min

[Install]
WantedBy=timers.target
`,
        },
        {
            path: checkServicePath,
            mode: "0644",
            content: `# Rendered by kubeha; started by ${checkTimer}. Fails (systemctl --failed) while the newest complete snapshot
# in the bucket is older than ${staleAfterRuns} runs of ${timer}; outcome: journalctl -u ${checkService}, ${etcdBackup.stale}.
[Unit]
Description=etcd backups are current (the bucket's newest complete snapshot)
Documentation=file://${script}

[Service]
Type=oneshot
EnvironmentFile=${envPath}
ExecStart=${script} check
`,
        },
        {
            path: checkTimerPath,
            mode: "0644",
            content: `# Rendered by kubeha (kubeha:backup.schedule, staleAfterRuns); enabled by the <member>-backup-timer step.
[Unit]
Description=etcd backups are current (${schedule})

[Timer]
OnCalendar=${schedule}
Persistent=true
# Away from the backups' own runs: a check sees the snapshot a run uploads before it.
RandomizedDelaySec=10min
AccuracySec=1min

[Install]
WantedBy=timers.target
`,
        },
    ];
}

/** The AWS IAM policy of the members' instance role: put (and list) under the prefix, nothing else. */
export function awsBackupPolicy(bucket: string, prefix: string): Record<string, unknown> {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "PutSnapshots",
                Effect: "Allow",
                // Multipart uploads (large snapshots) need the abort right besides PutObject.
                Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                Resource: `arn:aws:s3:::${bucket}/${prefix}*`,
            },
            {
                Sid: "ListSnapshots",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: `arn:aws:s3:::${bucket}`,
                Condition: { StringLike: { "s3:prefix": [`${prefix}*`] } },
            },
        ],
    };
}

/** The same rights as a RAM policy for the Aliyun ECS role. */
export function aliyunBackupPolicy(bucket: string, prefix: string): Record<string, unknown> {
    return {
        Version: "1",
        Statement: [
            {
                Effect: "Allow",
                Action: ["oss:PutObject", "oss:AbortMultipartUpload"],
                Resource: [`acs:oss:*:*:${bucket}/${prefix}*`],
            },
            {
                Effect: "Allow",
                Action: ["oss:ListObjects"],
                Resource: [`acs:oss:*:*:${bucket}`],
                Condition: { StringLike: { "oss:Prefix": [`${prefix}*`] } },
            },
        ],
    };
}
