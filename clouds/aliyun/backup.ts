// Where the etcd members put their snapshots on Aliyun: a private OSS bucket (private ACL, public access
// blocked, encrypted, versioned, snapshots expired after kubeha:backup.retentionDays) and a RAM role for
// the members' ECS instances, allowed to put and list under the cluster's prefix and nothing else
// (render/backup.ts aliyunBackupPolicy). The members use OSS's S3-compatible API over the region's
// internal endpoint. The bucket outlives `pulumi destroy` (retainOnDelete): the lifecycle rule empties it.
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { aliyunBackupPolicy, backupPrefix, BackupTarget } from "../../render/backup";
import { BackupStore, ClusterHost } from "../../components/hosts";
import { BackupStoreArgs, backupNames } from "../cloud";

export class AliyunBackupStore extends pulumi.ComponentResource implements BackupStore {
    readonly target: pulumi.Output<BackupTarget>;
    readonly bucket: pulumi.Output<string>;
    readonly prefix: string;
    /** The etcd members' RAM role: masters that run etcd members hold it, and their other policies join it. */
    readonly roleName: pulumi.Output<string>;

    constructor(name: string, args: BackupStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:aliyun:BackupStore", name, {}, opts);
        const { config } = args;
        const prefix = backupPrefix(args.clusterName);
        this.prefix = prefix;
        const days = config.backup.retentionDays;
        const names = backupNames(args);
        const bucket = new alicloud.oss.Bucket(
            `${name}-bucket`,
            {
                bucket: names.bucket,
                serverSideEncryptionRule: { sseAlgorithm: "AES256" },
                versioning: { status: "Enabled" },
                lifecycleRules: [
                    {
                        id: "expire-snapshots",
                        enabled: true,
                        prefix,
                        expirations: [{ days }],
                        noncurrentVersionExpirations: [{ days }],
                        abortMultipartUploads: [{ days: 1 }],
                    },
                ],
            },
            { parent: this, retainOnDelete: true },
        );
        const owned = { parent: this, deletedWith: bucket };
        new alicloud.oss.BucketAcl(`${name}-acl`, { bucket: bucket.bucket, acl: "private" }, owned);
        new alicloud.oss.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket: bucket.bucket, blockPublicAccess: true },
            owned,
        );
        const role = new alicloud.ram.Role(
            `${name}-role`,
            {
                roleName: names.role,
                description: "etcd members of this cluster: put their snapshots in its backup bucket",
                assumeRolePolicyDocument: JSON.stringify({
                    Version: "1",
                    Statement: [
                        { Effect: "Allow", Principal: { Service: ["ecs.aliyuncs.com"] }, Action: "sts:AssumeRole" },
                    ],
                }),
            },
            { parent: this },
        );
        const policy = new alicloud.ram.Policy(
            `${name}-put-snapshots`,
            {
                policyName: names.role,
                description: "put and list etcd snapshots under the cluster's prefix",
                policyDocument: bucket.bucket.apply((id) => JSON.stringify(aliyunBackupPolicy(id, prefix))),
            },
            { parent: this },
        );
        new alicloud.ram.RolePolicyAttachment(
            `${name}-role-policy`,
            { roleName: role.roleName, policyName: policy.policyName, policyType: "Custom" },
            { parent: this },
        );
        this.bucket = bucket.bucket;
        this.roleName = role.roleName;
        this.target = pulumi.all([bucket.bucket, role.roleName]).apply(([id, roleName]): BackupTarget => ({
            bucket: id,
            prefix,
            endpoint: `https://oss-${config.region}-internal.aliyuncs.com`,
            region: config.region,
            provider: "Alibaba",
            metadata: "aliyun-hardened",
            metadataUrl: "http://100.100.100.200",
            role: roleName,
        }));
        this.registerOutputs({ bucket: this.bucket });
    }

    /** Gives each etcd member's instance the role (its credentials come from the metadata service). */
    attachTo(members: readonly ClusterHost[]): void {
        for (const member of members) {
            new alicloud.ecs.RamRoleAttachment(
                `${member.name}-backup-role`,
                { instanceId: member.instance.id, ramRoleName: this.roleName },
                { parent: this, deletedWith: member.instance },
            );
        }
    }
}
