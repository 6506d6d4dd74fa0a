// Where the etcd members put their snapshots on AWS: a private S3 bucket (public access blocked, encrypted,
// versioned, snapshots expired after kubeha:backup.retentionDays) and the members' instance role, allowed
// to put and list under the cluster's prefix and nothing else (render/backup.ts awsBackupPolicy). The
// bucket outlives `pulumi destroy` (retainOnDelete): the lifecycle rule empties it.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { awsBackupPolicy, backupPrefix, BackupTarget } from "../../render/backup";
import { BackupStore } from "../../components/hosts";
import { BackupStoreArgs, backupNames } from "../cloud";

export class AwsBackupStore extends pulumi.ComponentResource implements BackupStore {
    readonly target: pulumi.Output<BackupTarget>;
    readonly bucket: pulumi.Output<string>;
    readonly prefix: string;
    /** The etcd members' instance profile (ec2.Instance iamInstanceProfile). */
    readonly instanceProfile: pulumi.Output<string>;
    /** The role behind it: masters that run etcd members hold it, and their other policies join it. */
    readonly roleName: pulumi.Output<string>;

    constructor(name: string, args: BackupStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:aws:BackupStore", name, {}, opts);
        const { config } = args;
        const prefix = backupPrefix(args.clusterName);
        this.prefix = prefix;
        const days = config.backup.retentionDays;
        const names = backupNames(args);
        const bucket = new aws.s3.Bucket(
            `${name}-bucket`,
            { bucket: names.bucket },
            { parent: this, retainOnDelete: true },
        );
        const owned = { parent: this, deletedWith: bucket };
        new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            {
                bucket: bucket.id,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            owned,
        );
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
            owned,
        );
        new aws.s3.BucketVersioning(
            `${name}-versioning`,
            { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
            owned,
        );
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-retention`,
            {
                bucket: bucket.id,
                rules: [
                    {
                        id: "expire-snapshots",
                        status: "Enabled",
                        filter: { prefix },
                        expiration: { days },
                        // Versioning keeps an overwritten or deleted snapshot: it goes after the same time.
                        noncurrentVersionExpiration: { noncurrentDays: days },
                        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
                    },
                ],
            },
            owned,
        );
        const role = new aws.iam.Role(
            `${name}-role`,
            {
                name: names.role,
                description: "etcd members of this cluster: put their snapshots in its backup bucket",
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [
                        { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
                    ],
                }),
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(
            `${name}-put-snapshots`,
            { role: role.id, policy: bucket.bucket.apply((id) => JSON.stringify(awsBackupPolicy(id, prefix))) },
            { parent: this },
        );
        const profile = new aws.iam.InstanceProfile(
            `${name}-profile`,
            { name: names.role, role: role.name },
            { parent: this },
        );
        this.bucket = bucket.bucket;
        this.instanceProfile = profile.name;
        this.roleName = role.name;
        this.target = pulumi.all([bucket.bucket, role.name]).apply(([id, roleName]): BackupTarget => ({
            bucket: id,
            prefix,
            endpoint: `https://s3.${config.region}.amazonaws.com`,
            region: config.region,
            provider: "AWS",
            metadata: "aws-imdsv2",
            metadataUrl: "http://169.254.169.254",
            role: roleName,
        }));
        this.registerOutputs({ bucket: this.bucket });
    }
}
