// etcd backups as the plan records them, on both clouds: a private, encrypted, versioned bucket whose
// lifecycle keeps kubeha:backup.retentionDays, an instance role allowed to put and list under the cluster's
// prefix and nothing else, given to the etcd members only; the timer, its service and their settings on
// every member (systemd-analyze checks them), enabled by a step once etcd is healthy. backup.enabled false
// creates none of it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import type { PlannedResource } from "../plan/run";
import { aliyunBackupPolicy, awsBackupPolicy, backupPrefix, etcdBackup, etcdBackupPaths } from "../render/backup";
import { installedScript } from "../render/steps";
import { configFor } from "./support/config";
import { plan, Plan } from "./support/plan";
import { unitProblems } from "./support/systemd";

const hostFile = (result: Plan, host: string, file: string) => result.file(`hosts/${host}/files${file}`);
/** The one resource of a type that the backup store owns (the cloud integration's roles are not its). */
const only = (result: Plan, type: string): PlannedResource => {
    const found = result.ofType(type).filter((resource) => resource.parent === "backup-store");
    assert.equal(found.length, 1, type);
    return found[0];
};
const etcdMembers = (result: Plan) =>
    result.ofType("command:remote:Command").flatMap((step) => /^(.+)-etcd$/.exec(step.name)?.[1] ?? []);

