// System test of etcd backups and the restore: the dev plan's three etcd members run etcd 3.6 (the version
// the hosts run, from the toolchain) in network namespaces at their planned addresses, with the plan's
// config and certificates. A fourth namespace (at the bastion's planned address) runs moto's S3 server
// from PyPI, with SigV4 signatures and IAM policies enforced, and a stand-in metadata service that hands
// out the instance role's temporary credentials the way AWS IMDSv2 and Aliyun's hardened mode do. The
// role's policy is the program's own (render/backup.ts). scripts/etcd-backup.sh runs on every member:
// only the leader uploads. Then every member is restored by scripts/etcd-restore.sh from that object
// into a fresh data disk, and the restored cluster has the keys written before the backup, not after.
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
                const disk = freshDir(`${host.name}-disk`);
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
                    { name: "store", ip: storeIp, hostsFile: "127.0.0.1 localhost\n" },
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
            fs.writeFileSync(policyFile, JSON.stringify(awsBackupPolicy(bucket, prefix)));
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
            if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
        });

        function freshDir(name: string): string {
            const dir = path.join(workDir, `${name}-${Date.now()}`);
            fs.mkdirSync(dir, { recursive: true });
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
            const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, ...etcdctlEnv };
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

        let snapshotObject: string;

        test("only the leader uploads, under the cluster's prefix, a name that sorts by time and names the member", async () => {
            assert.equal((await etcdctl(members[0], ["put", "written-before", "1"])).status, 0);
            const runs = await Promise.all(
                members.map((member) => script(member, "etcd-backup.sh", backupVariables("aws"))),
            );
            for (const [i, result] of runs.entries())
                assert.equal(result.status, 0, `${members[i].name}: ${result.stderr}`);
            const uploaded = runs.filter((result) => /uploaded etcd\//.test(result.stderr));
            assert.equal(uploaded.length, 1, runs.map((result) => result.stderr).join("\n"));
            assert.equal(runs.filter((result) => /is not the leader/.test(result.stderr)).length, 2);
            const keys = await objects();
            assert.equal(keys.length, 1);
            snapshotObject = keys[0];
            assert.match(snapshotObject, new RegExp(`^${prefix}\\d{8}T\\d{6}Z-master-\\d\\.db\\.gz$`));
            const leader = members.find((member) => snapshotObject.endsWith(`-${member.name}.db.gz`));
            assert.ok(leader);
            assert.match(
                fs.readFileSync(path.join(leader.state, "etcd-backup.last"), "utf8"),
                new RegExp(` ${snapshotObject}\n$`),
            );
            assert.equal((await etcdctl(members[0], ["put", "written-after", "2"])).status, 0);
        });

        test("with the Aliyun plan's settings (OSS provider, hardened metadata mode) too", async () => {
            // Object names have one-second resolution: a snapshot within the same second as the first would replace
            // it (with written-after in it), and the restore below would read the wrong one.
            await new Promise((resolve) => setTimeout(resolve, 1100));
            const runs = await Promise.all(
                members.map((member) => script(member, "etcd-backup.sh", backupVariables("aliyun"))),
            );
            for (const result of runs) assert.equal(result.status, 0, result.stderr);
            assert.equal((await objects()).length >= 2, true);
        });

        test("a failure is recorded with its reason; the role may not write outside its prefix", async () => {
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

        test("the restore brings three fresh members back with the keys of the snapshot", async () => {
            const snapshot = path.join(workDir, "snapshot.db.gz");
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
                    snapshotObject,
                    snapshot,
                ]),
            );
            const sha256 = crypto.createHash("sha256").update(fs.readFileSync(snapshot)).digest("hex");
            const before = await etcdctl(members[0], ["endpoint", "status", "-w", "fields"]);
            const revision = (status: string) => Number(/"Revision" : (\d+)/.exec(status)?.[1]);
            // Another snapshot than the one every member restores is refused before anything is stopped.
            const wrong = await script(members[0], "etcd-restore.sh", {
                KUBEHA_ETCD_CONFIG: etcdConfigPath,
                KUBEHA_SNAPSHOT: snapshot,
                KUBEHA_SNAPSHOT_SHA256: "0".repeat(64),
                KUBEHA_CLUSTER_TOKEN: "kubeha-dev-restored-1",
            });
            assert.equal(wrong.status, 1);
            assert.match(wrong.stderr, /not the snapshot every member must restore/);
            for (const member of members) await processes.stop(`etcd-${member.name}`);
            for (const member of members) {
                member.disk = freshDir(`${member.name}-fresh-disk`);
                const restored = await script(member, "etcd-restore.sh", {
                    KUBEHA_ETCD_CONFIG: etcdConfigPath,
                    KUBEHA_SNAPSHOT: snapshot,
                    KUBEHA_SNAPSHOT_SHA256: sha256,
                    KUBEHA_CLUSTER_TOKEN: "kubeha-dev-restored-1",
                });
                assert.equal(restored.status, 0, restored.stderr);
            }
            for (const member of members) startEtcd(member);
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
            assert.notEqual(clusterId(afterStatus.stdout), clusterId(before.stdout), "a new cluster (new token)");
            // Resource versions never go backwards: the restored revision is past anything the old cluster had, and
            // compacted, so a watcher from before gets "compacted" and relists.
            assert.ok(revision(afterStatus.stdout) > revision(before.stdout) + 999_000_000, afterStatus.stdout);
            const old = await etcdctl(members[0], ["get", "written-before", `--rev=${revision(before.stdout)}`]);
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
