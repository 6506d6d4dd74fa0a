// The lab's bootstrap (lab/bootstrap.ts, lab/ssh.ts): the plan's own commands in the plan's dependency order.
// 1. Ordering on a small made-up plan, with the execution replaced: dependencies first, the parallelism bound,
//    a failure stops new steps, steps without a create (upgrade steps) and skipped resources count as done,
//    Kubernetes objects after every step.
// 2. The real OpenSSH client against real sshds in network namespaces: an operator, a bastion and a target that
//    admits SSH only from the bastion. Steps go through the proxy with both host keys pinned, environment as env
//    requests the target's AcceptEnv decides, stdin delivered; a wrong host key on either hop, a refused variable
//    and failing commands are reported as such.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { BootstrapError, BootstrapOptions, runBootstrap, StepOutcome } from "../../lab/bootstrap";
import { SshConnection, writeSshConfig } from "../../lab/ssh";
import type { PlannedResource } from "../../plan/run";
import { plan as planOf } from "../support/plan";
import { Processes, runOrThrow, systemTestSkipReason, TestNetwork, waitFor } from "../system/support/netns";

function resource(
    name: string,
    type: string,
    dependencies: string[] = [],
    inputs: Record<string, unknown> = {},
    extra: Partial<PlannedResource> = {},
): PlannedResource {
    return { type, name, parent: null, dependencies, inputs, ...extra };
}

const remote = "command:remote:Command";
const local = "command:local:Command";

