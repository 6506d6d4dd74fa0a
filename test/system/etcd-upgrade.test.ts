// The etcd upgrade step (scripts/upgrade-etcd.sh) against real etcd releases: a 3-member cluster of the release the
// toolchain builds for this test only (etcdUpgradeFromVersion, a 3.5 patch), upgraded member by member to the etcd
// the hosts run (etcdVersion, 3.6), as `pulumi up` runs the steps, while a client keeps writing; each member is
// snapshotted before its minor upgrade. The release tarball is made from the toolchain's binaries and served by a
// local https mirror with its SHA256SUMS, as a release is. Each member has its own bin directory (the unit's
// ExecStart dir): the systemctl stand-in restarts etcd from it. What the step refuses (a skipped minor, a downgrade,
// a tarball with another digest, a mirror without TLS) changes nothing on a member.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdVersion } from "../../config/versions";
import { steps } from "../../render/steps";
import { etcdUpgradeFromVersion } from "../../toolchain/components";
import { freePort, HttpsMirror } from "../support/https-mirror";
import { changes, StepSandbox } from "../support/step-sandbox";
import {
    LoopbackEtcd,
    loopbackMembers as members,
    type LoopbackMember as Member,
    processAlive as alive,
} from "./support/loopback-etcd";
import { toolchainBinary, toolchainRelease } from "./support/toolchain";

const script = steps["etcd-upgrade"].script;
const binaries = ["etcd", "etcdctl", "etcdutl"] as const;

