// The etcd steps against a real etcd 3.6 (the toolchain's build of the release the hosts run): start-etcd
// on three members at once, the health gate, a restart on changed files, and the replacement of a member
// whose host was replaced (seed 000: member remove, member add, start with initial-cluster-state existing). Members
// listen on 127.0.0.11-13 (support/loopback-etcd.ts); each "host" runs the scripts in its own throwaway root, and the
// systemctl stand-in starts etcd as the unit would (etcd --config-file).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { hostBoot } from "../../render/cloud-init";
import { steps } from "../../render/steps";
import { changes, StepSandbox } from "../support/step-sandbox";
import {
    LoopbackEtcd,
    loopbackMembers as members,
    type LoopbackMember as Member,
    processAlive as alive,
} from "./support/loopback-etcd";
import { toolchainBinary } from "./support/toolchain";

describe("etcd steps against a real 3-member etcd", () => {
    const sandbox = new StepSandbox("etcd-steps");
    /** Each member's etcd disk: an ext4 image labelled as the boot labels it, loop-mounted here. */
    const diskMount = (member: Member) => path.join(sandbox.dir, "disks", member);
    const diskImage = (member: Member) => path.join(sandbox.dir, `${member}-etcd.img`);
    const etcd = new LoopbackEtcd(sandbox.dir, 11, (member) => path.join(diskMount(member), "data"));
    const dataDir = etcd.dataDir;
    const configPath = (member: Member) => etcd.configPath(member);
    const clientUrl = (member: Member) => etcd.clientUrl(member);
    const peerUrl = (member: Member) => etcd.peerUrl(member);
    const writeConfig = (member: Member, retention?: string) => etcd.writeConfig(member, retention);
    const etcdctl = (args: string[], at?: string) => etcd.etcdctl(toolchainBinary("etcdctl"), args, at);
    const callLog = path.join(sandbox.state, "calls.log");
    const pidOf = (member: Member) => Number(fs.readFileSync(path.join(sandbox.state, member, "etcd.pid"), "utf8"));
    const variables = (member: Member, timeout = "60") => ({
        KUBEHA_ETCD_CONFIG: configPath(member),
        ...etcd.clientVariables(),
        KUBEHA_ETCD_DISK: diskMount(member),
        KUBEHA_TIMEOUT: timeout,
        // Where the etcdctl and systemctl stand-ins find the real etcdctl and etcd.
        STUB_ETCD_BIN: path.dirname(toolchainBinary("etcd")),
    });
    const gateVariables = (timeout: string) => {
        const { KUBEHA_ETCD_CONFIG: _config, KUBEHA_ETCD_DISK: _disk, ...gate } = variables("etcd-1", timeout);
        return gate;
    };

    /** The host's boot preparation got past its etcd stage (the disk mounted, the binaries installed). */
    const bootedPastEtcd = (member: Member, stages = "disks\nkernel\nswap\nsshd\netcd\n") =>
        sandbox.writeHostFile(member, hostBoot.stagesDoneFile, stages);

    const stopMember = async (member: Member) => {
        const pid = pidOf(member);
        process.kill(pid, "SIGKILL");
        for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    };

    const run = (command: string, args: string[]) => {
        const result = spawnSync(command, args, { encoding: "utf8" });
        assert.equal(result.status, 0, `${command} ${args.join(" ")}: ${result.stderr}`);
    };
    const mounted = (member: Member) => spawnSync("findmnt", ["-rn", "--mountpoint", diskMount(member)]).status === 0;
    const mountDisk = (member: Member) => run("mount", ["-o", "loop", diskImage(member), diskMount(member)]);
    const unmountDisk = (member: Member) => run("umount", [diskMount(member)]);

    before(() => {
        for (const member of members) {
            fs.mkdirSync(diskMount(member), { recursive: true });
            run("truncate", ["-s", "256M", diskImage(member)]); // sparse; etcd preallocates 64 MiB of WAL
            run("mkfs.ext4", ["-q", "-L", "kubeha-etcd", diskImage(member)]);
            mountDisk(member);
        }
        etcd.issueCertificates();
        for (const member of members) {
            writeConfig(member);
            bootedPastEtcd(member);
        }
    });

    after(async () => {
        for (const member of members) {
            if (fs.existsSync(path.join(sandbox.state, member, "etcd.pid")) && alive(pidOf(member))) {
                await stopMember(member);
            }
            if (mounted(member)) unmountDisk(member);
        }
        sandbox.remove();
    });

    test("start-etcd on every member at once forms the cluster; the gate waits for it", async () => {
        const gate = sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        // The members start once the gate has asked twice (its first attempt failed: nothing ran yet).
        const gateAsked = () => fs.readFileSync(callLog, "utf8").match(/endpoint health/g)?.length ?? 0;
        for (let i = 0; i < 200 && gateAsked() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 100));
        const starts = await Promise.all(
            members.map((member) => sandbox.run(member, steps.etcd.script, variables(member))),
        );
        const gated = await gate;
        const calls = changes(sandbox.takeCalls()).sort();
        for (const start of starts) assert.equal(start.status, 0, start.stderr);
        assert.equal(gated.status, 0, gated.stderr);
        assert.match(gated.stderr, /waiting for every etcd member to be healthy \(attempt 1 failed/);
        assert.match(gated.stderr, /all 3 etcd member\(s\) healthy/);
        assert.deepEqual(
            calls,
            members.flatMap((member) => [
                `${member}: systemctl enable --quiet etcd.service`,
                `${member}: systemctl start --no-block etcd.service`,
            ]),
        );
    });

    test("a second start-etcd changes nothing and leaves etcd running", async () => {
        const pids = members.map(pidOf);
        for (const member of members) {
            const run = await sandbox.run(member, steps.etcd.script, variables(member));
            assert.equal(run.status, 0, run.stderr);
            assert.match(run.stderr, /etcd\.service is active with the current config/);
        }
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.deepEqual(members.map(pidOf), pids);
    });

    test("start-etcd runs during the boot: it waits for the boot's etcd stage, and fails at once if the boot failed", async () => {
        const stagesDone = sandbox.hostPath("etcd-1", hostBoot.stagesDoneFile);
        const failedMarker = sandbox.hostPath("etcd-1", hostBoot.failedMarker);
        bootedPastEtcd("etcd-1", "disks\nkernel\n");
        const waited = await sandbox.run("etcd-1", steps.etcd.script, variables("etcd-1", "3"));
        assert.equal(waited.status, 1);
        assert.match(waited.stderr, /the boot preparation has not finished stage 'etcd' in time/);

        fs.writeFileSync(failedMarker, "etcd\n");
        const failed = await sandbox.run("etcd-1", steps.etcd.script, variables("etcd-1", "60"));
        assert.equal(failed.status, 1);
        assert.ok(failed.seconds < 10, `at once (took ${failed.seconds}s)`);
        assert.match(failed.stderr, /the boot preparation failed in stage 'etcd' before finishing stage 'etcd'/);
        fs.rmSync(failedMarker);
        assert.deepEqual(changes(sandbox.takeCalls()), [], "nothing started while the boot had not installed etcd");

        const later = sandbox.run("etcd-1", steps.etcd.script, variables("etcd-1", "60"));
        await new Promise((resolve) => setTimeout(resolve, 3000));
        fs.appendFileSync(stagesDone, "swap\nsshd\netcd\n");
        const run = await later;
        assert.equal(run.status, 0, run.stderr);
        assert.ok(run.seconds >= 3, `it waited for the stage (took ${run.seconds}s)`);
        assert.match(run.stderr, /waiting for the boot preparation to finish stage 'etcd' \(now in: /);
        assert.match(run.stderr, /etcd\.service is active with the current config/);
    });

    test("the gate fails within its budget while a member is down, and names it", async () => {
        await stopMember("etcd-3");
        const gate = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("5"));
        assert.equal(gate.status, 1);
        assert.ok(gate.seconds < 20, `bounded (took ${gate.seconds}s)`);
        assert.match(gate.stderr, new RegExp(`${clientUrl("etcd-3").replace(/\./g, "\\.")} is unhealthy`));
        assert.match(gate.stderr, /look at: journalctl -u etcd -n 100, on each member listed as unhealthy/);
        const restart = await sandbox.run("etcd-3", steps.etcd.script, variables("etcd-3"));
        assert.equal(restart.status, 0, restart.stderr);
        assert.match(restart.stderr, /starting etcd\.service \(was inactive\)/);
        const healthy = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        assert.equal(healthy.status, 0, healthy.stderr);
        sandbox.takeCalls();
    });

    test("a changed config restarts its member, once", async () => {
        const before = pidOf("etcd-1");
        writeConfig("etcd-1", "2h");
        const changed = await sandbox.run("etcd-1", steps.etcd.script, variables("etcd-1"));
        assert.equal(changed.status, 0, changed.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), ["etcd-1: systemctl restart --no-block etcd.service"]);
        assert.notEqual(pidOf("etcd-1"), before);
        // The step returns only once the restarted member is healthy: the next member may restart then.
        assert.match(changed.stderr, /this member is healthy again after its restart/);
        const again = await sandbox.run("etcd-1", steps.etcd.script, variables("etcd-1"));
        assert.equal(again.status, 0, again.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        const gate = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        assert.equal(gate.status, 0, gate.stderr);
    });

    test("the etcd disk failed to mount: start-etcd refuses, and no member is removed or started", async () => {
        const memberIds = etcdctl(["member", "list"]);
        // A reboot whose nofail mount failed: etcd is down (RequiresMountsFor), the mount point an empty directory.
        await stopMember("etcd-2");
        unmountDisk("etcd-2");
        sandbox.takeCalls();
        const refused = await sandbox.run("etcd-2", steps.etcd.script, variables("etcd-2"));
        assert.equal(refused.status, 1);
        assert.match(refused.stderr, /FAILED: the etcd disk is not mounted at \S+: refusing to start/);
        const replace = await sandbox.run("etcd-2", steps["replace-etcd-member"].script, variables("etcd-2"));
        assert.equal(replace.status, 1, "the replacement, run by hand, refuses as well");
        assert.match(replace.stderr, /FAILED: the etcd disk is not mounted/);
        // Another filesystem there (not labelled kubeha-etcd) is refused too.
        run("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", diskMount("etcd-2")]);
        const other = await sandbox.run("etcd-2", steps.etcd.script, variables("etcd-2"));
        unmountDisk("etcd-2");
        assert.equal(other.status, 1);
        assert.match(other.stderr, /is not the etcd disk \(label '', expected kubeha-etcd\)/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);

        mountDisk("etcd-2");
        const back = await sandbox.run("etcd-2", steps.etcd.script, variables("etcd-2"));
        assert.equal(back.status, 0, back.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), ["etcd-2: systemctl start --no-block etcd.service"]);
        const gate = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        assert.equal(gate.status, 0, gate.stderr);
        assert.equal(etcdctl(["member", "list"]), memberIds, "the same members, the same IDs");
    });

    test("a replaced host gets its etcd disk back: the same member restarts with its data, nothing is replaced", async () => {
        etcdctl(["put", "/kubeha/on-the-disk", "kept"]);
        const memberIds = etcdctl(["member", "list"]);
        // A new instance: a fresh root; the protected disk is attached to it again and mounted by its boot.
        await stopMember("etcd-3");
        unmountDisk("etcd-3");
        sandbox.resetHost("etcd-3");
        mountDisk("etcd-3");
        writeConfig("etcd-3");
        bootedPastEtcd("etcd-3");
        sandbox.takeCalls();
        const start = await sandbox.run("etcd-3", steps.etcd.script, variables("etcd-3"));
        assert.equal(start.status, 0, start.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), [
            "etcd-3: systemctl enable --quiet etcd.service",
            "etcd-3: systemctl start --no-block etcd.service",
        ]);
        const gate = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        assert.equal(gate.status, 0, gate.stderr);
        assert.equal(etcdctl(["member", "list"]), memberIds, "no member was removed or added");
        const value = etcdctl(
            ["get", "/kubeha/on-the-disk", "--consistency=s", "--print-value-only"],
            clientUrl("etcd-3"),
        );
        assert.equal(value.trim(), "kept");
    });

    test("a replaced host whose etcd disk is new (rejoining empty on purpose): start-etcd removes the old member, adds the new one, and it serves the data", async () => {
        etcdctl(["put", "/kubeha/before-replacement", "kept"]);
        const memberId = (member: Member) =>
            etcdctl(["member", "list"])
                .split("\n")
                .find((line) => line.includes(`, ${peerUrl(member)}, `))
                ?.split(", ")[0];
        const oldId = memberId("etcd-3");
        assert.ok(oldId);
        // A new instance with a new, empty etcd disk: no etcd, no data, a fresh root; install-files delivers the config.
        await stopMember("etcd-3");
        fs.rmSync(dataDir("etcd-3"), { recursive: true, force: true });
        sandbox.resetHost("etcd-3");
        writeConfig("etcd-3");
        bootedPastEtcd("etcd-3");
        sandbox.takeCalls();

        const run = await sandbox.run("etcd-3", steps.etcd.script, variables("etcd-3"));
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /knows an earlier incarnation of this member: replacing it/);
        // etcd refuses a member add for a few seconds after a remove: the step retries it.
        assert.deepEqual(
            [...new Set(changes(sandbox.takeCalls()).map((call) => call.replace(/--endpoints=\S+ /, "")))],
            [
                `etcd-3: etcdctl member remove ${oldId}`,
                `etcd-3: etcdctl member add etcd-3 --peer-urls=${peerUrl("etcd-3")}`,
                "etcd-3: systemctl enable --quiet etcd.service",
                "etcd-3: systemctl start --no-block etcd.service",
            ],
        );
        assert.match(fs.readFileSync(configPath("etcd-3"), "utf8"), /^initial-cluster-state: existing$/m);

        const list = etcdctl(["member", "list"]);
        assert.equal(list.match(/, started, /g)?.length, 3, list);
        const newId = memberId("etcd-3");
        assert.ok(newId && newId !== oldId, `a new member ID (${newId} after ${oldId})`);
        // Serializable: answered from etcd-3's own copy of the data.
        const value = etcdctl(
            ["get", "/kubeha/before-replacement", "--consistency=s", "--print-value-only"],
            clientUrl("etcd-3"),
        );
        assert.equal(value.trim(), "kept");
        const gate = await sandbox.run("etcd-1", steps["etcd-health"].script, gateVariables("60"));
        assert.equal(gate.status, 0, gate.stderr);
    });

    test("on the replaced member, replace-etcd-member and start-etcd change nothing", async () => {
        sandbox.takeCalls();
        const pid = pidOf("etcd-3");
        const replace = await sandbox.run("etcd-3", steps["replace-etcd-member"].script, variables("etcd-3"));
        assert.equal(replace.status, 0, replace.stderr);
        assert.match(replace.stderr, /member etcd-3 is started and has its data: nothing to replace/);
        const start = await sandbox.run("etcd-3", steps.etcd.script, variables("etcd-3"));
        assert.equal(start.status, 0, start.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.equal(pidOf("etcd-3"), pid);
    });
});
