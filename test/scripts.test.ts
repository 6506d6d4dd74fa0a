// The step scripts under scripts/: shellcheck-clean, strict mode, parameters only as the KUBEHA_*
// variables render/steps.ts documents; and the kubeadm- and kubectl-driven steps run twice on throwaway
// hosts with stand-ins for kubeadm, kubectl and systemctl: the second run changes nothing and succeeds.
import { prepareScript } from "../clouds/machines/infra";
import { resetScript } from "../clouds/machines/reset";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { operatorScripts, renderEtcdBackupCredentials } from "../render/backup";
import { hostBoot } from "../render/cloud-init";
import { installedScriptFiles, scriptLibrary, stepEnvironment, stepIds, steps, workerJoinUnit } from "../render/steps";
import { changes, scriptsDir, StepSandbox } from "./support/step-sandbox";

const shellFiles = fs.readdirSync(scriptsDir).filter((name) => name.endsWith(".sh"));
const read = (name: string) => fs.readFileSync(path.join(scriptsDir, name), "utf8");

/**
 * A step given a budget of `budget` seconds kept retrying for a good part of it (back-off may stop it up to
 * one delay early) and gave up soon after it: a few seconds of slack for process start-up on a busy machine.
 */
function assertWithin(seconds: number, budget: number): void {
    assert.ok(seconds >= budget / 3, `gave up after ${seconds}s, well before its ${budget}s budget`);
    assert.ok(seconds < budget + 10, `took ${seconds}s, beyond its ${budget}s budget`);
}