function writePlan(resources: PlannedResource[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-bootstrap-plan-"));
    fs.writeFileSync(path.join(dir, "resources.json"), JSON.stringify(resources));
    return dir;
}

describe("lab bootstrap: order", () => {
    const plan = [
        resource("bastion", "alicloud:ecs/instance:Instance"),
        resource("ca-cert", "tls:index/selfSignedCert:SelfSignedCert"),
        resource("k8s", "pulumi:providers:kubernetes", ["api-ready"]),
        resource("m1-ssh", remote, ["bastion"], { create: "wait" }),
        resource("m2-ssh", remote, ["bastion"], { create: "wait" }),
        resource("m1-init", remote, ["ca-cert", "m1-ssh"], { create: "init" }),
        resource("m1-upgrade", remote, ["m1-init"], { update: "upgrade" }),
        resource("m1-remove", remote, ["m1-init"], { delete: "remove" }),
        resource("m2-join", remote, ["m1-init", "m1-upgrade", "m2-ssh"], { create: "join" }),
        resource("api-ready", local, ["m1-init"], { create: "node scripts/wait-for-api.mjs" }),
        // Depends on m1-init only through a step with no create: still after it.
        resource("m1-check", remote, ["m1-upgrade"], { create: "check" }),
        resource("ns", "kubernetes:core/v1:Namespace", [], { metadata: { name: "x" } }),
        resource("sa", "kubernetes:core/v1:ServiceAccount", ["ns"], { metadata: { name: "x", namespace: "x" } }),
    ];

    async function run(
        resources: PlannedResource[],
        options: Partial<BootstrapOptions> & { fail?: Record<string, number>; delayMs?: Record<string, number> } = {},
    ) {
        const events: string[] = [];
        let concurrent = 0;
        let maxConcurrent = 0;
        const lines: string[] = [];
        const execute = async (step: PlannedResource, log: fs.WriteStream): Promise<StepOutcome> => {
            events.push(`start ${step.name}`);
            concurrent++;
            maxConcurrent = Math.max(maxConcurrent, concurrent);
            log.write(`output of ${step.name}\n`);
            await new Promise((resolve) => setTimeout(resolve, options.delayMs?.[step.name] ?? 5));
            concurrent--;
            events.push(`end ${step.name}`);
            return { status: options.fail?.[step.name] ?? 0 };
        };
        const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-bootstrap-logs-"));
        const outcome = await runBootstrap({
            planDir: writePlan(resources),
            logDir,
            execute,
            progress: (line) => lines.push(line),
            ...options,
        }).then(
            (result) => ({ result, error: undefined }),
            (error: unknown) => ({ result: undefined, error }),
        );
        return { ...outcome, events, maxConcurrent, lines, logDir };
    }

    test("each step starts after all it depends on; steps without create and non-commands count as done", async () => {
        const { result, events, lines } = await run(plan);
        assert.ok(result);
        const order = (verb: string, name: string) => events.indexOf(`${verb} ${name}`);
        for (const step of plan.filter((r) => r.type.startsWith("command:") || r.type.startsWith("kubernetes:"))) {
            if (order("start", step.name) === -1) continue;
            for (const dependency of step.dependencies) {
                if (order("end", dependency) === -1) continue;
                assert.ok(order("start", step.name) > order("end", dependency), `${step.name} after ${dependency}`);
            }
        }
        assert.ok(!events.includes("start m1-upgrade") && !events.includes("start m1-remove"), "no create: not run");
        assert.ok(order("start", "m1-check") > order("end", "m1-init"), "through a step with no create");
        assert.ok(!events.includes("start k8s"), "the provider resource is not applied");
        const lastCommand = Math.max(...["m2-join", "api-ready"].map((name) => order("end", name)));
        assert.ok(order("start", "ns") > lastCommand, "Kubernetes objects come after every step");
        const status = Object.fromEntries(result.steps.map((step) => [step.name, step.status]));
        assert.deepEqual(status, {
            "m1-ssh": "done",
            "m2-ssh": "done",
            "m1-init": "done",
            "m1-upgrade": "skipped",
            "m1-remove": "skipped",
            "m2-join": "done",
            "api-ready": "done",
            "m1-check": "done",
            ns: "done",
            sa: "done",
        });
        assert.ok(lines.some((line) => /^lab: \[\d+ s\] m1-init started$/.test(line)));
        assert.ok(lines.some((line) => /^lab: \[\d+ s\] m1-init done in \d+ s$/.test(line)));
    });

    test("at most `parallel` steps at once", async () => {
        const wide = [
            resource("bastion", "alicloud:ecs/instance:Instance"),
            ...Array.from({ length: 10 }, (_, i) => resource(`w${i}-ssh`, remote, ["bastion"], { create: "x" })),
        ];
        const bounded = await run(wide, { parallel: 3, delayMs: { "w0-ssh": 20 } });
        assert.equal(bounded.maxConcurrent, 3);
        const unbounded = await run(wide);
        assert.equal(unbounded.maxConcurrent, 10, "default bound 16");
    });

    test("a failure starts nothing new, waits for running steps, and reports step, status and log tail", async () => {
        const { error, events, result } = await run(plan, { fail: { "m2-ssh": 7 }, delayMs: { "m1-ssh": 40 } });
        assert.equal(result, undefined);
        assert.ok(error instanceof BootstrapError);
        assert.match(error.message, /^lab: m2-ssh failed with exit status 7 \(log: .*m2-ssh\.log\)$/m);
        assert.match(error.message, /^lab: {3}\| output of m2-ssh$/m);
        assert.ok(events.includes("end m1-ssh"), "the running step finished");
        assert.deepEqual(
            events.filter((event) => event.startsWith("start")),
            ["start m1-ssh", "start m2-ssh"],
            "nothing started after the failure",
        );
        const status = Object.fromEntries(error.result.steps.map((step) => [step.name, step.status]));
        assert.equal(status["m1-init"], "not-run");
        assert.equal(status.ns, "not-run");
        assert.equal(error.result.steps.find((step) => step.name === "m2-ssh")?.exitStatus, 7);
    });

    test("a secret step's output stays off the console when it fails", async () => {
        const secret = [
            resource(
                "m1-keys",
                remote,
                [],
                { create: "keys", logging: "stderr" },
                {
                    additionalSecretOutputs: ["stdout", "stderr", "connection"],
                },
            ),
        ];
        const { error, lines } = await run(secret, { fail: { "m1-keys": 1 } });
        assert.ok(error instanceof BootstrapError);
        assert.match(error.message, /m1-keys failed with exit status 1/);
        assert.doesNotMatch(error.message + lines.join("\n"), /output of m1-keys/);
        assert.match(error.message, /its output is secret/);
    });

    test("the lab's skip predicate: skipped resources count as done", async () => {
        const { result, events } = await run(plan, { skip: (r) => r.name === "m1-ssh" || r.name === "sa" });
        assert.ok(result);
        assert.ok(!events.includes("start m1-ssh") && !events.includes("start sa"));
        assert.ok(events.includes("start m1-init"));
        assert.equal(result.steps.find((step) => step.name === "sa")?.status, "skipped");
    });

    test("a plan written without --show-secrets is refused", async () => {
        const redacted = [resource("m1-ssh", remote, [], { create: "x", connection: "[secret]" })];
        const { error } = await run(redacted);
        assert.match(String(error), /without --show-secrets/);
    });
});

describe("lab bootstrap: the dev plan", () => {
    test("every command with a create once, after what it depends on; then every Kubernetes object", async () => {
        const dev = planOf({ stack: "dev", showSecrets: true });
        const resources = JSON.parse(
            fs.readFileSync(path.join(dev.dir, "resources.json"), "utf8"),
        ) as PlannedResource[];
        const finished = new Set<string>();
        const ran: string[] = [];
        const configDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-bootstrap-config-"));
        const result = await runBootstrap({
            planDir: dev.dir,
            logDir: fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-bootstrap-logs-")),
            progress: () => {},
            execute: async (step) => {
                // Every dependency that is a command with a create, or a Kubernetes object, finished before.
                for (const name of dev.ancestors(step.name)) {
                    const dependency = dev.named(name);
                    const runs =
                        (dependency.type.startsWith("command:") && dependency.inputs.create) ||
                        dependency.type.startsWith("kubernetes:");
                    if (runs) assert.ok(finished.has(name), `${step.name} after ${name}`);
                }
                if (step.type === "command:remote:Command") {
                    // The ssh_config of every real step can be written: keys, pins, environment as SetEnv.
                    const environment = (step.inputs.environment ?? {}) as Record<string, string>;
                    writeSshConfig(configDir, step.inputs.connection as SshConnection, environment);
                }
                ran.push(step.name);
                await new Promise((resolve) => setImmediate(resolve));
                finished.add(step.name);
                return { status: 0 };
            },
        });
        fs.rmSync(configDir, { recursive: true, force: true });
        const commands = resources.filter((r) => r.type.startsWith("command:"));
        const creating = commands.filter((r) => r.inputs.create).map((r) => r.name);
        const objects = resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.name);
        assert.deepEqual([...ran].sort(), [...creating, ...objects].sort());
        assert.ok(ran.indexOf("api-ready") > ran.indexOf("master-1-init"));
        assert.ok(objects.every((name) => ran.indexOf(name) > ran.indexOf("api-ready")));
        const skipped = result.steps.filter((step) => step.status === "skipped").map((step) => step.name);
        assert.deepEqual(
            skipped.sort(),
            commands
                .filter((r) => !r.inputs.create)
                .map((r) => r.name)
                .sort(),
        );
        assert.ok(skipped.includes("master-1-upgrade") && skipped.includes("worker-1-remove-node"));
    });
});

