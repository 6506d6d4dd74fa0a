// System test of etcd backups and the restore: the dev plan's three etcd members run etcd 3.6 (the version
// the hosts run, from the toolchain) in network namespaces at their planned addresses, with the plan's
// config and certificates. A fourth namespace (at the bastion's planned address) runs moto's S3 server
// from PyPI, with SigV4 signatures and IAM policies enforced, and a stand-in metadata service that hands
// out the instance role's temporary credentials the way AWS IMDSv2 and Aliyun's hardened mode do. The
// role's policy is the program's own (render/backup.ts; one action name added for moto, see before()).
// scripts/etcd-backup.sh runs on every member: only the leader uploads, the snapshot and its sha256 beside it;
// `etcd-backup.sh check` fails while the newest complete snapshot is stale, whatever was planted under the
// prefix. scripts/etcd-snapshot-pick.sh, with an administrator's credentials, passes over planted and damaged
// objects to the newest verified snapshot; scripts/etcd-restore.sh refuses a disk that is not the etcd disk, an
// apiserver manifest in place and writes to etcd, then restores every member into a fresh data disk (ext4 images
// labelled as the boot labels them); members restored from different snapshots do not form one cluster; from the
// same one, the restored cluster has the keys written before the backup, not after.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { awsBackupPolicy, backupPrefix, etcdBackup } from "../../render/backup";
import { etcdConfigPath, etcdctlEnvPath, etcdDiskMountPoint, etcdUnitPath } from "../../render/etcd";
import { projectDir } from "../support/plan";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "./support/cluster";
import {
    Bind,
    CommandResult,
    Processes,
    run,
    runOrThrow,
    systemTestSkipReason,
    TestNetwork,
    waitFor,
} from "./support/netns";
import { toolchainBin } from "./support/toolchain";

const support = path.join(__dirname, "support");
const stubs = path.join(projectDir, "test", "support", "step-stubs");

function skipReason(): string | undefined {
    const notRoot = systemTestSkipReason();
    if (notRoot) return notRoot;
    if (spawnSync("python3", ["-c", "import moto.server, boto3"]).status !== 0) return "moto[server] is not installed";
    if (spawnSync("rclone", ["version"]).status !== 0) return "rclone is not installed";
    return undefined;
}

interface Member {
    readonly name: string;
    readonly config: { "advertise-client-urls": string };
    /** The member's etcd disk (bound at /var/lib/etcd); replaced by a fresh one for the restore. */
    disk: string;
    /** /var/lib/kubeha of the host: where the backup leaves its outcome. */
    readonly state: string;
}