describe("every script under scripts/", () => {
    test("shellcheck reports nothing", () => {
        assert.ok(shellFiles.length > 0);
        const result = spawnSync("shellcheck", ["--format=gcc", ...shellFiles], { cwd: scriptsDir, encoding: "utf8" });
        assert.equal(result.error, undefined, "shellcheck must be installed");
        assert.equal(result.stdout + result.stderr, "");
        assert.equal(result.status, 0);
    });

    test("the stand-ins and the cloud-init sandbox the tests run them with are shellcheck-clean too", () => {
        const support = path.join(__dirname, "support");
        const files = ["step-stubs", "boot-stubs", "backup-stubs"]
            .flatMap((dir) => fs.readdirSync(path.join(support, dir)).map((name) => path.join(dir, name)))
            .concat("cloud-init-sandbox.sh");
        const result = spawnSync("shellcheck", ["--format=gcc", ...files], { cwd: support, encoding: "utf8" });
        assert.equal(result.stdout + result.stderr, "");
        assert.equal(result.status, 0);
    });

    test("starts with #!/usr/bin/env bash and strict mode before any command (lib.sh is sourced, not run)", () => {
        for (const name of shellFiles.filter((file) => file !== scriptLibrary)) {
            const lines = read(name).split("\n");
            assert.equal(lines[0], "#!/usr/bin/env bash", name);
            const firstCommand = lines.slice(1).find((line) => !/^\s*(#.*)?$/.test(line));
            assert.match(firstCommand ?? "", /^set -E?euo pipefail$/, name);
            assert.ok(fs.statSync(path.join(scriptsDir, name)).mode & 0o100, `${name} is executable`);
        }
    });
});

describe("wait-for-ssh.sh against ports on loopback", () => {
    /** Runs the script as the ssh step does (standalone, bash), without blocking the event loop. */
    const waitFor = (port: number, timeout: number) =>
        new Promise<{ status: number | null; stdout: string; stderr: string; seconds: number }>((resolve) => {
            const started = Date.now();
            const child = spawn("bash", [path.join(scriptsDir, steps.ssh.script)], {
                env: {
                    PATH: process.env.PATH,
                    KUBEHA_HOST: "127.0.0.1",
                    KUBEHA_PORT: String(port),
                    KUBEHA_TIMEOUT: String(timeout),
                },
            });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (chunk) => (stdout += chunk));
            child.stderr.on("data", (chunk) => (stderr += chunk));
            child.on("close", (status) => resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
        });
    const listen = () =>
        new Promise<net.Server>((resolve) => {
            const server = net.createServer((socket) => socket.destroy());
            server.listen(0, "127.0.0.1", () => resolve(server));
        });
    const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
    const close = (server: net.Server) => new Promise((resolve) => server.close(resolve));

    test("an open port: answers at the first attempt", async () => {
        const server = await listen();
        const run = await waitFor(portOf(server), 30);
        await close(server);
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /127\.0\.0\.1:\d+ answers \(after 1 attempt\(s\)/);
        assert.ok(run.seconds < 5, `took ${run.seconds}s`);
    });

    test("a port that opens later: found on a later attempt", async () => {
        const server = await listen();
        const port = portOf(server);
        await close(server);
        const run = waitFor(port, 30);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const reopened = net.createServer((socket) => socket.destroy()).listen(port, "127.0.0.1");
        const result = await run;
        reopened.close();
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /answers \(after [2-9] attempt\(s\)/);
    });

    test("a closed port: fails within its budget and says where to look", async () => {
        const server = await listen();
        const port = portOf(server);
        await close(server);
        const run = await waitFor(port, 6);
        assert.equal(run.status, 1);
        assert.match(
            run.stderr,
            new RegExp(`FAILED: 127\\.0\\.0\\.1:${port} did not answer within 6s \\([3-9] attempts\\)`),
        );
        assert.match(run.stderr, /look at: the instance's state/);
        assertWithin(run.seconds, 6);
    });
});

describe("wait-for-ssh.sh against a real sshd: the pinned host key", () => {
    let dir: string;
    let sshd: ReturnType<typeof spawn>;
    let port: number;
    const publicKey = (file: string) => fs.readFileSync(`${file}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const keygen = (file: string) =>
        assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]).status, 0);

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-wait-ssh-"));
        keygen(path.join(dir, "host"));
        keygen(path.join(dir, "other"));
        port = await new Promise<number>((resolve) => {
            const probe = net.createServer().listen(0, "127.0.0.1", () => {
                const { port: free } = probe.address() as net.AddressInfo;
                probe.close(() => resolve(free));
            });
        });
        fs.mkdirSync("/run/sshd", { recursive: true });
        const options = ["-D", "-e", "-f", "/dev/null", "-h", path.join(dir, "host"), "-p", String(port)];
        sshd = spawn("/usr/sbin/sshd", [...options, "-o", "ListenAddress=127.0.0.1", "-o", "PidFile=none"]);
    });

    after(() => {
        sshd.kill();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (hostKey: string) =>
        spawnSync("bash", [path.join(scriptsDir, steps.ssh.script)], {
            encoding: "utf8",
            env: {
                PATH: process.env.PATH,
                KUBEHA_HOST: "127.0.0.1",
                KUBEHA_PORT: String(port),
                KUBEHA_TIMEOUT: "30",
                KUBEHA_HOST_KEY: hostKey,
            },
        });

    test("the pinned key: passes and says so", () => {
        const result = run(publicKey(path.join(dir, "host")));
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /127\.0\.0\.1 presents the pinned ssh-ed25519 host key/);
    });

    test("another key: fails as a host key mismatch, naming both keys", () => {
        const other = publicKey(path.join(dir, "other"));
        const result = run(other);
        assert.equal(result.status, 1);
        assert.match(result.stderr, /FAILED: host key mismatch: 127\.0\.0\.1 presents/);
        assert.ok(result.stderr.includes(publicKey(path.join(dir, "host"))) && result.stderr.includes(other));
    });

    test("a key that is not '<type> <base64>' is refused before any dial", () => {
        const result = run("ssh-ed25519 AAAA'; rm -rf /");
        assert.equal(result.status, 1);
        assert.match(result.stderr, /KUBEHA_HOST_KEY must be/);
    });
});

describe("the step catalogue (render/steps.ts)", () => {
    const variablesRead = (text: string) => new Set(text.match(/\bKUBEHA_[A-Z][A-Z0-9_]*/g) ?? []);

    test("names a script under scripts/ for every step, and every step script is catalogued", () => {
        const installed = installedScriptFiles();
        const files = fs.readdirSync(scriptsDir);
        for (const file of installed) assert.ok(files.includes(file), `${file} is missing from scripts/`);
        // Boot-time scripts (run by cloud-init, not over SSH) are the cloud-init renderer's; on cloud machines the
        // preparation step runs the same boot script after its own checks (clouds/machines). Operator scripts run on
        // the operator's machine and are never installed.
        // Its delete sends the reset in the command itself.
        const bootScripts = [path.basename(hostBoot.script), prepareScript, resetScript];
        const notInstalled: readonly string[] = [...bootScripts, ...operatorScripts];
        assert.deepEqual(
            shellFiles.filter((file) => !installed.includes(file) && !notInstalled.includes(file)),
            [],
        );
        for (const file of operatorScripts) assert.ok(!installed.includes(file), `${file} is not installed on hosts`);
    });

    test("lib.sh reads no KUBEHA_ variable: every parameter is the step's own", () => {
        assert.deepEqual([...variablesRead(read(scriptLibrary))], []);
    });

    for (const id of stepIds) {
        const step = steps[id];
        test(`${id}: ${step.script} reads exactly the variables listed, required ones checked at the top`, () => {
            const text = read(step.script);
            const documented = Object.keys(step.variables).sort();
            assert.deepEqual([...variablesRead(text)].sort(), documented);
            const header = text.split("\n").filter((line) => line.startsWith(': "${KUBEHA_'));
            for (const [name, variable] of Object.entries(step.variables) as [string, { default?: string }][]) {
                if (variable.default === undefined) {
                    assert.ok(
                        header.some((line) => line.startsWith(`: "\${${name}:?${name} is required`)),
                        `${step.script} checks ${name} with : "\${${name}:?${name} is required ..."`,
                    );
                } else {
                    const defaults = [...text.matchAll(new RegExp(`\\$\\{${name}:[-=]([^}]*)\\}`, "g"))];
                    assert.ok(defaults.length > 0, `${step.script} gives ${name} a default`);
                    for (const match of defaults) assert.equal(match[1], variable.default, `${name} default`);
                }
            }
            const sourcesLibrary = /^source .*lib\.sh/m.test(text);
            assert.equal(sourcesLibrary, !("standalone" in step));
            if (sourcesLibrary) assert.match(text, /^source "\$\{BASH_SOURCE\[0\]%\/\*\}\/lib\.sh"$/m);
        });
    }

    test("a script that hands over to another passes it every variable that one needs", () => {
        for (const id of stepIds) {
            const handedTo = read(steps[id].script).match(/exec "\$\{BASH_SOURCE\[0\]%\/\*\}\/([a-z-]+\.sh)"/);
            if (!handedTo) continue;
            const target = stepIds.find((other) => steps[other].script === handedTo[1]);
            assert.ok(target, `${handedTo[1]} is catalogued`);
            for (const name of Object.keys(steps[target].variables)) {
                assert.ok(name in steps[id].variables, `${steps[id].script} passes ${name} to ${handedTo[1]}`);
            }
        }
    });

    test("the wait step reads the markers the boot script writes", () => {
        const text = read(steps.ready.script);
        const dir = path.dirname(hostBoot.doneMarker);
        assert.match(text, new RegExp(`state_dir=${dir}$`, "m"));
        for (const marker of [hostBoot.doneMarker, hostBoot.failedMarker, hostBoot.stageFile]) {
            assert.ok(text.includes(`$state_dir/${path.basename(marker)}`), marker);
        }
    });

    test("the boot script records each finished stage where the steps that wait for one stage read it", () => {
        const name = path.basename(hostBoot.stagesDoneFile);
        assert.equal(path.dirname(hostBoot.stagesDoneFile), path.dirname(hostBoot.doneMarker));
        assert.ok(read("host-boot.sh").includes(`>>"\${state_dir}/${name}"`), "host-boot.sh appends to it");
        assert.ok(read("lib.sh").includes(`$kubeha_state_dir/${name}`), "lib.sh wait_for_boot_stage reads it");
        assert.match(
            read("lib.sh"),
            new RegExp(`^readonly kubeha_state_dir=${path.dirname(hostBoot.doneMarker)}$`, "m"),
        );
    });

    test("stepEnvironment checks names against the catalogue and sorts them", () => {
        assert.deepEqual(
            stepEnvironment("join-worker-unit", {
                KUBEHA_TIMEOUT: "60",
                KUBEHA_NODE_NAME: "worker-1",
                KUBEHA_KUBEADM_CONFIG: "/etc/kubernetes/kubeadm-join.yaml",
            }),
            {
                KUBEHA_KUBEADM_CONFIG: "/etc/kubernetes/kubeadm-join.yaml",
                KUBEHA_NODE_NAME: "worker-1",
                KUBEHA_TIMEOUT: "60",
            },
        );
        assert.throws(
            () => stepEnvironment("remove-node", {} as { KUBEHA_NODE_NAME: string }),
            /remove-node needs KUBEHA_NODE_NAME/,
        );
        assert.throws(
            () => stepEnvironment("remove-node", { KUBEHA_NODE_NAME: "worker-1", KUBEHA_NODES: "x" } as never),
            /does not read KUBEHA_NODES/,
        );
    });
});

