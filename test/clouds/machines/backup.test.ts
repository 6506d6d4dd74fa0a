// Cloud machines' etcd backups to an S3-compatible bucket the user names (kubeha:backup.s3, docs/machines.md): the
// validation (every problem at its key, the secrets never shown, refused on the clouds), when backups are on, and the
// plan of the example stack with it set: the timer on every etcd member, and the key pair in a root-only file that a
// plan without --show-secrets shows redacted.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { resolveConfig } from "../../../config/resolve";
import { etcdBackup } from "../../../render/backup";
import { stackFileConfig } from "../../support/config";
import { runPlanCli } from "../../support/plan";

const { values: exampleValues } = stackFileConfig("machines-dev");
const s3 = {
    endpoint: "https://s3.example.com",
    bucket: "example-etcd-backups",
    accessKeyId: "AKIDEXAMPLE0BACKUP",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const withBackup = (backup: Record<string, unknown>) => ({ ...exampleValues, backup: JSON.stringify(backup) });

function resolved(values: Record<string, string>, regions = {}) {
    return resolveConfig({ values, regions });
}
function problemsOf(values: Record<string, string>, regions = {}): string[] {
    const result = resolved(values, regions);
    return result.ok ? [] : result.problems;
}

describe("cloud machines: kubeha:backup.s3", () => {
    test("backups are on where backup.s3 names a bucket, off without it or with backup.enabled false", () => {
        const on = resolved(withBackup({ s3 }));
        assert.ok(on.ok, on.ok ? "" : on.problems.join("\n"));
        assert.equal(on.config.backup.enabled, true);
        assert.deepEqual(on.config.backup.s3, { ...s3, region: "us-east-1" });
        const without = resolved(exampleValues);
        assert.ok(without.ok && without.config.backup.enabled === false);
        const paused = resolved(withBackup({ enabled: false, s3 }));
        assert.ok(paused.ok && paused.config.backup.enabled === false);
    });

    test("every problem at once, each at its key, saying what is allowed; the secrets' values never shown", () => {
        const problems = problemsOf(
            withBackup({
                retentionDays: 30,
                s3: {
                    endpoint: "http://s3.example.com/path",
                    bucket: "Bad_Bucket",
                    region: "US East",
                    prefix: "no-trailing-slash",
                    accessKeyId: 1234567,
                    secretAccessKey: "two words",
                    sessionToken: "x",
                },
            }),
        );
        const expect = [
            /^kubeha:backup\.s3\.endpoint: must be the S3 API's https URL without a path/,
            /^kubeha:backup\.s3\.bucket: must be a bucket name: 3 to 63 lower-case letters/,
            /^kubeha:backup\.s3\.region: must be the bucket's region/,
            /^kubeha:backup\.s3\.prefix: must be a path ending in \//,
            /^kubeha:backup\.s3\.accessKeyId: must be a string \(the key pair's access key id; the value is not shown/,
            /^kubeha:backup\.s3\.secretAccessKey: must not hold spaces or line breaks/,
            /^kubeha:backup\.s3\.sessionToken: unknown key; allowed here: endpoint, bucket, region, prefix, accessKeyId, secretAccessKey$/,
            /^kubeha:backup\.retentionDays: does not apply to cloud machines: the bucket of backup\.s3 is yours/,
        ];
        for (const pattern of expect)
            assert.ok(
                problems.some((p) => pattern.test(p)),
                `${pattern}\n${problems.join("\n")}`,
            );
        assert.equal(problems.length, expect.length, problems.join("\n"));
        for (const secret of ["1234567", "two words"]) {
            assert.ok(!problems.some((p) => p.includes(secret)), `${secret} shown:\n${problems.join("\n")}`);
        }
        const missing = problemsOf(withBackup({ s3: { endpoint: s3.endpoint } }));
        for (const key of ["bucket", "accessKeyId", "secretAccessKey"]) {
            assert.ok(missing.includes(`kubeha:backup.s3.${key}: required`), `${key}\n${missing.join("\n")}`);
        }
    });

    test("refused on the clouds: they create the bucket and the members' role", () => {
        for (const [cloud, regions] of [
            ["aws", { aws: "eu-central-1" }],
            ["aliyun", { aliyun: "cn-hangzhou" }],
        ] as const) {
            const problems = problemsOf({ cloud, backup: JSON.stringify({ s3 }) }, regions);
            assert.deepEqual(
                problems,
                [
                    `kubeha:backup.s3: applies to cloud machines only: ${cloud} creates the backup bucket and the members' role; remove the key`,
                ],
                cloud,
            );
        }
    });

    test("a key pair in plain text in the stack is warned about, not one set with --secret", () => {
        const warning =
            /^kubeha:backup\.s3 holds the bucket's key pair in plain text in the stack: set both with pulumi config set --path --secret/;
        const plain = resolveConfig({ values: withBackup({ s3 }), regions: {}, plainKeys: ["kubeha:backup"] });
        assert.ok(plain.ok && plain.warnings.some((w) => warning.test(w)), JSON.stringify(plain));
        const secret = resolveConfig({ values: withBackup({ s3 }), regions: {}, plainKeys: [] });
        assert.ok(secret.ok && !secret.warnings.some((w) => warning.test(w)));
    });
});

describe("cloud machines: the plan of Pulumi.machines-dev.yaml with kubeha:backup.s3", () => {
    const backup = { s3: { ...s3, prefix: "kubeha/dev/" } };
    const run = runPlanCli({ stack: "machines-dev", config: { "kubeha:backup": backup } });
    const shown = runPlanCli({ stack: "machines-dev", config: { "kubeha:backup": backup }, showSecrets: true });
    const masters = ["master-1", "master-2", "master-3"];
    const hostFile = (dir: string, host: string, file: string) => path.join(dir, "hosts", host, "files", file);
    const everyFile = (dir: string): string[] =>
        (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
            .filter((entry) => entry.isFile())
            .map((entry) => path.join(entry.parentPath, entry.name));

    test("plans offline", () => {
        assert.equal(run.status, 0, run.stderr);
        assert.equal(shown.status, 0, shown.stderr);
    });

    test("every etcd member gets the timer step, the settings and the key pair's file; the workers nothing", () => {
        const resources = JSON.parse(fs.readFileSync(path.join(run.outDir, "resources.json"), "utf8")) as {
            name: string;
        }[];
        const timers = resources.map((resource) => resource.name).filter((name) => name.endsWith("-backup-timer"));
        assert.deepEqual(
            timers.sort(),
            masters.map((name) => `${name}-backup-timer`),
        );
        // No cloud resource and no bucket name suffix: the bucket is the user's.
        assert.ok(!resources.some((resource) => resource.name === "backup-bucket-suffix"));
        for (const host of masters) {
            const env = fs.readFileSync(hostFile(run.outDir, host, etcdBackup.envFile), "utf8");
            for (const line of [
                "KUBEHA_BACKUP_BUCKET=example-etcd-backups",
                "KUBEHA_BACKUP_PREFIX=kubeha/dev/",
                "KUBEHA_BACKUP_ENDPOINT=https://s3.example.com",
                "KUBEHA_BACKUP_REGION=us-east-1",
                "KUBEHA_BACKUP_PROVIDER=Other",
                "KUBEHA_METADATA=static",
                `KUBEHA_BACKUP_CREDENTIALS_FILE=${etcdBackup.credentialsFile}`,
            ]) {
                assert.ok(env.split("\n").includes(line), `${host}: ${line}\n${env}`);
            }
            assert.doesNotMatch(env, /KUBEHA_METADATA_URL|KUBEHA_BACKUP_ROLE|AKID|wJalr/);
        }
        for (const host of ["worker-1", "worker-2"]) {
            for (const file of [etcdBackup.envFile, etcdBackup.credentialsFile]) {
                assert.ok(!fs.existsSync(hostFile(run.outDir, host, file)), `${host} ${file}`);
            }
        }
        const outputs = JSON.parse(fs.readFileSync(path.join(run.outDir, "outputs.json"), "utf8")) as Record<
            string,
            unknown
        >;
        assert.equal(outputs.backupBucket, "example-etcd-backups");
        assert.equal(outputs.backupPrefix, "kubeha/dev/");
    });

    test("the key pair is a secret: redacted without --show-secrets, nowhere else in the plan; itself with it", () => {
        for (const host of masters) {
            const redacted = parseYaml(fs.readFileSync(hostFile(run.outDir, host, etcdBackup.credentialsFile), "utf8"));
            assert.deepEqual(redacted, { AccessKeyId: "[secret]", SecretAccessKey: "[secret]" }, host);
            const real = JSON.parse(fs.readFileSync(hostFile(shown.outDir, host, etcdBackup.credentialsFile), "utf8"));
            assert.deepEqual(real, { AccessKeyId: s3.accessKeyId, SecretAccessKey: s3.secretAccessKey }, host);
        }
        // The plan's own files: not the stack file the test wrote for it.
        for (const file of everyFile(run.outDir)) {
            if (file.endsWith(".modified.yaml")) continue;
            const text = fs.readFileSync(file, "utf8");
            assert.ok(!text.includes(s3.secretAccessKey) && !text.includes(s3.accessKeyId), file);
        }
        assert.ok(!(run.stdout + run.stderr).includes(s3.secretAccessKey), "nor in what the plan printed");
    });

    test("a stack whose key pair is encrypted is refused offline, naming the secret's path", () => {
        const refused = runPlanCli({
            stack: "machines-dev",
            config: { "kubeha:backup": { s3: { ...s3, secretAccessKey: { secure: "v1:AAAAAAAAAAAAAAAA:BBBB" } } } },
        });
        assert.notEqual(refused.status, 0);
        assert.match(
            refused.stderr,
            /kubeha:backup\.s3\.secretAccessKey: secret values cannot be read offline; plan a copy of the stack file/,
        );
    });
});
