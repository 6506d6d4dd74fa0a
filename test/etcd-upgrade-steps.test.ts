// The etcd upgrade step's checks with an etcdctl stand-in that answers for a cluster whose members run the versions
// a test gives (a cluster of etcd 3.5.23 cannot be run here without one more etcd build): the upgrade paths etcd
// documents, a rollout left half-done, an unhealthy cluster. Every refusal happens before anything changes: no
// download, no restart. The upgrade itself runs against real etcd releases in test/system/etcd-upgrade.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { steps } from "../render/steps";
import { changes, StepSandbox } from "./support/step-sandbox";

const endpoints = ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"];

describe("etcd-upgrade refuses what etcd does not support, before anything changes", () => {
    const sandbox = new StepSandbox("etcd-upgrade-checks");
    const bin = path.join(sandbox.dir, "bin");
    const config = path.join(sandbox.dir, "etcd.yaml");
    const pki = path.join(sandbox.dir, "pki");
    const snapshots = path.join(sandbox.dir, "upgrade-snapshots");
    /** The member's revision the etcdctl stand-in's snapshots hold; "fail": its snapshot save fails. */
    const snapshotRevision = (revision: string) => fs.writeFileSync(path.join(sandbox.dir, "revision"), revision);
    const run = (target: string, running: string[], healthy = true) => {
        fs.writeFileSync(
            path.join(sandbox.dir, "status"),
            running
                .map(
                    (version, i) =>
                        `${endpoints[i]}, ${i + 1}a2b3c4d5e6f7a8b, ${version}, 20 kB, false, false, 2, 9, 9, \n`,
                )
                .join(""),
        );
        fs.writeFileSync(path.join(sandbox.dir, "healthy"), healthy ? "yes" : "no");
        return sandbox.run("etcd-1", steps["etcd-upgrade"].script, {
            KUBEHA_ETCD_VERSION: target,
            KUBEHA_ETCD_RELEASE: `file://${sandbox.dir}/mirror/etcd-v${target}-linux-amd64.tar.gz`,
            KUBEHA_ETCD_BIN_DIR: bin,
            KUBEHA_ETCD_CONFIG: config,
            KUBEHA_ETCD_SNAPSHOT_DIR: snapshots,
            KUBEHA_ETCD_ENDPOINTS: endpoints.join(","),
            KUBEHA_ETCD_CACERT: `${pki}/ca.crt`,
            KUBEHA_ETCD_CERT: `${pki}/client.crt`,
            KUBEHA_ETCD_KEY: `${pki}/client.key`,
            KUBEHA_TIMEOUT: "3",
            STUB_ETCD_BIN: bin,
        });
    };

    before(() => {
        fs.mkdirSync(bin);
        fs.mkdirSync(pki);
        for (const file of ["ca.crt", "client.crt", "client.key"]) fs.writeFileSync(path.join(pki, file), "");
        fs.writeFileSync(config, `name: etcd-1\nadvertise-client-urls: ${endpoints[0]}\n`);
        // Answers for the cluster described by the test's files: endpoint status from ./status, health from ./healthy.
        fs.writeFileSync(
            path.join(bin, "etcdctl"),
            `#!/usr/bin/env bash
set -euo pipefail
args=" $* "
if [[ $args == *" endpoint health "* ]]; then
    [[ $(cat ${sandbox.dir}/healthy) == yes ]] || { echo "${endpoints[2]} is unhealthy: failed to commit proposal" >&2; exit 1; }
    echo "${endpoints[0]} is healthy: successfully committed proposal"
elif [[ $args == *" member list "* ]]; then
    for i in 1 2 3; do echo "\${i}a2b3c4d5e6f7a8b, started, etcd-$i, https://10.0.0.$i:2380, https://10.0.0.$i:2379, false"; done
elif [[ $args == *" endpoint status "* ]]; then
    cat ${sandbox.dir}/status
elif [[ $1 == --endpoints=${endpoints[0]} && $2 == snapshot && $3 == save ]]; then
    [[ $(cat ${sandbox.dir}/revision) != fail ]] || { echo "Error: rpc error: code = Unavailable" >&2; exit 1; }
    echo "etcd snapshot at revision $(cat ${sandbox.dir}/revision)" >"$4"
else
    echo "etcdctl stand-in: unexpected $*" >&2; exit 2
fi
`,
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(bin, "etcd"), `#!/bin/sh\necho "etcd Version: 3.5.31"\n`, { mode: 0o755 });
        // etcdutl snapshot status -w json, as etcd 3.5 and 3.6 print it, for the stand-in's snapshots.
        fs.writeFileSync(
            path.join(bin, "etcdutl"),
            `#!/usr/bin/env bash
set -euo pipefail
[[ "$1 $2" == "snapshot status" && "$4 $5" == "-w json" ]] || { echo "etcdutl stand-in: unexpected $*" >&2; exit 2; }
revision=$(sed -n 's/^etcd snapshot at revision //p' "$3")
[[ -n $revision ]] || { echo "Error: invalid database" >&2; exit 1; }
echo "{\\"hash\\":3355142505,\\"revision\\":$revision,\\"totalKey\\":1,\\"totalSize\\":20480,\\"version\\":\\"3.5.0\\"}"
`,
            { mode: 0o755 },
        );
        snapshotRevision("17");
        sandbox.takeCalls();
    });

    after(() => sandbox.remove());

    const refused = async (target: string, running: string[], reasons: RegExp[]) => {
        const result = await run(target, running);
        assert.equal(result.status, 1, result.stderr);
        for (const reason of reasons) assert.match(result.stderr, reason);
        assert.match(result.stderr, /cannot be reached from what the members run \(nothing was changed\)/);
        assert.doesNotMatch(result.stderr, /downloading/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    };

    test("3.5 below 3.5.26 to 3.6 (etcd's upgrade_3_6 checklist), naming the member and the patch to reach first", () =>
        refused(
            "3.6.16",
            ["3.5.35", "3.5.23", "3.5.35"],
            [
                /refused: https:\/\/10\.0\.0\.2:2379 runs 3\.5\.23: etcd supports the upgrade to 3\.6 only from 3\.5\.26 or later/,
            ],
        ));

    test("a skipped minor, counted from the oldest member of a rollout left half-done", () =>
        refused(
            "3.7.0",
            ["3.6.16", "3.5.35", "3.5.35"],
            [/runs 3\.5\.35: 3\.7\.0 skips a minor; etcd upgrades one minor at a time \(3\.6 first\)/],
        ));

    test("a downgrade, by a patch or a minor", async () => {
        await refused(
            "3.6.15",
            ["3.6.16", "3.6.16", "3.6.16"],
            [/runs 3\.6\.16, newer than 3\.6\.15: kubeha does not downgrade etcd/],
        );
        await refused(
            "3.5.35",
            ["3.6.16", "3.5.35", "3.5.35"],
            [/10\.0\.0\.1:2379 runs 3\.6\.16, newer than 3\.5\.35/],
        );
    });

    test("an unhealthy cluster: no member is touched, within the step's budget", async () => {
        const result = await run("3.6.16", ["3.5.35", "3.5.35", "3.5.35"], false);
        assert.equal(result.status, 1);
        assert.ok(result.seconds < 15, `bounded (took ${result.seconds}s)`);
        assert.match(result.stderr, /10\.0\.0\.3:2379 is unhealthy/);
        assert.match(
            result.stderr,
            /FAILED: the etcd cluster is not healthy: no member is upgraded until it is \(nothing was changed\)/,
        );
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    test("accepted paths go on to the download: a patch, the next minor from 3.5.26, a rollout left half-done", async () => {
        for (const [target, running] of [
            ["3.5.35", ["3.5.31", "3.5.31", "3.5.31"]],
            ["3.6.16", ["3.5.26", "3.5.35", "3.5.35"]],
            ["3.6.16", ["3.5.35", "3.6.16", "3.6.16"]],
        ] as const) {
            const result = await run(target, [...running]);
            assert.equal(result.status, 1, "the mirror holds no tarball");
            assert.doesNotMatch(result.stderr, /refused/);
            assert.match(result.stderr, /downloading etcd-v\S+-linux-amd64\.tar\.gz/);
            assert.match(result.stderr, /FAILED: cannot download \S+ \(nothing was changed\)/);
        }
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });
    test("a minor upgrade: a snapshot of the member first, named by the upgrade and its revision, its sha256 beside it; a run again keeps one per upgrade", async () => {
        fs.rmSync(snapshots, { recursive: true, force: true });
        snapshotRevision("17");
        const first = await run("3.6.16", ["3.5.35", "3.5.35", "3.5.35"]);
        assert.match(first.stderr, /FAILED: cannot download/, "the mirror holds no tarball");
        const taken = /snapshot (\S+): revision 17, sha256 ([0-9a-f]{64})/.exec(first.stderr);
        assert.ok(taken, first.stderr);
        assert.ok(first.stderr.indexOf(taken[0]) < first.stderr.indexOf("downloading"), "before the download");
        assert.equal(taken[1], path.join(snapshots, "etcd-1-3.5.35-to-3.6.16-rev17.db"));
        const listing = () => fs.readdirSync(snapshots).sort();
        assert.deepEqual(listing(), ["etcd-1-3.5.35-to-3.6.16-rev17.db", "etcd-1-3.5.35-to-3.6.16-rev17.db.sha256"]);
        const check = (dir: string) =>
            spawnSync("sha256sum", ["--check", "--strict", `${path.basename(taken[1])}.sha256`], { cwd: dir });
        assert.equal(check(snapshots).status, 0, "the sha256 file checks the snapshot (sha256sum --check)");
        assert.equal(createHash("sha256").update(fs.readFileSync(taken[1])).digest("hex"), taken[2]);
        assert.equal((fs.statSync(snapshots).mode & 0o777).toString(8), "700");

        // Again at the same revision, then at a later one: one snapshot of this upgrade stays, the newest.
        assert.match((await run("3.6.16", ["3.5.35", "3.5.35", "3.5.35"])).stderr, /revision 17/);
        assert.deepEqual(listing(), ["etcd-1-3.5.35-to-3.6.16-rev17.db", "etcd-1-3.5.35-to-3.6.16-rev17.db.sha256"]);
        snapshotRevision("42");
        assert.match((await run("3.6.16", ["3.5.35", "3.5.35", "3.5.35"])).stderr, /revision 42/);
        assert.deepEqual(listing(), ["etcd-1-3.5.35-to-3.6.16-rev42.db", "etcd-1-3.5.35-to-3.6.16-rev42.db.sha256"]);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        snapshotRevision("17");
    });

    test("a patch upgrade, or a member at the target's minor already: no snapshot", async () => {
        fs.rmSync(snapshots, { recursive: true, force: true });
        for (const running of [
            ["3.5.31", "3.5.31", "3.5.31"],
            ["3.6.16", "3.5.35", "3.5.35"],
        ]) {
            const target = running[0] === "3.5.31" ? "3.5.35" : "3.6.16";
            const result = await run(target, running);
            assert.match(result.stderr, /downloading/);
            assert.doesNotMatch(result.stderr, /snapshot/);
        }
        assert.ok(!fs.existsSync(snapshots), "no snapshot directory");
    });

    test("a snapshot that fails, or does not read back, refuses the upgrade: no download, no binary replaced, no restart", async () => {
        const cases = [
            [
                "fail",
                /FAILED: cannot take a snapshot of member etcd-1 before its minor upgrade: not upgraded \(nothing was changed\)/,
            ],
            [
                "unreadable",
                /FAILED: the snapshot of member etcd-1 does not read back \(etcdutl snapshot status\): not upgraded \(nothing was changed\)/,
            ],
        ] as const;
        try {
            for (const [revision, failure] of cases) {
                fs.rmSync(snapshots, { recursive: true, force: true });
                snapshotRevision(revision);
                const result = await run("3.6.16", ["3.5.35", "3.5.35", "3.5.35"]);
                assert.equal(result.status, 1, revision);
                assert.match(result.stderr, failure);
                assert.doesNotMatch(result.stderr, /downloading/);
                assert.deepEqual(fs.readdirSync(snapshots), [], "no snapshot and no checksum left behind");
                assert.deepEqual(changes(sandbox.takeCalls()), []);
            }
        } finally {
            snapshotRevision("17");
        }
    });
});