// kubeadm, kubectl and the kubelet cannot run here: stand-ins record the calls and write what the real
// tools write. The scripts run as root in a throwaway root per host.
const token = "abcdef.0123456789abcdef";
const initConfig = "/etc/kubernetes/kubeadm-init.yaml";
const joinConfig = "/etc/kubernetes/kubeadm-join.yaml";
// Shaped like render/kubeadm.ts's output: one document per kind, controlPlane at the top level.
const kubeadmConfig = (kind: string, node: string, controlPlane: boolean) =>
    [
        "apiVersion: kubeadm.k8s.io/v1beta4",
        `kind: ${kind}`,
        kind === "InitConfiguration"
            ? `bootstrapTokens:\n- token: ${token}\n  ttl: 24h`
            : `discovery:\n  bootstrapToken:\n    apiServerEndpoint: apiserver.k8s.internal:8443\n    token: ${token}`,
        `nodeRegistration:\n  name: ${node}`,
        ...(controlPlane && kind === "JoinConfiguration"
            ? ["controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 192.168.16.10"]
            : []),
        "---",
        "apiVersion: kubelet.config.k8s.io/v1beta1",
        "kind: KubeletConfiguration",
        "serverTLSBootstrap: true",
        "",
    ].join("\n");

describe("kubeadm- and kubectl-driven steps, twice on throwaway hosts", () => {
    const sandbox = new StepSandbox("steps");

    before(() => {
        sandbox.writeHostFile("master-1", initConfig, kubeadmConfig("InitConfiguration", "master-1", true), 0o600);
        sandbox.writeHostFile("master-2", joinConfig, kubeadmConfig("JoinConfiguration", "master-2", true), 0o600);
        sandbox.writeHostFile("worker-1", joinConfig, kubeadmConfig("JoinConfiguration", "worker-1", false), 0o600);
        sandbox.writeHostFile("worker-2", joinConfig, kubeadmConfig("JoinConfiguration", "worker-2", false), 0o600);
        // A worker's join waits for its boot preparation: these hosts finished theirs.
        for (const host of ["master-2", "worker-1", "worker-2", "worker-3"])
            sandbox.writeHostFile(host, hostBoot.doneMarker, "");
    });
    after(() => sandbox.remove());

    const runTwice = (host: string, id: keyof typeof steps, variables: Record<string, string>) =>
        sandbox.runTwice(host, steps[id].script, variables);

    test("join-worker before the control plane exists: kubeadm's failures are retried, then it gives up", async () => {
        const run = await sandbox.run("worker-2", steps["join-worker-unit"].script, {
            KUBEHA_KUBEADM_CONFIG: joinConfig,
            KUBEHA_NODE_NAME: "worker-2",
            KUBEHA_TIMEOUT: "8",
        });
        assert.equal(run.status, 1);
        const joins = changes(sandbox.takeCalls());
        assert.ok(joins.length >= 2, `retried: ${joins.join("; ")}`);
        assert.match(run.stderr, /failed before changing anything; retrying in 5s/);
        assert.match(run.stderr, /FAILED: kubeadm join failed/);
        assert.match(run.stderr, /look at: .*\/var\/log\/kubeha\/join-worker\.log/);
        assertWithin(run.seconds, 8);
    });

    test("kubeadm-init refuses a config that holds a token but others may read", async () => {
        sandbox.writeHostFile("master-9", initConfig, kubeadmConfig("InitConfiguration", "master-9", true), 0o644);
        const run = await sandbox.run("master-9", steps.init.script, { KUBEHA_KUBEADM_CONFIG: initConfig });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /holds a bootstrap token but is not root's alone/);
        assert.match(run.stderr, /chmod 0600/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    test("kubeadm-init: retried while it changed nothing; the token never reaches the output", async () => {
        fs.mkdirSync(path.join(sandbox.state, "master-1"), { recursive: true });
        fs.writeFileSync(path.join(sandbox.state, "master-1", "preflight-failures"), "1");
        const variables = { KUBEHA_KUBEADM_CONFIG: initConfig };
        const { first, firstCalls, second } = await runTwice("master-1", "init", variables);
        assert.deepEqual(changes(firstCalls), [
            `master-1: kubeadm init --config ${initConfig} --skip-token-print --skip-certificate-key-print`,
            `master-1: kubeadm init --config ${initConfig} --skip-token-print --skip-certificate-key-print`,
        ]);
        assert.match(first.stdout, /\[bootstrap-token\] Using token: \[bootstrap-token\]/);
        for (const output of [first.stdout, first.stderr, second.stdout, second.stderr]) {
            assert.ok(!output.includes(token), "no token in the output");
        }
        const log = sandbox.hostPath("master-1", "/var/log/kubeha/kubeadm-init.log");
        assert.equal(fs.statSync(log).mode & 0o777, 0o600, "the full log is root's alone");
        assert.equal(fs.statSync(path.dirname(log)).mode & 0o777, 0o700);
        assert.match(second.stderr, /kubeadm init completed on an earlier run/);
        const marker = sandbox.hostPath("master-1", "/var/lib/kubeha/kubeadm-init.done");
        assert.equal(fs.statSync(marker).mode & 0o777, 0o600, "the done marker is root's alone");
        assert.ok(!fs.readFileSync(marker, "utf8").includes(token.split(".")[1]), "and holds no secret");
    });

    test("token: keeps the init token, creates a newly drawn one once, never prints it", async () => {
        const variables = { KUBEHA_KUBEADM_CONFIG: initConfig, KUBEHA_TIMEOUT: "20" };
        const kept = await runTwice("master-1", "token", variables);
        assert.deepEqual(changes(kept.firstCalls), [], "kubeadm init created this token already");
        const drawn = "zyxwvu.9876543210fedcba";
        const config = kubeadmConfig("InitConfiguration", "master-1", true).replace(token, drawn);
        sandbox.writeHostFile("master-1", initConfig, config, 0o600);
        const created = await runTwice("master-1", "token", variables);
        // From the root-only config file: a command line is readable by every local user (/proc/<pid>/cmdline).
        assert.deepEqual(changes(created.firstCalls), [
            `master-1: kubeadm token create --config ${initConfig} --kubeconfig /etc/kubernetes/admin.conf`,
        ]);
        for (const call of created.firstCalls) {
            assert.doesNotMatch(call.command, /9876543210fedcba/, "no secret on a command line");
        }
        for (const output of [created.first, created.second]) {
            assert.doesNotMatch(output.stdout + output.stderr, /9876543210fedcba/);
        }
        assert.match(created.first.stderr, /bootstrap token zyxwvu created \(valid 24h\)/);
        sandbox.writeHostFile("master-1", initConfig, kubeadmConfig("InitConfiguration", "master-1", true), 0o600);
    });

    test("token: a create that failed after the token was stored is not retried into 'already exists'", async () => {
        const drawn = "qwerty.0123456789abcdef";
        sandbox.writeHostFile(
            "master-1",
            initConfig,
            kubeadmConfig("InitConfiguration", "master-1", true).replace(token, drawn),
            0o600,
        );
        fs.writeFileSync(path.join(sandbox.state, "token-create-times-out"), "");
        const run = await sandbox.run("master-1", steps.token.script, {
            KUBEHA_KUBEADM_CONFIG: initConfig,
            KUBEHA_TIMEOUT: "20",
        });
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /waiting for the new bootstrap token \(attempt 1 failed/);
        assert.match(run.stderr, /bootstrap token qwerty created/);
        const tokens = fs.readFileSync(path.join(sandbox.state, "tokens"), "utf8").split("\n");
        assert.equal(tokens.filter((line) => line === drawn).length, 1, "stored once");
        sandbox.writeHostFile("master-1", initConfig, kubeadmConfig("InitConfiguration", "master-1", true), 0o600);
    });

    test("join-control-plane: joins, waits for its own API server; the second run only checks", async () => {
        const variables = { KUBEHA_KUBEADM_CONFIG: joinConfig, KUBEHA_NODE_NAME: "master-2" };
        const { firstCalls } = await runTwice("master-2", "join-control-plane", variables);
        assert.deepEqual(changes(firstCalls), [`master-2: kubeadm join --config ${joinConfig}`]);
        assert.ok(!fs.readFileSync(sandbox.hostPath("master-2", joinConfig), "utf8").includes(token));
        assert.ok(
            firstCalls.some((call) => /--server=https:\/\/127\.0\.0\.1:6443 .*get --raw=\/readyz/.test(call.command)),
            "asks its own kube-apiserver, not the proxy",
        );
    });

    test("join-worker: joins once; the second run finds its done marker and the registered node", async () => {
        const variables = { KUBEHA_KUBEADM_CONFIG: joinConfig, KUBEHA_NODE_NAME: "worker-1" };
        const { firstCalls, second } = await runTwice("worker-1", "join-worker-unit", variables);
        assert.deepEqual(changes(firstCalls), [`worker-1: kubeadm join --config ${joinConfig}`]);
        assert.match(second.stderr, /kubeadm join completed on an earlier run/);
        assert.ok(fs.existsSync(sandbox.hostPath("worker-1", "/var/lib/kubeha/kubeadm-join.done")));
        // The bootstrap token leaves the host once the join is done; the file stays a kubeadm config.
        const left = fs.readFileSync(sandbox.hostPath("worker-1", joinConfig), "utf8");
        assert.ok(!left.includes(token), "no bootstrap token on the host after the join");
        assert.match(left, /^ {4}token: removed-after-join$/m);
        assert.match(left, /^kind: JoinConfiguration$/m);
    });

    test("join-worker queues the join as a unit: once, again only after it failed, never after the join", async () => {
        const node = "worker-4";
        const unitFile = (suffix: string) =>
            sandbox.hostPath(node, `/var/lib/stub-systemd/${workerJoinUnit}.${suffix}`);
        sandbox.writeHostFile(node, joinConfig, kubeadmConfig("JoinConfiguration", node, false), 0o600);
        const variables = {
            KUBEHA_KUBEADM_CONFIG: joinConfig,
            KUBEHA_NODE_NAME: node,
            KUBEHA_JOIN_UNIT: workerJoinUnit,
            KUBEHA_TIMEOUT: "77",
        };
        const queue = () => sandbox.run(node, steps["join-worker"].script, variables);
        sandbox.takeCalls();

        const first = await queue();
        assert.equal(first.status, 0, first.stderr);
        const [started, ...more] = changes(sandbox.takeCalls());
        assert.deepEqual(more, []);
        assert.match(started, new RegExp(`^${node}: systemd-run --unit=${workerJoinUnit} `));
        assert.match(started, / --property=Restart=on-failure --property=RestartSec=30 /);
        assert.ok(started.endsWith(`/${steps["join-worker-unit"].script}`), started);
        assert.deepEqual(fs.readFileSync(unitFile("environment"), "utf8").trim().split("\n").sort(), [
            `KUBEHA_KUBEADM_CONFIG=${joinConfig}`,
            `KUBEHA_NODE_NAME=${node}`,
            "KUBEHA_TIMEOUT=77",
        ]);

        const whileRunning = await queue();
        assert.equal(whileRunning.status, 0, whileRunning.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.match(whileRunning.stderr, /is active already: the join is under way/);

        fs.renameSync(unitFile("active"), unitFile("failed"));
        const afterFailure = await queue();
        assert.equal(afterFailure.status, 0, afterFailure.stderr);
        assert.deepEqual(
            changes(sandbox.takeCalls()).map((call) => call.split(" ").slice(0, 3).join(" ")),
            [`${node}: systemctl reset-failed`, `${node}: systemd-run --unit=${workerJoinUnit}`],
        );

        fs.rmSync(unitFile("active"));
        sandbox.writeHostFile(node, "/var/lib/kubeha/kubeadm-join.done", "kubeadm join exited 0\n", 0o600);
        const joined = await queue();
        assert.equal(joined.status, 0, joined.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.match(joined.stderr, /kubeadm join completed on this host before .*: nothing to queue/);

        // What the join would refuse is refused before anything is queued.
        sandbox.writeHostFile("worker-5", joinConfig, kubeadmConfig("JoinConfiguration", "worker-5", false), 0o644);
        const open = await sandbox.run("worker-5", steps["join-worker"].script, {
            ...variables,
            KUBEHA_NODE_NAME: "worker-5",
        });
        assert.equal(open.status, 1);
        assert.match(open.stderr, /holds a bootstrap token but is not root's alone/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    test("join-worker's unit waits for the boot preparation and fails at once, naming the stage, when it failed", async () => {
        const node = "worker-6";
        sandbox.writeHostFile(node, joinConfig, kubeadmConfig("JoinConfiguration", node, false), 0o600);
        sandbox.writeHostFile(node, "/var/lib/kubeha/stage", "packages");
        const variables = { KUBEHA_KUBEADM_CONFIG: joinConfig, KUBEHA_NODE_NAME: node, KUBEHA_TIMEOUT: "4" };
        const waited = await sandbox.run(node, steps["join-worker-unit"].script, variables);
        assert.equal(waited.status, 1);
        assert.match(waited.stderr, /waiting for the boot preparation to finish every stage \(now in: packages\)/);
        assert.match(waited.stderr, /the boot preparation has not finished every stage in time/);
        sandbox.writeHostFile(node, "/var/lib/kubeha/boot.failed", "packages");
        const failed = await sandbox.run(node, steps["join-worker-unit"].script, {
            ...variables,
            KUBEHA_TIMEOUT: "60",
        });
        assert.equal(failed.status, 1);
        assert.match(failed.stderr, /the boot preparation failed in stage 'packages' before finishing every stage/);
        assert.ok(failed.seconds < 10, `failed at once, not at its deadline: ${failed.seconds}s`);
        assert.deepEqual(changes(sandbox.takeCalls()), [], "no kubeadm join before the boot finished");
    });

    test("workers-joined waits until every worker it has not seen joined is a Node, and names the ones missing", async () => {
        const gateHost = "master-7";
        sandbox.writeHostFile(gateHost, "/etc/kubernetes/admin.conf", "admin kubeconfig", 0o600);
        fs.writeFileSync(path.join(sandbox.state, "apiserver-up"), "");
        fs.mkdirSync(path.join(sandbox.state, "nodes"), { recursive: true });
        const nodeFile = (node: string) => path.join(sandbox.state, "nodes", node);
        const seen = () => fs.readFileSync(sandbox.hostPath(gateHost, "/var/lib/kubeha/workers-joined"), "utf8");
        const workers = (...entries: string[]) => entries.map((entry) => `worker-${entry}`).join(",");
        const gate = (list: string, more: Record<string, string> = {}) =>
            sandbox.run(gateHost, steps["workers-joined"].script, {
                KUBEHA_WORKERS: list,
                KUBEHA_JOIN_UNIT: workerJoinUnit,
                ...more,
            });
        const seven = workers("7=i-7", "8=i-8", "9=i-9");
        fs.writeFileSync(nodeFile("worker-7"), "");

        const timedOut = await gate(seven, { KUBEHA_TIMEOUT: "3" });
        assert.equal(timedOut.status, 1);
        assert.match(timedOut.stderr, /2 of 3 workers not joined yet: worker-8 worker-9/);
        assert.match(timedOut.stderr, /FAILED: 2 of 3 workers did not join in 3s: worker-8 worker-9$/m);
        assert.match(timedOut.stderr, new RegExp(`look at: on each of them: journalctl -u ${workerJoinUnit}`));
        assert.equal(seen(), "worker-7 i-7\n");

        // The others joined in this run: these two are stuck, well before the timeout.
        fs.writeFileSync(nodeFile("worker-10"), "");
        const straggling = await gate(workers("10=i-10", "11=i-11", "12=i-12"), { KUBEHA_STRAGGLER_SECONDS: "3" });
        assert.equal(straggling.status, 1);
        assert.match(straggling.stderr, /2 of 3 workers did not join in 3s after the last of the others: worker-11/);
        assert.ok(straggling.seconds < 15, `${straggling.seconds}s`);

        const waiting = gate(seven, { KUBEHA_TIMEOUT: "60" });
        setTimeout(() => {
            fs.writeFileSync(nodeFile("worker-8"), "");
            fs.writeFileSync(nodeFile("worker-9"), "");
        }, 3000);
        const joined = await waiting;
        assert.equal(joined.status, 0, joined.stderr);
        assert.ok(joined.seconds >= 3 && joined.seconds < 20, `returned once they joined: ${joined.seconds}s`);
        assert.match(joined.stderr, /2 new or replaced workers joined \(3 in all\)/);
        assert.equal(seen(), "worker-7 i-7\nworker-10 i-10\nworker-8 i-8\nworker-9 i-9\n");

        // A worker seen joined with the instance it has is not waited for again, whatever became of its Node; a
        // replaced one (another instance) is.
        fs.rmSync(nodeFile("worker-8"));
        const again = await gate(seven, { KUBEHA_TIMEOUT: "3" });
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stderr, /all 3 workers joined before/);
        const replaced = await gate(workers("7=i-7", "8=i-88", "9=i-9"), { KUBEHA_TIMEOUT: "3" });
        assert.equal(replaced.status, 1);
        assert.match(replaced.stderr, /1 of 1 workers did not join in 3s: worker-8$/m);
        fs.writeFileSync(nodeFile("worker-8"), "");
        assert.equal((await gate(workers("7=i-7", "8=i-88", "9=i-9"))).status, 0);
        assert.match(seen(), /^worker-8 i-88$/m);

        const malformed = await gate("worker-7 i-7");
        assert.equal(malformed.status, 1);
        assert.match(malformed.stderr, /KUBEHA_WORKERS: 'worker-7 i-7' is not <node name>=<instance id>/);
        assert.deepEqual(changes(sandbox.takeCalls()), [], "it only asks");
    });

    test("join-worker refuses a config whose token went with an earlier join when that join no longer counts", async () => {
        const node = "worker-3";
        sandbox.writeHostFile(
            node,
            joinConfig,
            kubeadmConfig("JoinConfiguration", node, false).replace(token, "removed-after-join"),
            0o600,
        );
        const result = await sandbox.run(node, steps["join-worker-unit"].script, {
            KUBEHA_KUBEADM_CONFIG: joinConfig,
            KUBEHA_NODE_NAME: node,
            KUBEHA_TIMEOUT: "8",
        });
        assert.equal(result.status, 1);
        assert.match(result.stderr, /lost its bootstrap token after an earlier join on this host/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    test("a worker's join config on a control-plane step (and the reverse) is refused", async () => {
        const asMaster = await sandbox.run("worker-2", steps["join-control-plane"].script, {
            KUBEHA_KUBEADM_CONFIG: joinConfig,
            KUBEHA_NODE_NAME: "worker-2",
        });
        assert.equal(asMaster.status, 1);
        assert.match(asMaster.stderr, /has no controlPlane section: it joins a worker/);
        const asWorker = await sandbox.run("master-2", steps["join-worker-unit"].script, {
            KUBEHA_KUBEADM_CONFIG: joinConfig,
            KUBEHA_NODE_NAME: "master-2",
        });
        assert.equal(asWorker.status, 1);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    describe("remove-node: cordon, drain, delete; gone is success", () => {
        test("a drain a disruption budget blocks fails within its budget and names the blocking pods", async () => {
            fs.writeFileSync(path.join(sandbox.state, "drain-blocked"), "");
            const run = await sandbox.run("master-1", steps["remove-node"].script, {
                KUBEHA_NODE_NAME: "worker-1",
                KUBEHA_TIMEOUT: "4",
            });
            fs.rmSync(path.join(sandbox.state, "drain-blocked"));
            assert.equal(run.status, 1);
            assertWithin(run.seconds, 4);
            assert.match(run.stderr, /could not drain node worker-1/);
            assert.match(run.stderr, /kubectl get pdb -A/);
            assert.match(run.stderr, /disruption budget/);
            assert.ok(fs.existsSync(path.join(sandbox.state, "nodes", "worker-1")), "the node stays");
            sandbox.takeCalls();
        });

        test("an API that stops answering during a blocked drain is not a node gone: the node is not deleted", async () => {
            fs.writeFileSync(path.join(sandbox.state, "drain-blocked"), "");
            // It answers that the node exists and is cordoned, then stops answering.
            fs.writeFileSync(path.join(sandbox.state, "get-node-answers"), "2");
            const run = await sandbox.run("master-1", steps["remove-node"].script, {
                KUBEHA_NODE_NAME: "worker-1",
                KUBEHA_TIMEOUT: "4",
            });
            fs.rmSync(path.join(sandbox.state, "drain-blocked"));
            fs.rmSync(path.join(sandbox.state, "get-node-answers"));
            assert.equal(run.status, 1, run.stderr);
            assert.match(run.stderr, /could not drain node worker-1/);
            assert.ok(fs.existsSync(path.join(sandbox.state, "nodes", "worker-1")), "the node stays");
            assert.deepEqual(
                changes(sandbox.takeCalls()).filter((call) => call.includes("delete node")),
                [],
            );
        });

        test("removes the node once; the second run finds it gone", async () => {
            const { firstCalls, second } = await runTwice("master-1", "remove-node", { KUBEHA_NODE_NAME: "worker-1" });
            const admin = "kubectl --kubeconfig=/etc/kubernetes/admin.conf";
            // Cordoned on the failed run before: the node is unschedulable already.
            const [drain, remove, ...rest] = changes(firstCalls);
            assert.ok(drain.startsWith(`master-1: ${admin} drain worker-1 `), drain);
            for (const flag of ["--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout="]) {
                assert.ok(drain.includes(` ${flag}`), `drain ${flag}`);
            }
            assert.equal(remove, `master-1: ${admin} --request-timeout=10s delete node worker-1 --ignore-not-found`);
            assert.deepEqual(rest, []);
            assert.ok(!fs.existsSync(path.join(sandbox.state, "nodes", "worker-1")));
            assert.match(second.stderr, /node worker-1 is not in the cluster \(removed already\)/);
        });
    });
});

// kubeadm init and join fail part-way for causes a retry cannot fix (kubelet, control plane, TLS
// bootstrap). The stand-in fails in the phase a test names, leaving behind what the real one leaves
// (admin.conf from the kubeconfig phase, the kubelet's config; bootstrap-kubelet.conf removed): a later
// run must neither take the host as done nor retry into kubeadm's preflight errors.
describe("kubeadm failing part-way: later runs neither skip it nor retry it", () => {
    let sandbox: StepSandbox;
    beforeEach(() => {
        sandbox = new StepSandbox("kubeadm-failures");
        sandbox.writeHostFile("worker-1", hostBoot.doneMarker, "");
    });
    afterEach(() => sandbox.remove());

    const startOver =
        /kubeadm reset -f --skip-phases remove-etcd-member.*empties \/etc\/kubernetes\/pki.*then re-run this step/;
    const initVariables = { KUBEHA_KUBEADM_CONFIG: initConfig, KUBEHA_TIMEOUT: "30" };
    const joinVariables = (node: string) => ({
        KUBEHA_KUBEADM_CONFIG: joinConfig,
        KUBEHA_NODE_NAME: node,
        KUBEHA_TIMEOUT: "30",
    });
    const run = (host: string, id: keyof typeof steps, variables: Record<string, string>) =>
        sandbox.run(host, steps[id].script, variables);
    const stateFile = (...names: string[]) => path.join(sandbox.state, ...names);
    const onHost = (host: string, file: string) => fs.existsSync(sandbox.hostPath(host, file));
    const failIn = (host: string, phase: string) => {
        fs.mkdirSync(stateFile(host), { recursive: true });
        fs.writeFileSync(stateFile(host, "fail-in-phase"), phase);
    };
    const repaired = (host: string) => fs.rmSync(stateFile(host, "fail-in-phase"));
    // What `kubeadm reset -f` deletes on a host (its cleanup-node phase), the kubelet stopped with it.
    const kubeadmReset = (host: string) => {
        for (const file of [
            "/etc/kubernetes/admin.conf",
            "/etc/kubernetes/kubelet.conf",
            "/etc/kubernetes/bootstrap-kubelet.conf",
            "/etc/kubernetes/manifests",
            "/var/lib/kubelet",
        ]) {
            fs.rmSync(sandbox.hostPath(host, file), { recursive: true, force: true });
        }
    };
    const controlPlaneUp = () => fs.writeFileSync(stateFile("apiserver-up"), "");

    for (const phase of ["wait-control-plane", "upload-config", "mark-control-plane", "bootstrap-token", "addons"]) {
        test(`kubeadm-init failing in ${phase}, after writing admin.conf: not retried, not skipped next time`, async () => {
            sandbox.writeHostFile("master-1", initConfig, kubeadmConfig("InitConfiguration", "master-1", true), 0o600);
            failIn("master-1", phase);
            const first = await run("master-1", "init", initVariables);
            assert.equal(first.status, 1);
            assert.equal(changes(sandbox.takeCalls()).length, 1, "one attempt: another would fail kubeadm's preflight");
            assert.ok(
                onHost("master-1", "/etc/kubernetes/admin.conf"),
                "the stand-in wrote admin.conf, as kubeadm does",
            );
            assert.doesNotMatch(first.stderr, /retrying|\[ERROR /);
            assert.match(
                first.stderr,
                /kubeadm init failed \(attempt 1\) after writing \/etc\/kubernetes\/admin\.conf/,
            );
            assert.match(first.stderr, startOver);
            if (phase !== "wait-control-plane") {
                assert.ok(fs.existsSync(stateFile("apiserver-up")), "the API answers: only the marker tells");
            }

            const second = await run("master-1", "init", initVariables);
            assert.equal(second.status, 1, "not taken as initialised: the cluster lacks what later phases create");
            assert.deepEqual(changes(sandbox.takeCalls()), []);
            assert.match(
                second.stderr,
                /an earlier kubeadm init on this host did not complete: it left \/etc\/kubernetes\/admin\.conf/,
            );
            assert.match(second.stderr, startOver);
            assert.ok(!fs.existsSync(stateFile("addons")), "kubeadm never reached its addons phase");
        });
    }

    test("kubeadm-init after kubeadm reset -f runs again; a marker whose files reset removed does not count", async () => {
        sandbox.writeHostFile("master-1", initConfig, kubeadmConfig("InitConfiguration", "master-1", true), 0o600);
        failIn("master-1", "addons");
        assert.equal((await run("master-1", "init", initVariables)).status, 1);
        kubeadmReset("master-1");
        repaired("master-1");
        sandbox.takeCalls();
        const initCall = `master-1: kubeadm init --config ${initConfig} --skip-token-print --skip-certificate-key-print`;
        for (const expected of [[initCall], []]) {
            const rerun = await run("master-1", "init", initVariables);
            assert.equal(rerun.status, 0, rerun.stderr);
            assert.deepEqual(changes(sandbox.takeCalls()), expected);
        }
        assert.ok(fs.existsSync(stateFile("addons")));
        // Reset after a successful init: the done marker stays behind, kubeadm's files do not.
        kubeadmReset("master-1");
        const afterReset = await run("master-1", "init", initVariables);
        assert.equal(afterReset.status, 0, afterReset.stderr);
        assert.deepEqual(changes(sandbox.takeCalls()), [initCall]);
        assert.match(afterReset.stderr, /its files are gone \(kubeadm reset\?\): running it again/);
    });

    test("join-worker whose TLS bootstrap fails: one attempt, no preflight errors, never reported as joined", async () => {
        controlPlaneUp();
        sandbox.writeHostFile("worker-1", joinConfig, kubeadmConfig("JoinConfiguration", "worker-1", false), 0o600);
        failIn("worker-1", "kubelet-start");
        const first = await run("worker-1", "join-worker-unit", joinVariables("worker-1"));
        assert.equal(first.status, 1);
        assert.deepEqual(changes(sandbox.takeCalls()), [`worker-1: kubeadm join --config ${joinConfig}`]);
        assert.ok(!onHost("worker-1", "/etc/kubernetes/bootstrap-kubelet.conf"), "removed on failure, as by kubeadm");
        assert.doesNotMatch(first.stderr, /retrying|\[ERROR /);
        assert.match(first.stderr, /kubeadm join failed \(attempt 1\) after writing \/var\/lib\/kubelet\/config\.yaml/);
        assert.match(first.stderr, startOver);

        // The kubelet finishes its TLS bootstrap late: kubelet.conf appears and the node registers.
        sandbox.writeHostFile("worker-1", "/etc/kubernetes/kubelet.conf", "kubelet kubeconfig, written late");
        fs.writeFileSync(stateFile("nodes", "worker-1"), "");
        const second = await run("worker-1", "join-worker-unit", joinVariables("worker-1"));
        assert.equal(second.status, 1, "kubeadm join did not complete: not reported as joined");
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.doesNotMatch(second.stderr, /part of the cluster/);
        assert.match(second.stderr, /an earlier kubeadm join on this host did not complete/);
        assert.match(second.stderr, startOver);

        kubeadmReset("worker-1");
        repaired("worker-1");
        for (const expected of [[`worker-1: kubeadm join --config ${joinConfig}`], []]) {
            const rerun = await run("worker-1", "join-worker-unit", joinVariables("worker-1"));
            assert.equal(rerun.status, 0, rerun.stderr);
            assert.deepEqual(changes(sandbox.takeCalls()), expected);
        }
    });

    test("join-control-plane failing after its kubelet joined: the registered node does not make it joined", async () => {
        controlPlaneUp();
        sandbox.writeHostFile("master-2", joinConfig, kubeadmConfig("JoinConfiguration", "master-2", true), 0o600);
        failIn("master-2", "control-plane-join");
        const first = await run("master-2", "join-control-plane", joinVariables("master-2"));
        assert.equal(first.status, 1);
        assert.equal(changes(sandbox.takeCalls()).length, 1);
        assert.ok(onHost("master-2", "/etc/kubernetes/kubelet.conf") && fs.existsSync(stateFile("nodes", "master-2")));
        const second = await run("master-2", "join-control-plane", joinVariables("master-2"));
        assert.equal(second.status, 1);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.doesNotMatch(second.stderr, /part of the cluster/);
        assert.match(second.stderr, startOver);
    });
});

describe("etcd-backup.sh with a static key pair (cloud machines: kubeha:backup.s3)", () => {
    const sandbox = new StepSandbox("etcd-backup");
    after(() => sandbox.remove());
    const stubs = path.join(__dirname, "support", "backup-stubs");
    // A secret with characters a shell or an env file would mangle: it must reach rclone as it is.
    const keys = { accessKeyId: "AKIDSTATIC0123", secretAccessKey: `s3cr"et'$(id)\\/+=` };
    const settings = (credentialsFile: string): Record<string, string> => ({
        PATH: `${stubs}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        KUBEHA_ETCD_CONFIG: "/etc/etcd/etcd.yaml",
        KUBEHA_ETCD_CACERT: "/etc/etcd/pki/ca.crt",
        KUBEHA_ETCD_CERT: "/etc/etcd/pki/healthcheck-client.crt",
        KUBEHA_ETCD_KEY: "/etc/etcd/pki/healthcheck-client.key",
        KUBEHA_BACKUP_BUCKET: "backups",
        KUBEHA_BACKUP_PREFIX: "etcd/kubeha-machines-dev/",
        KUBEHA_BACKUP_ENDPOINT: "https://s3.example.com",
        KUBEHA_BACKUP_REGION: "us-east-1",
        KUBEHA_BACKUP_PROVIDER: "Other",
        KUBEHA_METADATA: "static",
        KUBEHA_BACKUP_CREDENTIALS_FILE: credentialsFile,
        KUBEHA_BACKUP_WORK_DIR: "/var/lib/etcd/backup",
        KUBEHA_BACKUP_SCHEDULE: "hourly",
    });
    const writeCredentials = (name: string, content: string) => {
        const file = path.join(sandbox.dir, name);
        fs.writeFileSync(file, content, { mode: 0o600 });
        return file;
    };
    const logOf = (name: string) => {
        const file = path.join(sandbox.state, name);
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        fs.rmSync(file, { force: true });
        return text;
    };

    test("check: rclone gets the file's key pair in its environment, no session token; no metadata call", async () => {
        const file = writeCredentials("credentials.json", renderEtcdBackupCredentials(keys).content);
        const run = await sandbox.run("member-1", "etcd-backup.sh", settings(file), 60_000, undefined, ["check"]);
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /backups are current: no complete snapshot in backups\/etcd\/kubeha-machines-dev\//);
        const rclone = logOf("rclone.log");
        assert.match(rclone, /^args lsjson .*--s3-provider=Other --s3-endpoint=https:\/\/s3\.example\.com /m);
        assert.ok(rclone.includes(`access-key-id ${keys.accessKeyId}\n`), rclone);
        assert.ok(rclone.includes(`secret-access-key ${keys.secretAccessKey}\n`), rclone);
        assert.match(rclone, /^session-token <unset>$/m);
        assert.ok(!/^args .*(AKIDSTATIC|s3cr)/m.test(rclone), "no credential on rclone's command line");
        assert.ok(!(run.stdout + run.stderr).includes(keys.secretAccessKey), "the secret is never printed");
        assert.equal(logOf("curl.log"), "", "no metadata call");
    });

    test("a file without the secret, or no file named: a clear failure before rclone runs", async () => {
        const partial = writeCredentials("partial.json", JSON.stringify({ AccessKeyId: keys.accessKeyId }));
        const missing = await sandbox.run("member-1", "etcd-backup.sh", settings(partial), 60_000, undefined, [
            "check",
        ]);
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /the credentials have no SecretAccessKey or AccessKeySecret/);
        assert.match(missing.stderr, new RegExp(`FAILED: cannot get the key pair in ${partial}`));
        const unnamed = await sandbox.run("member-1", "etcd-backup.sh", settings(""), 60_000, undefined, ["check"]);
        assert.equal(unnamed.status, 1);
        assert.match(unnamed.stderr, /FAILED: KUBEHA_METADATA static needs KUBEHA_BACKUP_CREDENTIALS_FILE/);
        assert.equal(logOf("rclone.log"), "");
        assert.equal(logOf("curl.log"), "");
    });
});
