// The etcd upgrade step's checks with an etcdctl stand-in that answers for a cluster whose members run the versions
// a test gives (a cluster of etcd 3.5.23 cannot be run here without one more etcd build): the upgrade paths etcd
// documents, a rollout left half-done, an unhealthy cluster. Every refusal happens before anything changes: no
// download, no restart. The upgrade itself runs against real etcd releases in test/system/etcd-upgrade.test.ts.
import assert from "node:assert/strict";
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
else
    echo "etcdctl stand-in: unexpected $*" >&2; exit 2
fi
`,
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(bin, "etcd"), `#!/bin/sh\necho "etcd Version: 3.5.31"\n`, { mode: 0o755 });
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
});