describe(
    "etcd backups to a real S3 server, and a restore into fresh members",
    { skip: skipReason(), timeout: 300_000 },
    () => {
        const network = new TestNetwork("kh-backup");
        const processes = new Processes();
        let cluster: PlannedCluster;
        let workDir: string;
        let members: Member[];
        let bin: string;
        let storeIp: string;
        let etcdctlEnv: Record<string, string>;
        let credentials: { role: Record<string, string>; admin: Record<string, string> };
        const storeName = "s3.store.test";
        /** The env file each cloud's plan gives its etcd members. */
        let planned: Record<"aliyun" | "aws", Record<string, string>>;
        let bucket: string;
        let prefix: string;

        before(async () => {
            bin = toolchainBin();
            cluster = plannedCluster("dev");
            const envOf = (of: PlannedCluster) => parseEnvFile(hostFile(of, "master-1", etcdBackup.envFile));
            planned = { aliyun: envOf(cluster), aws: envOf(plannedCluster("aws-dev")) };
            // One bucket stands in for both clouds' (the AWS plan's name is another random draw).
            bucket = planned.aliyun.KUBEHA_BACKUP_BUCKET;
            prefix = planned.aliyun.KUBEHA_BACKUP_PREFIX;
            assert.equal(prefix, backupPrefix("kubeha-dev"));
            workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-backup-"));
            const etcdHosts = cluster.layout.filter((host) => host.etcdMember);
            members = etcdHosts.map((host) => {
                const config = parseYaml(hostFile(cluster, host.name, etcdConfigPath));
                const disk = freshDisk(`${host.name}-disk`);
                return { name: host.name, config, disk, state: freshDir(`${host.name}-state`) };
            });
            etcdctlEnv = parseEnvFile(hostFile(cluster, members[0].name, etcdctlEnvPath));
            const bastion = cluster.layout.find((host) => host.role === "bastion");
            assert.ok(bastion);
            storeIp = bastion.privateIp;
            await network.create(
                [
                    ...etcdHosts.map((host) => ({
                        name: host.name,
                        ip: host.privateIp,
                        hostsFile:
                            hostFile(cluster, host.name, "/etc/hosts") +
                            `${storeIp} ${storeName} ${bucket}.${storeName}\n`,
                    })),
                    {
                        name: "store",
                        ip: storeIp,
                        hostsFile: `127.0.0.1 localhost\n${storeIp} ${storeName} ${bucket}.${storeName}\n`,
                    },
                ],
                vpcPrefixLength(cluster),
            );
            // The object store and the metadata service, in their own namespace.
            processes.start(
                "moto",
                network.command("store", [
                    "env",
                    `PATH=${process.env.PATH}`,
                    "moto_server",
                    "-H",
                    storeIp,
                    "-p",
                    "5000",
                ]),
                path.join(workDir, "moto.log"),
            );
            await waitFor("moto's S3 server", 30_000, async () =>
                (
                    await run(
                        network.command("store", [
                            "python3",
                            "-c",
                            `import urllib.request; urllib.request.urlopen("http://${storeIp}:5000/moto-api/")`,
                        ]),
                    )
                ).status === 0
                    ? true
                    : undefined,
            );
            const policyFile = path.join(workDir, "policy.json");
            // The program's policy, with one action added for moto (5.2): its S3 authorization checks a request against
            // the name of the API operation, not the IAM action AWS checks, so the role's listing (rclone's
            // GET /?list-type=2&prefix=<prefix>&delimiter=/, ListObjectsV2, which AWS authorizes as s3:ListBucket on the
            // bucket's ARN) is checked as s3:ListObjectsV2 on arn:aws:s3:::<bucket>; s3:ListObjectsV2 is not an IAM
            // action, so it grants nothing more on AWS. Uploads need nothing added (PutObject is both names). The
            // Resource and the s3:prefix Condition stay as written, but moto does not enforce the condition (it
            // evaluates StringEquals only, on sts:ExternalId alone): test/etcd-backups.test.ts holds it.
            const policy = awsBackupPolicy(bucket, prefix) as { Statement: Record<string, unknown>[] };
            const listing = policy.Statement.find((statement) => statement.Sid === "ListSnapshots");
            assert.ok(listing?.Condition);
            assert.equal(listing.Action, "s3:ListBucket");
            listing.Action = ["s3:ListBucket", "s3:ListObjectsV2"];
            fs.writeFileSync(policyFile, JSON.stringify(policy));
            const role = planned.aliyun.KUBEHA_BACKUP_ROLE;
            assert.equal(planned.aws.KUBEHA_BACKUP_ROLE, "kubeha-aws-dev-etcd-backup");
            credentials = JSON.parse(
                await runOrThrow(
                    network.command("store", [
                        "python3",
                        path.join(support, "object-store.py"),
                        "setup",
                        `http://${storeIp}:5000`,
                        bucket,
                        role,
                        policyFile,
                    ]),
                ),
            );
            const credentialsFile = path.join(workDir, "role-credentials.json");
            fs.writeFileSync(credentialsFile, JSON.stringify(credentials.role));
            processes.start(
                "metadata",
                network.command("store", [
                    process.execPath,
                    path.join(support, "metadata-server.mjs"),
                    storeIp,
                    "8080",
                    // The same credentials under both plans' role names.
                    `${role},${planned.aws.KUBEHA_BACKUP_ROLE}`,
                    credentialsFile,
                ]),
                path.join(workDir, "metadata.log"),
            );
            for (const member of members) startEtcd(member);
            await waitFor("a healthy etcd cluster", 60_000, async () =>
                (await etcdctl(members[0], ["endpoint", "health", "--cluster"])).status === 0 ? true : undefined,
            );
        });

        after(async () => {
            await processes.stopAll();
            await network.destroy();
            for (const dir of mounted) spawnSync("umount", [dir]);
            if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
        });

        function freshDir(name: string): string {
            const dir = path.join(workDir, `${name}-${Date.now()}`);
            fs.mkdirSync(dir, { recursive: true });
            return dir;
        }

        const mounted: string[] = [];
        /** A fresh etcd disk: a sparse ext4 image labelled as the boot labels it, loop-mounted on this machine. */
        function freshDisk(name: string): string {
            const dir = freshDir(name);
            const image = `${dir}.img`;
            for (const argv of [
                ["truncate", "-s", "256M", image],
                ["mkfs.ext4", "-q", "-L", "kubeha-etcd", image],
                ["mount", "-o", "loop", image, dir],
            ]) {
                const result = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
                assert.equal(result.status, 0, `${argv.join(" ")}: ${result.stderr}`);
            }
            mounted.push(dir);
            return dir;
        }

        /** The plan's /etc/etcd (config, certificates), the scripts, and the member's disk and state. */
        function binds(member: Member): Bind[] {
            const files = hostRoot(cluster, member.name, workDir);
            return [
                { source: path.join(files, "etc/etcd"), target: "/etc/etcd" },
                { source: path.join(projectDir, "scripts"), target: "/usr/local/lib/kubeha" },
                { source: member.disk, target: etcdDiskMountPoint },
                { source: member.state, target: path.dirname(etcdBackup.lastSuccess) },
            ];
        }

        function startEtcd(member: Member): void {
            const execStart = /^ExecStart=(.+)$/m.exec(hostFile(cluster, member.name, etcdUnitPath))?.[1].split(/\s+/);
            assert.ok(execStart);
            processes.start(
                `etcd-${member.name}`,
                network.command(member.name, [path.join(bin, "etcd"), ...execStart.slice(1)], binds(member)),
                path.join(workDir, `${member.name}-etcd.log`),
            );
        }

        function etcdctl(member: Member, args: string[]): Promise<CommandResult> {
            // etcdctl exits (fatal) when a flag is given that its environment sets too: --endpoints replaces the env
            // file's ETCDCTL_ENDPOINTS.
            const { ETCDCTL_ENDPOINTS, ...rest } = etcdctlEnv;
            const own = args.some((arg) => arg.startsWith("--endpoints")) ? {} : { ETCDCTL_ENDPOINTS };
            const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, ...rest, ...own };
            return run(network.command(member.name, ["etcdctl", ...args], binds(member)), { env, timeoutMs: 20_000 });
        }

        /** A script under scripts/ on member, as root, with these variables and nothing else. */
        function script(member: Member, name: string, variables: Record<string, string>): Promise<CommandResult> {
            const env = {
                // The toolchain's etcd tools first; the systemctl stand-in for the restore's `systemctl stop`.
                PATH: `${bin}:${stubs}:/usr/sbin:/usr/bin:/sbin:/bin`,
                LANG: "C.UTF-8",
                STUB_HOST: member.name,
                STUB_STATE: path.join(workDir, "stub-state"),
                STUB_MOUNT_NS: `/proc/${process.pid}/ns/mnt`,
                ...variables,
            };
            fs.mkdirSync(env.STUB_STATE, { recursive: true });
            return run(network.command(member.name, [`/usr/local/lib/kubeha/${name}`], binds(member)), {
                env,
                timeoutMs: 60_000,
            });
        }

        /**
         * The variables a cloud's plan gives the backup service, with the store's and the metadata service's
         * addresses in place of the cloud's (and the one test bucket).
         */
        function backupVariables(cloud: "aliyun" | "aws", changes: Record<string, string> = {}) {
            return {
                ...planned[cloud],
                KUBEHA_BACKUP_BUCKET: bucket,
                KUBEHA_BACKUP_PREFIX: prefix,
                KUBEHA_BACKUP_ENDPOINT: `http://${storeName}:5000`,
                // moto keeps temporary credentials per region: the one they were issued in.
                KUBEHA_BACKUP_REGION: "us-east-1",
                KUBEHA_METADATA_URL: `http://${storeIp}:8080`,
                ...changes,
            };
        }

        /** Objects in the bucket, listed with the test's administrator (the role may not read). */
        async function objects(): Promise<string[]> {
            const code = `import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
print(json.dumps([o["Key"] for o in s3.list_objects_v2(Bucket=sys.argv[4]).get("Contents", [])]))`;
            const { AccessKeyId, SecretAccessKey } = credentials.admin;
            return JSON.parse(
                await runOrThrow(
                    network.command("store", [
                        "python3",
                        "-c",
                        code,
                        `http://${storeIp}:5000`,
                        AccessKeyId,
                        SecretAccessKey,
                        bucket,
                    ]),
                ),
            );
        }

        /** An object put under the cluster's prefix by the test's administrator (anything a writer could plant). */
        async function plant(key: string, content: string): Promise<void> {
            const code = `import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
s3.put_object(Bucket=sys.argv[4], Key=sys.argv[5], Body=sys.argv[6].encode())`;
            const { AccessKeyId, SecretAccessKey } = credentials.admin;
            await runOrThrow(
                network.command("store", [
                    "python3",
                    "-c",
                    code,
                    `http://${storeIp}:5000`,
                    AccessKeyId,
                    SecretAccessKey,
                    bucket,
                    key,
                    content,
                ]),
            );
        }

        /** Downloads an object with the administrator's credentials (the role may not read). */
        async function download(key: string, file: string): Promise<void> {
            const code = `import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
s3.download_file(sys.argv[4], sys.argv[5], sys.argv[6])`;
            const { AccessKeyId, SecretAccessKey } = credentials.admin;
            await runOrThrow(
                network.command("store", [
                    "python3",
                    "-c",
                    code,
                    `http://${storeIp}:5000`,
                    AccessKeyId,
                    SecretAccessKey,
                    bucket,
                    key,
                    file,
                ]),
            );
        }

        const utcName = (date: Date) =>
            date
                .toISOString()
                .replace(/[-:]/g, "")
                .replace(/\.\d+Z$/, "Z");
        const sha256Of = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
        const lastUploads = () =>
            members
                .map((member) => path.join(member.state, "etcd-backup.last"))
                .filter((file) => fs.existsSync(file))
                .map((file) => fs.readFileSync(file, "utf8").trim().split(" "))
                .map(([, object, sha256]) => ({ object, sha256 }))
                .sort((a, b) => a.object.localeCompare(b.object));

        let snapshotObject: string;

        test("only the leader uploads, under the cluster's prefix, a name that sorts by time and names the member, its sha256 beside it", async () => {
            assert.equal((await etcdctl(members[0], ["put", "written-before", "1"])).status, 0);
            // Every curl call's arguments, recorded by a wrapper ahead of the real curl.
            const wrapperDir = path.join(workDir, "curl-wrapper");
            const curlLog = path.join(workDir, "curl-calls.log");
            fs.mkdirSync(wrapperDir, { recursive: true });
            fs.writeFileSync(
                path.join(wrapperDir, "curl"),
                `#!/bin/bash\nprintf '%s\\n' "$*" >>${curlLog}\nexec /usr/bin/curl "$@"\n`,
                { mode: 0o755 },
            );
            const runs = await Promise.all(
                members.map((member) =>
                    script(member, "etcd-backup.sh", {
                        ...backupVariables("aws"),
                        PATH: `${wrapperDir}:${bin}:${stubs}:/usr/sbin:/usr/bin:/sbin:/bin`,
                    }),
                ),
            );
            for (const [i, result] of runs.entries())
                assert.equal(result.status, 0, `${members[i].name}: ${result.stderr}`);
            const uploaded = runs.filter((result) => /uploaded etcd\//.test(result.stderr));
            assert.equal(uploaded.length, 1, runs.map((result) => result.stderr).join("\n"));
            assert.equal(runs.filter((result) => /is not the leader/.test(result.stderr)).length, 2);
            const keys = (await objects()).sort();
            assert.equal(keys.length, 2, keys.join(" "));
            snapshotObject = keys[0];
            assert.equal(keys[1], `${snapshotObject}.sha256`);
            assert.match(snapshotObject, new RegExp(`^${prefix}\\d{8}T\\d{6}Z-master-\\d\\.db\\.gz$`));
            const leader = members.find((member) => snapshotObject.endsWith(`-${member.name}.db.gz`));
            assert.ok(leader);
            const last = fs.readFileSync(path.join(leader.state, "etcd-backup.last"), "utf8");
            assert.match(last, new RegExp(` ${snapshotObject} [0-9a-f]{64}\n$`));
            // The recorded checksum is the object's.
            const copy = path.join(workDir, "first.db.gz");
            await download(snapshotObject, copy);
            await download(`${snapshotObject}.sha256`, `${copy}.sha256`);
            assert.equal(
                fs.readFileSync(`${copy}.sha256`, "utf8"),
                `${sha256Of(copy)}  ${path.basename(snapshotObject)}\n`,
            );
            assert.ok(last.trim().endsWith(sha256Of(copy)));
            // The metadata session token went to curl on its stdin, never among its arguments.
            const calls = fs.readFileSync(curlLog, "utf8");
            assert.match(calls, /-H @- http:\/\/\S+\/latest\/meta-data\/iam\/security-credentials\//);
            assert.doesNotMatch(calls, /metadata-token: /);
        });

        test("with the Aliyun plan's settings (OSS provider, hardened metadata mode) too", async () => {
            // Object names have one-second resolution: a snapshot within the same second as the first would replace it.
            await new Promise((resolve) => setTimeout(resolve, 1100));
            const runs = await Promise.all(
                members.map((member) => script(member, "etcd-backup.sh", backupVariables("aliyun"))),
            );
            for (const result of runs) assert.equal(result.status, 0, result.stderr);
            assert.equal((await objects()).length >= 4, true);
        });

        test("with the machines target's settings (a long-lived key pair from a root-only file, provider Other), no metadata call", async () => {
            await new Promise((resolve) => setTimeout(resolve, 1100));
            const before = (await objects()).length;
            // The user's key pair, as the machines target delivers it (AWS's names, no session token).
            const keyPair = path.join(workDir, "etcd-backup-credentials.json");
            const { AccessKeyId, SecretAccessKey } = credentials.admin;
            fs.writeFileSync(keyPair, JSON.stringify({ AccessKeyId, SecretAccessKey }), { mode: 0o600 });
            // No metadata service or role named: a metadata call would have nowhere to go.
            const variables: Record<string, string> = backupVariables("aws", {
                KUBEHA_METADATA: "static",
                KUBEHA_BACKUP_PROVIDER: "Other",
                KUBEHA_BACKUP_CREDENTIALS_FILE: keyPair,
                // rclone's Other provider addresses the bucket in the path, and moto reads a bucket from any host name
                // under s3.* (s3.store.test: "NoSuchBucket"): by address, as a user's MinIO is often reached.
                KUBEHA_BACKUP_ENDPOINT: `http://${storeIp}:5000`,
            });
            delete variables.KUBEHA_METADATA_URL;
            delete variables.KUBEHA_BACKUP_ROLE;
            const runs = await Promise.all(members.map((member) => script(member, "etcd-backup.sh", variables)));
            for (const result of runs) assert.equal(result.status, 0, result.stderr);
            assert.equal(runs.filter((result) => /uploaded etcd\//.test(result.stderr)).length, 1);
            assert.equal((await objects()).length, before + 2, "one snapshot and its sha256");
            for (const result of runs) assert.ok(!(result.stderr + result.stdout).includes(SecretAccessKey));
        });

        test("a failure is recorded with its reason; the role may not write outside its prefix", async () => {
            await new Promise((resolve) => setTimeout(resolve, 1100));
            const outside = await Promise.all(
                members.map((member) =>
                    script(member, "etcd-backup.sh", backupVariables("aws", { KUBEHA_BACKUP_PREFIX: "elsewhere/" })),
                ),
            );
            const leaderRun = outside.findIndex((result) => result.status !== 0);
            assert.ok(leaderRun >= 0, "the leader's upload outside the prefix is refused");
            assert.match(outside[leaderRun].stderr, /AccessDenied/);
            const failed = fs.readFileSync(path.join(members[leaderRun].state, "etcd-backup.failed"), "utf8");
            assert.match(
                failed,
                new RegExp(`failed while uploading elsewhere/\\S+ to ${bucket}\\nfailures in a row: 1\\n$`),
            );
            const noToken = await script(
                members[leaderRun],
                "etcd-backup.sh",
                backupVariables("aws", { KUBEHA_METADATA_URL: `http://${storeIp}:8081` }),
            );
            assert.equal(noToken.status, 1);
            assert.match(
                fs.readFileSync(path.join(members[leaderRun].state, "etcd-backup.failed"), "utf8"),
                /failed while getting the instance role's credentials .*\nfailures in a row: 2\n$/,
            );
            assert.ok(!(await objects()).some((key) => key.startsWith("elsewhere/")));
            const again = await script(members[leaderRun], "etcd-backup.sh", backupVariables("aws"));
            assert.equal(again.status, 0, again.stderr);
            assert.ok(!fs.existsSync(path.join(members[leaderRun].state, "etcd-backup.failed")), "a success clears it");
        });

        const check = (member: Member, changes: Record<string, string> = {}) =>
            run(network.command(member.name, ["/usr/local/lib/kubeha/etcd-backup.sh", "check"], binds(member)), {
                env: {
                    PATH: `/usr/sbin:/usr/bin:/sbin:/bin`,
                    LANG: "C.UTF-8",
                    ...backupVariables("aws", changes),
                },
                timeoutMs: 60_000,
            });

        test("the staleness check: current while the newest complete snapshot is recent, whatever is planted", async () => {
            const member = members[1];
            const fresh = await check(member);
            assert.equal(fresh.status, 0, fresh.stderr);
            const newest = lastUploads().at(-1);
            assert.ok(newest);
            assert.match(
                fresh.stderr,
                new RegExp(
                    `backups are current: the newest complete snapshot, ${path.basename(newest.object)}, uploaded`,
                ),
            );
            // A far-future name (what sorts as newest), with a checksum beside it, is named and passed over.
            const planted = `${prefix}29991231T235959Z-master-1.db.gz`;
            await plant(planted, "not a snapshot");
            await plant(`${planted}.sha256`, `${"0".repeat(64)}  ${path.basename(planted)}\n`);
            const withPlanted = await check(member);
            assert.equal(withPlanted.status, 0, withPlanted.stderr);
            assert.match(withPlanted.stderr, /ignoring 29991231T235959Z-master-1\.db\.gz: its time is in the future/);
            assert.match(withPlanted.stderr, new RegExp(`newest complete snapshot, ${path.basename(newest.object)},`));
        });

        test("the staleness check fails, and says so, once the scheduled runs pass without a snapshot; planting does not hide it", async () => {
            const member = members[2];
            const quiet = `${prefix}quiet/`;
            // Planted under a prefix no backup writes to: a future name, and an object named long before its upload.
            await plant(`${quiet}29991231T235959Z-master-1.db.gz`, "x");
            await plant(`${quiet}29991231T235959Z-master-1.db.gz.sha256`, "x");
            await plant(`${quiet}20200101T000000Z-master-1.db.gz`, "x");
            await plant(`${quiet}20200101T000000Z-master-1.db.gz.sha256`, "x");
            // The check first ran three days ago, with hourly backups.
            fs.writeFileSync(
                path.join(member.state, "etcd-backup.since"),
                `${Math.floor(Date.now() / 1000) - 3 * 86400}\n`,
            );
            const stale = await check(member, { KUBEHA_BACKUP_PREFIX: quiet });
            assert.equal(stale.status, 1, stale.stderr);
            assert.match(stale.stderr, /backups are STALE: no complete snapshot in \S+ since this check first ran/);
            assert.match(stale.stderr, /3 scheduled runs \(hourly\) passed without a newer one/);
            assert.match(stale.stderr, /ignoring 29991231T235959Z-master-1\.db\.gz: its time is in the future/);
            assert.match(stale.stderr, /ignoring 20200101T000000Z-master-1\.db\.gz: uploaded at \S+, not at the time/);
            assert.match(fs.readFileSync(path.join(member.state, "etcd-backup.stale"), "utf8"), /3 runs of hourly/);
            const current = await check(member);
            assert.equal(current.status, 0, current.stderr);
            assert.ok(!fs.existsSync(path.join(member.state, "etcd-backup.stale")), "a current check clears it");
            // The members' requests were uploads and listings only, what the role may do on AWS and OSS too: no HEAD
            // of each listed object (rclone reads an object's MIME type with one unless told not to), no GET of one.
            const memberIps = cluster.layout.filter((host) => host.etcdMember).map((host) => `${host.privateIp} `);
            const requests = fs
                .readFileSync(path.join(workDir, "moto.log"), "utf8")
                // eslint-disable-next-line no-control-regex
                .replace(/\x1b\[[0-9;]*m/g, "")
                .split("\n")
                .filter((line) => memberIps.some((ip) => line.startsWith(ip)));
            assert.ok(requests.some((line) => /"GET \/\?[^"]*list-type=2/.test(line)));
            assert.deepEqual(
                requests.filter((line) => !/"(PUT \/[^?" ]+|GET \/\?[^"]*list-type=2[^"]*) HTTP/.test(line)),
                [],
            );
        });

        /** etcd-snapshot-pick.sh on the operator's machine (the store's namespace), with the administrator's keys. */
        const pick = (into: string) =>
            run(network.command("store", [path.join(projectDir, "scripts", "etcd-snapshot-pick.sh")]), {
                env: {
                    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
                    LANG: "C.UTF-8",
                    AWS_ACCESS_KEY_ID: credentials.admin.AccessKeyId,
                    AWS_SECRET_ACCESS_KEY: credentials.admin.SecretAccessKey,
                    KUBEHA_BACKUP_BUCKET: bucket,
                    KUBEHA_BACKUP_PREFIX: prefix,
                    KUBEHA_BACKUP_ENDPOINT: `http://${storeName}:5000`,
                    KUBEHA_BACKUP_REGION: "us-east-1",
                    KUBEHA_BACKUP_PROVIDER: "AWS",
                    KUBEHA_SNAPSHOT_DIR: into,
                },
                timeoutMs: 120_000,
            });

        let picked: { file: string; sha256: string };
        /** `endpoint status` of the cluster before the restore. */
        let statusBefore: string;

        test("the pick: the newest snapshot whose content matches its recorded sha256, passing over planted and damaged ones", async () => {
            const newest = lastUploads().at(-1);
            assert.ok(newest);
            await new Promise((resolve) => setTimeout(resolve, 1100));
            const now = utcName(new Date());
            // Named and uploaded now (newer than every real one): a checksum that does not match, and none at all.
            await plant(`${prefix}${now}-master-9.db.gz`, "damaged");
            await plant(`${prefix}${now}-master-9.db.gz.sha256`, `${"1".repeat(64)}  ${now}-master-9.db.gz\n`);
            await plant(`${prefix}${now}-master-8.db.gz`, "incomplete");
            await plant(`${prefix}notes.txt`, "not ours");
            const into = path.join(workDir, "picked");
            const result = await pick(into);
            assert.equal(result.status, 0, result.stderr);
            const [file, sha256] = result.stdout.trim().split(" ");
            assert.equal(file, path.join(into, path.basename(newest.object)));
            assert.equal(sha256, newest.sha256);
            assert.equal(sha256Of(file), newest.sha256);
            for (const reason of [
                /ignoring 29991231T235959Z-master-1\.db\.gz: its time is in the future/,
                new RegExp(`ignoring ${now}-master-9\\.db\\.gz: its content \\(sha256 [0-9a-f]{64}\\) does not match`),
                new RegExp(`ignoring ${now}-master-8\\.db\\.gz: no ${now}-master-8\\.db\\.gz\\.sha256 beside it`),
                /ignoring notes\.txt: not a name the backup writes/,
            ]) {
                assert.match(result.stderr, reason);
            }
            assert.ok(!fs.existsSync(path.join(into, `${now}-master-9.db.gz`)), "a rejected download is removed");
            picked = { file, sha256 };
        });

        test("the restore refuses, before anything changes: an apiserver manifest in place, writes to etcd, another snapshot's checksum", async () => {
            assert.equal((await etcdctl(members[0], ["put", "written-after", "2"])).status, 0);
            const restoreVariables = {
                KUBEHA_ETCD_CONFIG: etcdConfigPath,
                KUBEHA_SNAPSHOT: picked.file,
                KUBEHA_SNAPSHOT_SHA256: picked.sha256,
                KUBEHA_CLUSTER_TOKEN: "kubeha-dev-restored-1",
                KUBEHA_APISERVER_MANIFEST: path.join(workDir, "no-manifest", "kube-apiserver.yaml"),
                KUBEHA_QUIET_SECONDS: "3",
            };
            const wrong = await script(members[0], "etcd-restore.sh", {
                ...restoreVariables,
                KUBEHA_SNAPSHOT_SHA256: "0".repeat(64),
            });
            assert.equal(wrong.status, 1);
            assert.match(wrong.stderr, /not the snapshot every member must restore/);
            const manifest = path.join(workDir, "manifests", "kube-apiserver.yaml");
            fs.mkdirSync(path.dirname(manifest), { recursive: true });
            fs.writeFileSync(manifest, "kind: Pod\n");
            const withManifest = await script(members[0], "etcd-restore.sh", {
                ...restoreVariables,
                KUBEHA_APISERVER_MANIFEST: manifest,
            });
            assert.equal(withManifest.status, 1);
            assert.match(
                withManifest.stderr,
                /kube-apiserver\.yaml is in place: the kubelet keeps this master's kube-apiserver running/,
            );
            // A client that keeps writing, as a running apiserver does.
            let writing = true;
            const writer = (async () => {
                for (let i = 0; writing; i++) await etcdctl(members[1], ["put", "lease-stand-in", String(i)]);
            })();
            const withWriter = await script(members[0], "etcd-restore.sh", restoreVariables);
            writing = false;
            await writer;
            assert.equal(withWriter.status, 1, withWriter.stderr);
            assert.match(withWriter.stderr, /something still writes to etcd \(revision \d+, 3s later \d+\)/);
            assert.equal((await etcdctl(members[0], ["endpoint", "health", "--cluster"])).status, 0, "etcd untouched");
            statusBefore = (await etcdctl(members[0], ["endpoint", "status", "-w", "fields"])).stdout;
        });

        test("the restore refuses a data disk that is not the etcd disk", async () => {
            for (const member of members) await processes.stop(`etcd-${member.name}`);
            const member = { ...members[0], disk: freshDir("plain-directory") };
            const refused = await script(member, "etcd-restore.sh", {
                KUBEHA_ETCD_CONFIG: etcdConfigPath,
                KUBEHA_SNAPSHOT: picked.file,
                KUBEHA_SNAPSHOT_SHA256: picked.sha256,
                KUBEHA_CLUSTER_TOKEN: "kubeha-dev-restored-1",
                KUBEHA_APISERVER_MANIFEST: path.join(workDir, "no-manifest", "kube-apiserver.yaml"),
            });
            assert.equal(refused.status, 1);
            assert.match(refused.stderr, /is not the etcd disk \(label '[^']*', expected kubeha-etcd\)/);
            assert.deepEqual(fs.readdirSync(member.disk), []);
        });

        test("members restored from different snapshots do not form a cluster; from the same one, the keys of the snapshot", async () => {
            const other = path.join(workDir, "other", path.basename(snapshotObject));
            fs.mkdirSync(path.dirname(other), { recursive: true });
            await download(snapshotObject, other);
            const revision = (status: string) => Number(/"Revision" : (\d+)/.exec(status)?.[1]);
            const restore = async (member: Member, file: string) => {
                member.disk = freshDisk(`${member.name}-fresh-disk`);
                const restored = await script(member, "etcd-restore.sh", {
                    KUBEHA_ETCD_CONFIG: etcdConfigPath,
                    KUBEHA_SNAPSHOT: file,
                    KUBEHA_SNAPSHOT_SHA256: sha256Of(file),
                    KUBEHA_CLUSTER_TOKEN: "kubeha-dev-restored-1",
                    KUBEHA_APISERVER_MANIFEST: path.join(workDir, "no-manifest", "kube-apiserver.yaml"),
                });
                assert.equal(restored.status, 0, restored.stderr);
                assert.match(restored.stderr, /etcd does not answer at \S+: cannot watch for writers/);
                assert.match(
                    restored.stderr,
                    new RegExp(`cluster token kubeha-dev-restored-1-${sha256Of(file).slice(0, 16)}\\)`),
                );
            };
            // The third member from an older snapshot, with the same token: the others refuse it.
            await restore(members[0], picked.file);
            await restore(members[1], picked.file);
            await restore(members[2], other);
            for (const member of members) startEtcd(member);
            const pair = members
                .slice(0, 2)
                .map((member) => member.config["advertise-client-urls"])
                .join(",");
            await waitFor("the two members restored from the same snapshot to be healthy", 60_000, async () =>
                (await etcdctl(members[0], ["endpoint", "health", `--endpoints=${pair}`])).status === 0
                    ? true
                    : undefined,
            );
            await waitFor("the odd member to be refused by its peers", 30_000, async () =>
                members.some((member) =>
                    /cluster ID mismatch/.test(fs.readFileSync(path.join(workDir, `${member.name}-etcd.log`), "utf8")),
                )
                    ? true
                    : undefined,
            );
            const odd = members[2].config["advertise-client-urls"];
            assert.notEqual((await etcdctl(members[0], ["endpoint", "health", `--endpoints=${odd}`])).status, 0);
            // Restored again from the right snapshot, it joins.
            await processes.stop(`etcd-${members[2].name}`);
            await restore(members[2], picked.file);
            startEtcd(members[2]);
            await waitFor("the restored cluster to be healthy", 60_000, async () =>
                (await etcdctl(members[0], ["endpoint", "health", "--cluster"])).status === 0 ? true : undefined,
            );
            const get = (key: string) => etcdctl(members[1], ["get", key, "--print-value-only"]);
            assert.equal((await get("written-before")).stdout.trim(), "1");
            assert.equal((await get("written-after")).stdout.trim(), "", "written after the snapshot");
            const list = await etcdctl(members[2], ["member", "list"]);
            for (const member of members)
                assert.match(list.stdout, new RegExp(`, started, ${member.name}, https://${member.name}\\.`));
            const clusterId = (status: string) => /"ClusterID" : (\d+)/.exec(status)?.[1];
            const afterStatus = await etcdctl(members[0], ["endpoint", "status", "-w", "fields"]);
            assert.notEqual(clusterId(afterStatus.stdout), clusterId(statusBefore), "a new cluster (new token)");
            // Resource versions never go backwards: the restored revision is past anything the old cluster had, and
            // compacted, so a watcher from before gets "compacted" and relists.
            assert.ok(revision(afterStatus.stdout) > revision(statusBefore) + 999_000_000, afterStatus.stdout);
            const old = await etcdctl(members[0], ["get", "written-before", `--rev=${revision(statusBefore)}`]);
            assert.notEqual(old.status, 0);
            assert.match(old.stderr, /required revision has been compacted/);
        });
    },
);

function parseEnvFile(text: string): Record<string, string> {
    return Object.fromEntries(
        text
            .split("\n")
            .filter((line) => /^[A-Z_0-9]+=/.test(line))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
}