describe(`etcd upgrade ${etcdUpgradeFromVersion} → ${etcdVersion}, member by member, against the real releases`, () => {
    const sandbox = new StepSandbox("etcd-upgrade");
    const etcd = new LoopbackEtcd(sandbox.dir, 21, (member) => path.join(sandbox.dir, "data", member));
    const binDir = (member: Member) => path.join(sandbox.dir, "bin", member);
    const snapshotDir = (member: Member) => path.join(sandbox.dir, "upgrade-snapshots", member);
    const pidFile = (member: Member) => path.join(sandbox.state, member, "etcd.pid");
    const mirrorDir = path.join(sandbox.dir, "mirror");
    // The same release served over https (hosts download over https only) and, to be refused, over plain http.
    let mirror: HttpsMirror;
    let plainMirror: HttpsMirror;
    const tarball = (version: string) => `etcd-v${version}-linux-amd64.tar.gz`;
    const releaseUrl = (version: string, served = mirror) => served.url(`v${version}/${tarball(version)}`);
    const variables = (member: Member, target = etcdVersion, extra: Record<string, string> = {}) => ({
        KUBEHA_ETCD_VERSION: target,
        KUBEHA_ETCD_RELEASE: releaseUrl(target),
        // The local mirror's self-signed certificate.
        CURL_CA_BUNDLE: mirror.certificate,
        KUBEHA_ETCD_BIN_DIR: binDir(member),
        KUBEHA_ETCD_CONFIG: etcd.configPath(member),
        KUBEHA_ETCD_SNAPSHOT_DIR: snapshotDir(member),
        ...etcd.clientVariables(),
        KUBEHA_TIMEOUT: "120",
        // The etcdctl and systemctl stand-ins run the member's own binaries, as the host would.
        STUB_ETCD_BIN: binDir(member),
        ...extra,
    });
    const etcdctl = (args: string[], at?: string) => etcd.etcdctl(toolchainBinary("etcdctl"), args, at);
    /** What each member reports (etcdctl endpoint status: the server's version, third). */
    const versions = () =>
        Object.fromEntries(
            etcdctl(["endpoint", "status"])
                .trim()
                .split("\n")
                .map((line) => line.split(", "))
                .map(([endpoint, , version]) => [members.find((m) => etcd.clientUrl(m) === endpoint), version]),
        );
    const installed = (member: Member) =>
        spawnSync(path.join(binDir(member), "etcd"), ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
    /** The cluster version etcd settles on once every member runs a release (GET /version). */
    const clusterVersion = () => {
        const pki = etcd.pki;
        const result = spawnSync(
            "curl",
            ["-fsS", "--cacert", `${pki}/ca.crt`, "--cert", `${pki}/client.crt`, "--key", `${pki}/client.key`].concat(
                `${etcd.clientUrl("etcd-1")}/version`,
            ),
            { encoding: "utf8" },
        );
        assert.equal(result.status, 0, result.stderr);
        return (JSON.parse(result.stdout) as { etcdcluster: string }).etcdcluster;
    };

    before(async () => {
        const from = toolchainRelease("etcd", etcdUpgradeFromVersion);
        // The release as etcd publishes it: etcd-v<v>-linux-amd64/{etcd,etcdctl,etcdutl} in a tarball, and SHA256SUMS.
        const release = path.join(mirrorDir, `v${etcdVersion}`);
        const top = path.join(sandbox.dir, `etcd-v${etcdVersion}-linux-amd64`);
        fs.mkdirSync(top, { recursive: true });
        fs.mkdirSync(release, { recursive: true });
        for (const binary of binaries) fs.copyFileSync(toolchainBinary(binary), path.join(top, binary));
        const tar = spawnSync("tar", [
            "-czf",
            path.join(release, tarball(etcdVersion)),
            "-C",
            sandbox.dir,
            path.basename(top),
        ]);
        assert.equal(tar.status, 0, String(tar.stderr));
        const digest = createHash("sha256")
            .update(fs.readFileSync(path.join(release, tarball(etcdVersion))))
            .digest("hex");
        fs.writeFileSync(path.join(release, "SHA256SUMS"), `${digest}  ${tarball(etcdVersion)}\n`);
        mirror = new HttpsMirror(mirrorDir, await freePort());
        plainMirror = new HttpsMirror(mirrorDir, await freePort(), false);
        await mirror.start();
        await plainMirror.start();

        etcd.issueCertificates();
        for (const member of members) {
            etcd.writeConfig(member);
            fs.mkdirSync(binDir(member), { recursive: true });
            for (const binary of binaries) fs.copyFileSync(path.join(from, binary), path.join(binDir(member), binary));
            fs.chmodSync(path.join(binDir(member), "etcd"), 0o755);
            // Started as etcd.service starts it, with the pid file the systemctl stand-in keeps for the unit.
            fs.mkdirSync(path.dirname(pidFile(member)), { recursive: true });
            const log = fs.openSync(path.join(sandbox.state, member, "etcd.log"), "a");
            const child = spawn(path.join(binDir(member), "etcd"), [`--config-file=${etcd.configPath(member)}`], {
                stdio: ["ignore", log, log],
                detached: true,
            });
            child.unref();
            fs.writeFileSync(pidFile(member), String(child.pid));
        }
        for (let i = 0; i < 120; i++) {
            const health = spawnSync(
                toolchainBinary("etcdctl"),
                [`--endpoints=${etcd.endpoints}`, `--cacert=${etcd.pki}/ca.crt`].concat(
                    `--cert=${etcd.pki}/client.crt`,
                    `--key=${etcd.pki}/client.key`,
                    "endpoint",
                    "health",
                ),
            );
            if (health.status === 0) break;
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
        assert.deepEqual(versions(), Object.fromEntries(members.map((m) => [m, etcdUpgradeFromVersion])));
    });

    after(async () => {
        mirror?.stop();
        plainMirror?.stop();
        for (const member of members) {
            if (!fs.existsSync(pidFile(member))) continue;
            const pid = Number(fs.readFileSync(pidFile(member), "utf8"));
            if (alive(pid)) process.kill(pid, "SIGKILL");
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
        sandbox.remove();
    });

    test("refused before anything changes: a skipped minor, a downgrade, a tarball with another digest, plain http", async () => {
        sandbox.takeCalls();
        const skip = await sandbox.run("etcd-1", script, variables("etcd-1", "3.7.0"));
        assert.equal(skip.status, 1);
        assert.match(
            skip.stderr,
            new RegExp(
                `refused: ${etcd.clientUrl("etcd-2").replace(/\./g, "\\.")} runs ${etcdUpgradeFromVersion.replace(/\./g, "\\.")}: 3\\.7\\.0 skips a minor; etcd upgrades one minor at a time \\(3\\.6 first\\)`,
            ),
        );
        assert.match(
            skip.stderr,
            /FAILED: etcd 3\.7\.0 cannot be reached from what the members run \(nothing was changed\)/,
        );

        const downgrade = await sandbox.run("etcd-2", script, variables("etcd-2", "3.5.31"));
        assert.equal(downgrade.status, 1);
        assert.match(downgrade.stderr, /runs 3\.5\.35, newer than 3\.5\.31: kubeha does not downgrade etcd/);

        const tampered = await sandbox.run(
            "etcd-3",
            script,
            variables("etcd-3", etcdVersion, { KUBEHA_ETCD_SHA256: "0".repeat(64) }),
        );
        assert.equal(tampered.status, 1);
        assert.match(tampered.stderr, /FAILED: etcd-v\S+ does not have SHA-256 0{64} \(nothing was changed\)/);

        // The same tarball without TLS: curl refuses the protocol on every try, until the step's budget is spent.
        const plain = await sandbox.run(
            "etcd-1",
            script,
            variables("etcd-1", etcdVersion, {
                KUBEHA_ETCD_RELEASE: releaseUrl(etcdVersion, plainMirror),
                KUBEHA_TIMEOUT: "3",
            }),
        );
        assert.equal(plain.status, 1);
        assert.match(plain.stderr, /FAILED: cannot download http:\/\/\S+ \(nothing was changed\)/);
        assert.deepEqual(await plainMirror.settledRequests(), [], "nothing was asked of the plain http mirror");

        assert.deepEqual(changes(sandbox.takeCalls()), []);
        for (const member of members) assert.equal(installed(member), `etcd Version: ${etcdUpgradeFromVersion}`);
        assert.deepEqual(versions(), Object.fromEntries(members.map((m) => [m, etcdUpgradeFromVersion])));
    });

    test("one member at a time, each healthy at the target before the next, while writes go on", async () => {
        // A client writing all along, as the kube-apiservers do: every put it was told succeeded must be kept.
        const acknowledged: string[] = [];
        let failures = 0;
        let longestGap = 0;
        let writing = true;
        const writer = (async () => {
            let last = Date.now();
            for (let i = 0; writing; i++) {
                const ok = await new Promise<boolean>((resolve) => {
                    const child = spawn(toolchainBinary("etcdctl"), [
                        `--endpoints=${etcd.endpoints}`,
                        `--cacert=${etcd.pki}/ca.crt`,
                        `--cert=${etcd.pki}/client.crt`,
                        `--key=${etcd.pki}/client.key`,
                        "--command-timeout=5s",
                        "put",
                        `/upgrade/${i}`,
                        String(i),
                    ]);
                    child.on("close", (status) => resolve(status === 0));
                });
                if (ok) {
                    acknowledged.push(`/upgrade/${i}`);
                    longestGap = Math.max(longestGap, Date.now() - last);
                    last = Date.now();
                } else {
                    failures++;
                }
                await new Promise((resolve) => setTimeout(resolve, 50));
            }
        })();

        const expected: Record<string, string> = Object.fromEntries(members.map((m) => [m, etcdUpgradeFromVersion]));
        try {
            for (const member of members) {
                const pid = Number(fs.readFileSync(pidFile(member), "utf8"));
                const upgrade = await sandbox.run(member, script, variables(member));
                assert.equal(upgrade.status, 0, upgrade.stderr);
                assert.deepEqual(changes(sandbox.takeCalls()), [
                    `${member}: systemctl restart --no-block etcd.service`,
                ]);
                assert.match(
                    upgrade.stderr,
                    new RegExp(`installed etcd, etcdctl and etcdutl ${etcdVersion.replace(/\./g, "\\.")}`),
                );
                assert.match(
                    upgrade.stderr,
                    new RegExp(
                        `member ${member} runs etcd ${etcdVersion.replace(/\./g, "\\.")}; the cluster is healthy`,
                    ),
                );
                // Its snapshot from before the restart: named by its revision, checked by its .sha256, and what the
                // old release wrote.
                const taken = new RegExp(`snapshot (\\S+): revision (\\d+), sha256 ([0-9a-f]{64})`).exec(
                    upgrade.stderr,
                );
                assert.ok(taken, upgrade.stderr);
                const [, snapshot, revision] = taken;
                assert.equal(
                    snapshot,
                    path.join(
                        snapshotDir(member),
                        `${member}-${etcdUpgradeFromVersion}-to-${etcdVersion}-rev${revision}.db`,
                    ),
                );
                assert.ok(
                    upgrade.stderr.indexOf(taken[0]) < upgrade.stderr.indexOf("downloading"),
                    "before the download",
                );
                const checked = spawnSync("sha256sum", ["--check", "--strict", `${path.basename(snapshot)}.sha256`], {
                    cwd: snapshotDir(member),
                    encoding: "utf8",
                });
                assert.equal(checked.status, 0, checked.stdout + checked.stderr);
                const status = JSON.parse(
                    spawnSync(toolchainBinary("etcdutl"), ["snapshot", "status", snapshot, "-w", "json"], {
                        encoding: "utf8",
                    }).stdout,
                ) as { revision: number; totalKey: number; version: string };
                assert.equal(String(status.revision), revision);
                assert.equal(
                    status.version,
                    "",
                    `3.5's data, with no storage version (3.6 writes one): ${JSON.stringify(status)}`,
                );
                assert.ok(!alive(pid), "the old etcd process is gone");
                assert.equal(installed(member), `etcd Version: ${etcdVersion}`);
                // This member and no other changed: the next one starts from a healthy cluster.
                expected[member] = etcdVersion;
                assert.deepEqual(versions(), expected);
                etcdctl(["endpoint", "health"]);
            }
        } finally {
            writing = false;
            await writer;
        }
        assert.ok(acknowledged.length > 20, `writes went on (${acknowledged.length} acknowledged)`);
        assert.ok(longestGap < 10_000, `no write succeeded for ${longestGap} ms`);
        // Every acknowledged write is on every member (serializable reads: each member's own copy).
        const last = acknowledged[acknowledged.length - 1];
        for (const member of members) {
            await waitUntil(
                () =>
                    etcdctl(["get", last, "--consistency=s", "--print-value-only"], etcd.clientUrl(member)).trim() !==
                    "",
            );
            const keys = etcdctl(
                ["get", "/upgrade/", "--prefix", "--keys-only", "--consistency=s"],
                etcd.clientUrl(member),
            )
                .split("\n")
                .filter(Boolean);
            const missing = acknowledged.filter((key) => !keys.includes(key));
            assert.deepEqual(missing, [], `${member} has every acknowledged write`);
        }
        // With every member at 3.6, etcd moves the cluster version up by itself.
        await waitUntil(() => clusterVersion() === `${etcdVersion.split(".").slice(0, 2).join(".")}.0`);
        console.log(`writes: ${acknowledged.length} acknowledged, ${failures} failed, longest gap ${longestGap} ms`);
    });

    test("run again, every member is left alone", async () => {
        const pids = members.map((member) => fs.readFileSync(pidFile(member), "utf8"));
        for (const member of members) {
            const again = await sandbox.run(member, script, variables(member));
            assert.equal(again.status, 0, again.stderr);
            assert.match(
                again.stderr,
                new RegExp(`member ${member} runs etcd ${etcdVersion.replace(/\./g, "\\.")} already: nothing to do`),
            );
        }
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.deepEqual(
            members.map((member) => fs.readFileSync(pidFile(member), "utf8")),
            pids,
        );
    });
});

async function waitUntil(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
        if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms: ${condition.toString()}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}