describe("lab bootstrap: real ssh through a bastion", { skip: systemTestSkipReason(), timeout: 120_000 }, () => {
    const network = new TestNetwork("kh-labssh");
    const processes = new Processes();
    const hosts = { operator: "10.98.0.1", bastion: "10.98.0.2", target: "10.98.0.3" } as const;
    let dir: string;
    let privateKey: string;
    const hostKeys: Record<string, string> = {};

    const keygen = async (file: string, ...args: string[]) => {
        await runOrThrow(["ssh-keygen", "-q", "-N", "", "-C", "", "-f", file, ...args]);
        return fs.readFileSync(`${file}.pub`, "utf8").trim();
    };

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-labssh-test-"));
        await network.create(
            Object.entries(hosts).map(([name, ip]) => ({ name, ip, hostsFile: `127.0.0.1 localhost\n` })),
            24,
        );
        // The plan's SSH key is an RSA key in PEM form; the host keys ed25519, as the program makes them.
        const clientPublic = await keygen(path.join(dir, "client"), "-t", "rsa", "-b", "2048", "-m", "PEM");
        privateKey = fs.readFileSync(path.join(dir, "client"), "utf8");
        fs.writeFileSync(path.join(dir, "authorized_keys"), `${clientPublic}\n`);
        hostKeys.wrong = await keygen(path.join(dir, "wrong_host_key"), "-t", "ed25519");
        // sshd refuses to start without its privilege-separation directory (systemd makes it at boot).
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        for (const host of ["bastion", "target"] as const) {
            hostKeys[host] = await keygen(path.join(dir, `${host}_host_key`), "-t", "ed25519");
            const config = [
                `ListenAddress ${hosts[host]}`,
                `HostKey ${path.join(dir, `${host}_host_key`)}`,
                "PidFile none",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
                "StrictModes no",
                "LogLevel VERBOSE",
                // As the hosts' drop-in: the step's variables, nothing else.
                ...(host === "target" ? ["AcceptEnv KUBEHA_*", `AllowUsers root@${hosts.bastion}`] : []),
            ];
            fs.writeFileSync(path.join(dir, `${host}_sshd_config`), `${config.join("\n")}\n`);
            const log = path.join(dir, `${host}-sshd.log`);
            processes.start(
                host,
                network.command(host, ["/usr/sbin/sshd", "-D", "-e", "-f", path.join(dir, `${host}_sshd_config`)]),
                log,
            );
            await waitFor(`${host}'s sshd`, 10_000, async () =>
                fs.existsSync(log) && /Server listening on/.test(fs.readFileSync(log, "utf8")) ? true : undefined,
            );
        }
    });

    after(async () => {
        await processes.stopAll();
        await network.destroy();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const hop = (host: "bastion" | "target", hostKey = hostKeys[host]) => ({
        host: hosts[host],
        port: 22,
        user: "root",
        privateKey,
        hostKey,
        dialErrorLimit: 1,
        perDialTimeout: 5,
    });
    const throughBastion = (over: { targetKey?: string; bastionKey?: string } = {}) => ({
        ...hop("target", over.targetKey),
        proxy: hop("bastion", over.bastionKey),
    });

    async function bootstrap(resources: PlannedResource[], options: Partial<BootstrapOptions> = {}) {
        const logDir = path.join(fs.mkdtempSync(path.join(dir, "run-")), "logs");
        const lines: string[] = [];
        const outcome = await runBootstrap({
            planDir: writePlan(resources),
            logDir,
            wrap: (argv) => network.command("operator", argv),
            progress: (line) => lines.push(line),
            ...options,
        }).then(
            (result) => ({ result, error: undefined }),
            (error: unknown) => ({ result: undefined, error }),
        );
        const logOf = (name: string) => fs.readFileSync(path.join(logDir, `${name}.log`), "utf8");
        return { ...outcome, lines, logOf };
    }

    test("steps run through the bastion with pinned keys, env requests and stdin; local steps in the namespace", async () => {
        const greeting = 'hello "lab" \\ world';
        const workDir = fs.mkdtempSync(path.join(dir, "repo-"));
        const { result, error, logOf } = await bootstrap(
            [
                resource("target-hello", remote, [], {
                    connection: throughBastion(),
                    create: `printf 'greeting=%s\\n' "$KUBEHA_GREETING"; echo "via=$SSH_CONNECTION"; echo "stdin=$(cat)"`,
                    environment: { KUBEHA_GREETING: greeting },
                    stdin: "from the plan",
                }),
                resource("target-second", remote, ["target-hello"], {
                    connection: throughBastion(),
                    create: 'test "$KUBEHA_STEP" = two && echo second-ok',
                    environment: { KUBEHA_STEP: "two" },
                }),
                resource("bastion-direct", remote, [], {
                    connection: hop("bastion"),
                    create: 'echo "on=$SSH_CONNECTION"',
                }),
                resource("operator-local", local, ["target-second"], {
                    create: 'echo "local=$KUBEHA_LOCAL pwd=$PWD"; ip -4 -o addr show',
                    environment: { KUBEHA_LOCAL: "yes" },
                }),
            ],
            { repoRoot: workDir },
        );
        assert.equal(error, undefined, String(error));
        assert.ok(result);
        assert.ok(result.steps.every((step) => step.status === "done"));
        const hello = logOf("target-hello");
        assert.match(hello, new RegExp(`^greeting=${greeting.replace(/[\\"]/g, (c) => `\\${c}`)}$`, "m"));
        assert.match(hello, new RegExp(`^via=${hosts.bastion} \\d+ ${hosts.target} 22$`, "m"), "through the bastion");
        assert.match(hello, /^stdin=from the plan$/m);
        assert.match(logOf("target-second"), /^second-ok$/m);
        assert.match(logOf("bastion-direct"), new RegExp(`^on=${hosts.operator} \\d+ ${hosts.bastion} 22$`, "m"));
        const localLog = logOf("operator-local");
        assert.match(localLog, new RegExp(`^local=yes pwd=${workDir}$`, "m"));
        assert.match(localLog, new RegExp(`inet ${hosts.operator}/24`), "inside the operator's namespace");
        assert.deepEqual(
            fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith("kubeha-lab-ssh-")),
            [],
        );
    });

    for (const hopName of ["target", "proxy"] as const) {
        test(`a wrong host key on the ${hopName} hop fails as a host key mismatch`, async () => {
            const connection =
                hopName === "target"
                    ? throughBastion({ targetKey: hostKeys.wrong })
                    : throughBastion({ bastionKey: hostKeys.wrong });
            const { error } = await bootstrap([resource("pinned", remote, [], { connection, create: "echo ran" })]);
            assert.ok(error instanceof BootstrapError, String(error));
            const address = hopName === "target" ? hosts.target : hosts.bastion;
            assert.match(error.message, new RegExp(`host key mismatch: the ${hopName} ${address} did not present`));
            assert.match(error.message, /after 2 dial attempts/, "retried like the provider's dials");
            assert.doesNotMatch(error.message, /^lab: {3}\| ran$/m);
        });
    }

    test("a variable the target's sshd does not accept fails the step before it runs, as the provider's does", async () => {
        const { error, logOf } = await bootstrap([
            resource("refused", remote, [], {
                connection: throughBastion(),
                create: "echo ran",
                environment: { KUBEHA_FINE: "1", LAB_REFUSED: "x" },
            }),
        ]);
        assert.ok(error instanceof BootstrapError, String(error));
        assert.match(error.message, /did not accept the environment variable\(s\) LAB_REFUSED \(AcceptEnv\)/);
        assert.doesNotMatch(logOf("refused"), /^ran$/m);
    });

    test("a failing command: its exit status and log tail; a secret one's output stays off the console", async () => {
        const failing = await bootstrap([
            resource("failing", remote, [], { connection: throughBastion(), create: "echo visible; exit 3" }),
        ]);
        assert.ok(failing.error instanceof BootstrapError);
        assert.match(failing.error.message, /failing failed with exit status 3/);
        assert.match(failing.error.message, /^lab: {3}\| visible$/m);

        const secret = await bootstrap([
            resource(
                "secret",
                remote,
                [],
                { connection: throughBastion(), create: "echo hidden; exit 4", logging: "stderr" },
                { additionalSecretOutputs: ["stdout", "stderr", "connection"] },
            ),
        ]);
        assert.ok(secret.error instanceof BootstrapError);
        assert.match(secret.error.message, /secret failed with exit status 4/);
        assert.doesNotMatch(secret.error.message + secret.lines.join("\n"), /hidden/);
        assert.match(secret.logOf("secret"), /^hidden$/m, "the log keeps it");
    });

    test("an unreachable host: the dials are retried, then the step fails", async () => {
        const { error, logOf } = await bootstrap([
            resource("unreachable", remote, [], {
                connection: { ...hop("target"), host: "10.98.0.9", perDialTimeout: 2 },
                create: "echo ran",
            }),
        ]);
        assert.ok(error instanceof BootstrapError);
        assert.match(error.message, /unreachable failed: step: .* \(after 2 dial attempts\)/);
        assert.match(logOf("unreachable"), /dial 1\/2 failed/);
    });
});
