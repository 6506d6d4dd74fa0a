// The wait-cloud-init step against the real cloud-init (Debian's 22.4) booting a throwaway host that runs
// the real scripts/host-boot.sh (test/support/cloud-init-sandbox.sh): it succeeds after a good boot and
// again on a second run, names the stage a failed boot stopped in, stays within its time budget while
// cloud-init is still running, and waits while the boot goes on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { projectDir } from "../support/plan";

const driver = path.join(projectDir, "test", "support", "cloud-init-sandbox.sh");
const roots: string[] = [];

function boot(scenario: "booted" | "failed" | "running" | "waits", waitTimeout: number) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `kubeha-cloud-init-${scenario}-`));
    roots.push(root);
    const started = Date.now();
    const result = spawnSync(
        "unshare",
        ["--mount", "--uts", "--net", "--propagation", "private", driver, root, scenario, String(waitTimeout)],
        { encoding: "utf8", timeout: 120_000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" } },
    );
    assert.equal(result.status, 0, `sandbox: ${result.stderr}`);
    const statuses = [...result.stdout.matchAll(/^wait-status=(\d+)$/gm)].map((match) => Number(match[1]));
    return { ...result, statuses, seconds: (Date.now() - started) / 1000, root };
}

describe("wait-cloud-init with the real cloud-init", () => {
    after(() => roots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));

    test("a finished boot: succeeds, and again on a second run", () => {
        const run = boot("booted", 30);
        assert.deepEqual(run.statuses, [0, 0], run.stderr);
        assert.equal(run.stdout.match(/boot preparation complete/g)?.length, 2);
        const calls = fs.readFileSync(path.join(run.root, "state", "calls.log"), "utf8");
        assert.match(calls, /^sshd -t$/m, "the boot really ran its stages");
    });

    test("a failed boot: fails and names the stage, with the log lines and where to look", () => {
        const run = boot("failed", 30);
        assert.deepEqual(run.statuses, [1, 1]);
        assert.match(run.stderr, /FAILED: cloud-init finished with errors/);
        assert.match(run.stderr, /the boot preparation failed in stage: sshd$/m);
        assert.match(run.stderr, /last progress line: kubeha: stage 3\/3 sshd$/m);
        assert.match(run.stderr, /Bad configuration option: AcceptEnvv \(stub\)/, "the failing command's output");
        assert.match(run.stderr, /look at: \/var\/log\/cloud-init-output\.log/);
        assert.match(run.stderr, /re-run: .*sudo sh \/var\/lib\/cloud\/instance\/scripts\/runcmd/);
    });

    test("cloud-init still running: gives up after KUBEHA_TIMEOUT seconds and says where the boot is", () => {
        const run = boot("running", 3);
        assert.deepEqual(run.statuses, [1]);
        assert.ok(run.seconds < 20, `bounded (took ${run.seconds}s)`);
        assert.match(run.stderr, /FAILED: cloud-init still running after 3s/);
        assert.match(run.stderr, /has not started: cloud-init did not reach its runcmd/);
        assert.match(run.stderr, /status: running/);
    });

    test("waits while cloud-init runs, and succeeds when the boot completes", () => {
        const run = boot("waits", 60);
        assert.match(run.stdout, /^waiting-while-running=yes$/m);
        assert.deepEqual(run.statuses, [0], run.stderr);
    });
});