describe("AWS: the bucket, the role and the members' instance profile", () => {
    const result = plan({ stack: "aws-dev" });
    const bucket = only(result, "aws:s3/bucket:Bucket");
    const name = bucket.inputs.bucket as string;
    const prefix = backupPrefix("kubeha-aws-dev");
    const ofBucket = (type: string) => {
        const resource = only(result, type);
        assert.equal(resource.inputs.bucket, `${bucket.name}-id`, `${type} is the backup bucket's`);
        return resource.inputs;
    };

    test("a bucket name that is a valid, lower-case DNS label sequence, and the outputs name it", () => {
        assert.match(name, /^kubeha-aws-dev-etcd-backups-[a-z0-9]{8}$/);
        assert.equal(result.outputs.backupBucket, name);
        assert.equal(result.outputs.backupPrefix, prefix);
    });

    test("private, encrypted, versioned; snapshots expire after the retention, unfinished uploads after a day", () => {
        assert.deepEqual(ofBucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), {
            bucket: `${bucket.name}-id`,
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        const encryption = ofBucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        );
        assert.deepEqual(encryption.rules, [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
        assert.deepEqual(ofBucket("aws:s3/bucketVersioning:BucketVersioning").versioningConfiguration, {
            status: "Enabled",
        });
        const [rule] = ofBucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").rules as Record<
            string,
            unknown
        >[];
        assert.deepEqual(rule.filter, { prefix });
        assert.deepEqual(rule.expiration, { days: 7 });
        assert.deepEqual(rule.noncurrentVersionExpiration, { noncurrentDays: 7 });
        assert.deepEqual(rule.abortIncompleteMultipartUpload, { daysAfterInitiation: 1 });
        assert.equal(rule.status, "Enabled");
    });

    test("the role: assumed by EC2 only; may put and list under the prefix, nothing else", () => {
        const role = only(result, "aws:iam/role:Role");
        assert.deepEqual(JSON.parse(role.inputs.assumeRolePolicy as string).Statement, [
            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
        ]);
        const policy = JSON.parse(only(result, "aws:iam/rolePolicy:RolePolicy").inputs.policy as string);
        assert.deepEqual(policy, awsBackupPolicy(name, prefix));
        const statements = policy.Statement as {
            Effect: string;
            Action: string | string[];
            Resource: string;
            Condition?: unknown;
        }[];
        assert.ok(statements.every((statement) => statement.Effect === "Allow"));
        assert.deepEqual(
            statements
                .map((statement) => [statement.Action].flat())
                .flat()
                .sort(),
            ["s3:AbortMultipartUpload", "s3:ListBucket", "s3:PutObject"],
        );
        assert.equal(statements[0].Resource, `arn:aws:s3:::${name}/${prefix}*`);
        assert.deepEqual(statements[1].Condition, { StringLike: { "s3:prefix": [`${prefix}*`] } });
        assert.equal(only(result, "aws:iam/instanceProfile:InstanceProfile").inputs.role, role.inputs.name);
    });

    test("only the etcd members carry the instance profile", () => {
        const profile = only(result, "aws:iam/instanceProfile:InstanceProfile").inputs.name;
        const members = etcdMembers(result);
        assert.equal(members.length, 3);
        for (const instance of result.ofType("aws:ec2/instance:Instance")) {
            const expected = members.includes(instance.name) ? profile : undefined;
            assert.equal(instance.inputs.iamInstanceProfile, expected, instance.name);
        }
    });

    test("the members' settings: the bucket, S3's regional endpoint, IMDSv2, the role; no credentials", () => {
        const env = hostFile(result, "master-1", etcdBackup.envFile);
        for (const line of [
            `KUBEHA_BACKUP_BUCKET=${name}`,
            `KUBEHA_BACKUP_PREFIX=${prefix}`,
            "KUBEHA_BACKUP_ENDPOINT=https://s3.eu-central-1.amazonaws.com",
            "KUBEHA_BACKUP_PROVIDER=AWS",
            "KUBEHA_METADATA=aws-imdsv2",
            "KUBEHA_METADATA_URL=http://169.254.169.254",
            `KUBEHA_BACKUP_ROLE=${only(result, "aws:iam/role:Role").inputs.name}`,
        ]) {
            assert.ok(env.includes(`\n${line}\n`), line);
        }
        assert.doesNotMatch(env, /SECRET|TOKEN|KEY_ID/);
    });
});

describe("Aliyun: the OSS bucket, the RAM role and its attachment to the members", () => {
    const result = plan({ stack: "dev" });
    const bucket = only(result, "alicloud:oss/bucket:Bucket");
    const name = bucket.inputs.bucket as string;
    const prefix = backupPrefix("kubeha-dev");

    test("private ACL, public access blocked, encrypted, versioned, expiry after the retention", () => {
        assert.match(name, /^kubeha-dev-etcd-backups-[a-z0-9]{8}$/);
        assert.deepEqual(only(result, "alicloud:oss/bucketAcl:BucketAcl").inputs, { bucket: name, acl: "private" });
        assert.deepEqual(only(result, "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs, {
            bucket: name,
            blockPublicAccess: true,
        });
        assert.deepEqual(bucket.inputs.serverSideEncryptionRule, { sseAlgorithm: "AES256" });
        assert.deepEqual(bucket.inputs.versioning, { status: "Enabled" });
        const [rule] = bucket.inputs.lifecycleRules as Record<string, unknown>[];
        assert.equal(rule.prefix, prefix);
        assert.deepEqual(rule.expirations, [{ days: 7 }]);
        assert.deepEqual(rule.noncurrentVersionExpirations, [{ days: 7 }]);
        assert.equal(rule.enabled, true);
    });

    test("the RAM role: assumed by ECS only; its one policy puts and lists under the prefix", () => {
        const role = only(result, "alicloud:ram/role:Role");
        assert.deepEqual(JSON.parse(role.inputs.assumeRolePolicyDocument as string).Statement, [
            { Effect: "Allow", Principal: { Service: ["ecs.aliyuncs.com"] }, Action: "sts:AssumeRole" },
        ]);
        const policy = only(result, "alicloud:ram/policy:Policy");
        assert.deepEqual(JSON.parse(policy.inputs.policyDocument as string), aliyunBackupPolicy(name, prefix));
        const attachment = only(result, "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment");
        assert.deepEqual(attachment.inputs, {
            roleName: role.inputs.roleName,
            policyName: policy.inputs.policyName,
            policyType: "Custom",
        });
    });

    test("each etcd member's instance, and no other, gets the role", () => {
        const backupRole = only(result, "alicloud:ram/role:Role").inputs.roleName;
        const attached = result
            .ofType("alicloud:ecs/ramRoleAttachment:RamRoleAttachment")
            .filter((attachment) => attachment.inputs.ramRoleName === backupRole)
            .map((attachment) => attachment.inputs.instanceId)
            .sort();
        assert.deepEqual(
            attached,
            etcdMembers(result)
                .map((member) => `${member}-id`)
                .sort(),
        );
    });

    test("the members' settings: OSS's internal endpoint, the hardened metadata mode", () => {
        const env = hostFile(result, "master-2", etcdBackup.envFile);
        for (const line of [
            `KUBEHA_BACKUP_BUCKET=${name}`,
            "KUBEHA_BACKUP_ENDPOINT=https://oss-cn-hangzhou-internal.aliyuncs.com",
            "KUBEHA_BACKUP_PROVIDER=Alibaba",
            "KUBEHA_METADATA=aliyun-hardened",
            "KUBEHA_METADATA_URL=http://100.100.100.200",
        ]) {
            assert.ok(env.includes(`\n${line}\n`), line);
        }
    });
});

describe("the backup timer on every etcd member", () => {
    const result = plan({ stack: "dev" });
    const [envPath, servicePath, timerPath, checkServicePath, checkTimerPath] = etcdBackupPaths;

    test("systemd-analyze accepts the service and the timer; the schedule is a valid calendar expression", () => {
        const service = {
            path: servicePath,
            mode: "0644" as const,
            content: hostFile(result, "master-1", servicePath),
        };
        const timer = { path: timerPath, mode: "0644" as const, content: hostFile(result, "master-1", timerPath) };
        assert.deepEqual(unitProblems(service, [installedScript("etcd-backup")]), []);
        assert.deepEqual(unitProblems(timer, [], [service]), []);
        assert.match(timer.content, /^OnCalendar=hourly$/m);
        assert.match(service.content, new RegExp(`^EnvironmentFile=${envPath}$`, "m"));
        const calendar = spawnSync("systemd-analyze", ["calendar", configFor({ cloud: "aws" }).backup.schedule]);
        assert.equal(calendar.status, 0, "the default schedule");
    });

    test("the staleness check: a service that runs `etcd-backup.sh check` on the backups' schedule, counting 3 runs", () => {
        const file = (path: string) => ({ path, mode: "0644" as const, content: hostFile(result, "master-2", path) });
        const service = file(checkServicePath);
        const timer = file(checkTimerPath);
        assert.deepEqual(unitProblems(service, [installedScript("etcd-backup")]), []);
        assert.deepEqual(unitProblems(timer, [], [service]), []);
        assert.match(service.content, new RegExp(`^ExecStart=${installedScript("etcd-backup")} check$`, "m"));
        assert.match(service.content, /^Type=oneshot$/m);
        assert.match(service.content, new RegExp(`^EnvironmentFile=${envPath}$`, "m"));
        assert.match(timer.content, /^OnCalendar=hourly$/m);
        const env = hostFile(result, "master-2", envPath);
        assert.match(env, /^KUBEHA_BACKUP_SCHEDULE=hourly$/m);
        assert.match(env, /^KUBEHA_BACKUP_STALE_RUNS=3$/m);
    });

    test("the timer step runs on every member after the etcd health gate, keyed to the units", () => {
        for (const member of etcdMembers(result)) {
            const step = result.named(`${member}-backup-timer`);
            assert.ok(step.dependencies.includes("master-1-etcd-health"), member);
            assert.ok(step.dependencies.includes(`${member}-files`), member);
            assert.deepEqual(step.inputs.environment, {
                KUBEHA_TIMER: `${etcdBackup.timer},${etcdBackup.checkTimer}`,
            });
        }
    });

    test("a schedule and retention from the stack config reach the timer and the lifecycle rule", () => {
        const custom = plan({
            stack: "dev",
            config: { "kubeha:backup": { schedule: "Mon..Fri *-*-* 02,14:00", retentionDays: 30, staleAfterRuns: 5 } },
        });
        assert.match(hostFile(custom, "master-3", timerPath), /^OnCalendar=Mon\.\.Fri \*-\*-\* 02,14:00$/m);
        assert.match(hostFile(custom, "master-3", checkTimerPath), /^OnCalendar=Mon\.\.Fri \*-\*-\* 02,14:00$/m);
        const env = hostFile(custom, "master-3", envPath);
        assert.match(env, /^KUBEHA_BACKUP_SCHEDULE=Mon\.\.Fri \*-\*-\* 02,14:00$/m);
        assert.match(env, /^KUBEHA_BACKUP_STALE_RUNS=5$/m);
        const [rule] = only(custom, "alicloud:oss/bucket:Bucket").inputs.lifecycleRules as Record<string, unknown>[];
        assert.deepEqual(rule.expirations, [{ days: 30 }]);
    });

    test("backup.enabled false: no bucket, no role, no timer, no settings", () => {
        const off = plan({ stack: "dev", config: { "kubeha:backup": { enabled: false } } });
        assert.deepEqual(
            off.resources.filter((resource) => /backup|oss|ram:/.test(`${resource.type} ${resource.name}`)),
            [],
        );
        assert.ok(!off.exists(`hosts/master-1/files${envPath}`));
        assert.equal(off.outputs.backupBucket, undefined);
    });
});
