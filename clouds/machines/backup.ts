// Where the etcd members of cloud machines put their snapshots: the S3-compatible bucket the user names in
// kubeha:backup.s3, with the key pair the user gives (a secret, delivered to each member as a root-only file,
// render/backup.ts renderEtcdBackupCredentials). Nothing is created: the bucket, its retention and the key's rights
// are the user's (docs/machines.md).
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../../config/resolve";
import { BackupStore } from "../../components/hosts";
import { backupPrefix, BackupTarget } from "../../render/backup";

/** The user's bucket as the members reach it; undefined with backups off (no backup.s3, or backup.enabled false). */
export function machinesBackupStore(config: ClusterConfig, clusterName: string): BackupStore | undefined {
    const s3 = config.backup.s3;
    if (!config.backup.enabled || s3 === undefined) return undefined;
    const prefix = s3.prefix ?? backupPrefix(clusterName);
    const target: BackupTarget = {
        bucket: s3.bucket,
        prefix,
        endpoint: s3.endpoint.replace(/\/$/, ""),
        region: s3.region,
        provider: "Other",
        metadata: "static",
    };
    return {
        target: pulumi.output(target),
        prefix,
        credentials: pulumi.secret({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }),
    };
}
