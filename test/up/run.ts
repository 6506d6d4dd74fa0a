// `npm run test:up`: a real `pulumi up` from an empty stack to a working cluster and back, for each stack named in
// KUBEHA_UP_STACKS (default `dev aws-dev:basic machines-lab:basic`): every check for a plain name, for `<stack>:basic` the up (not
// interrupted), the cluster and its outputs, the repeated up and destroy, without test:lab's checks and the scaling;
// `<stack>:upgrade` is the basic checks and a real rolling upgrade to the next minor before destroy (its release is
// built first: `npm run -s toolchain -- --kubernetes-release <version>`, about 20 minutes cold, then cached).
// `machines-lab` is the machines target (kubeha:cloud machines), with no stack file of its own: this process boots
// plain lab machines and writes the stack that lists them (lab/plain-machines.ts); its checks are the basic ones, then
// a worker appended to the list and removed, and destroy back to plain machines. `<stack>:beside` is the basic checks
// with, before destroy, a second stack of the same project (`<stack>-2`: the same settings, the same project directory
// and state backend) brought up, checked and destroyed on a lab of its own while the first keeps running; both with one
// master and one worker. `<stack>:from-<git revision>` is the basic checks on a stack the program of that earlier
// revision brought up (a checkout of it beside this one), which this checkout's program then takes over with one
// `pulumi up`: what an operator's existing stack goes through when they update kubeha. This process is the cloud: it brings up the lab's network and mirrors
// (lab/lab.ts labFoundation) and serves the lab cloud (lab/cloud.ts) on a socket; the checks (cluster.test.ts) run
// where `pulumi up` runs, the lab's operator machine (inside the lab's network, resolving with the lab's DNS), and
// drive the real Pulumi CLI, whose stand-in provider plugins tell the lab cloud what they create. Needs root on Linux.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { LabCloud, serveLabCloud } from "../../lab/cloud";
import { mustRun } from "../../lab/command";
import { labDown, labFiles, labFoundation, onOperatorMachine } from "../../lab/lab";
import { LabMirrors, labStackMirrors } from "../../lab/mirrors";
import { labGateway } from "../../lab/paths";
import { bootPlainMachines, plainMachinesStack } from "../../lab/plain-machines";
import { secondStackFiles, SecondStack } from "./second-stack";
import { labStackChanges, resolvedStackConfig, userStackConfig, writeLabStackFile } from "../../lab/stack";
import {
    defaultKubernetesVersion,
    exactKubernetesVersion,
    KubernetesMinor,
    kubernetesMinor,
    supportedKubernetesMinors,
} from "../../config/versions";

const repo = path.resolve(__dirname, "..", "..");
const say = (line: string) => process.stdout.write(`${line}\n`);

type Scope = "full" | "basic" | "upgrade" | "beside" | "from";

/** The minor after the stack's kubernetesVersion: the upgrade scope's target. */
function nextMinor(stack: string): KubernetesMinor {
    const configured = String(userStackConfig(stack)["kubeha:kubernetesVersion"] ?? defaultKubernetesVersion);
    const next =
        supportedKubernetesMinors[
            supportedKubernetesMinors.indexOf(kubernetesMinor(configured) as KubernetesMinor) + 1
        ];
    if (!next) throw new Error(`test:up: ${stack} runs ${configured}: kubeha supports no later minor to upgrade to`);
    return next;
}

/**
 * The lab's changes to the stack, and the workers' NodePorts open to the lab's router: the security groups are
 * enforced, and the checks' requests from there (the full scope's, the upgrade's probes) stand for a load balancer in
 * front of the nodes.
 */
function labChanges(stack: string, mirrors: LabMirrors, smallest: boolean): Record<string, unknown> {
    const user = userStackConfig(stack);
    const { vpcCidr } = resolvedStackConfig(user).network;
    const allowed = (user["kubeha:allowedCidrs"] ?? {}) as { nodePorts?: string[] };
    const router = `${labGateway(vpcCidr).address}/32`;
    const one = (key: string) => ({ [key]: { ...((user[key] ?? {}) as Record<string, unknown>), count: 1 } });
    return {
        ...labStackChanges(stack, labStackMirrors(mirrors)),
        "kubeha:allowedCidrs": { ...allowed, nodePorts: [...(allowed.nodePorts ?? []), router] },
        // Two clusters at once: 1 master + 1 worker each. Two of 3 + 3 need more inotify instances than the kernel's
        // default limit for root (fs.inotify.max_user_instances, 128; one 3 + 3 lab takes about 120), and a lab must
        // not change the host's kernel settings: the other stack's machines could not start their systemd.
        ...(smallest ? { ...one("kubeha:masters"), ...one("kubeha:workers") } : {}),
    };
}

/** A checkout of an earlier revision beside this one, sharing its installed packages; removed by the caller. */
function checkoutOf(revision: string): { dir: string; remove: () => void } {
    const git = (...args: string[]) => mustRun(["git", "-C", repo, ...args]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kubeha-up-from-${revision}-`));
    git("worktree", "add", "--detach", dir, revision);
    fs.symlinkSync(path.join(repo, "node_modules"), path.join(dir, "node_modules"));
    return { dir, remove: () => git("worktree", "remove", "--force", dir) };
}

async function upAndDown(stack: string, scope: Scope, second?: SecondStack, fromRevision?: string): Promise<number> {
    const files = { ...labFiles(stack), keys: path.join(labFiles(stack).state, "plain-machines") };
    if (fs.existsSync(files.state)) await labDown(stack, say);
    const upgradeTo = scope === "upgrade" ? nextMinor(stack) : undefined;
    const { binDir, mirrors } = await labFoundation(
        stack,
        say,
        undefined,
        upgradeTo && exactKubernetesVersion(upgradeTo),
    );
    const cloud = new LabCloud({ lab: stack, mirrors, say });
    const socket = path.join(files.run, "cloud.sock");
    const server = await serveLabCloud(cloud, socket);
    const requests = scope === "beside" ? serveSecondStack(files.run) : undefined;
    const earlier = fromRevision ? checkoutOf(fromRevision) : undefined;
    try {
        // The project as a user has it: Pulumi.yaml, the lab's stack file (the user's, with the lab's mirrors) and
        // the scripts the program's local command runs from the project directory. A second stack joins the first's.
        const project = second?.project ?? path.join(files.state, "project");
        const stackFile = path.join(project, `Pulumi.${stack}.yaml`);
        // The machines target's stack: plain machines booted first, then the stack file that lists them.
        const plain = stack === plainMachinesStack ? bootPlainMachines(stack, mirrors, files.keys) : undefined;
        if (!second) {
            fs.mkdirSync(project, { recursive: true, mode: 0o700 });
            fs.copyFileSync(path.join(repo, "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
            fs.symlinkSync(path.join(repo, "scripts"), path.join(project, "scripts"));
        }
        const configOf = second?.configOf ?? stack;
        if (plain) fs.writeFileSync(stackFile, toYaml({ config: plain.config }));
        else {
            const changes = labChanges(configOf, mirrors, scope === "beside" || second !== undefined);
            fs.renameSync(writeLabStackFile(configOf, changes, project), stackFile);
        }
        const argv = [process.execPath, "--require", "ts-node/register/transpile-only", "--test"];
        argv.push("--test-reporter=spec", path.join(__dirname, "cluster.test.ts"));
        const [command, ...args] = onOperatorMachine(stack, argv);
        const child = spawn(command, args, {
            cwd: repo,
            stdio: "inherit",
            env: {
                ...process.env,
                KUBEHA_UP_STACK: stack,
                KUBEHA_UP_SCOPE: scope,
                ...(upgradeTo ? { KUBEHA_UP_UPGRADE_TO: upgradeTo } : {}),
                ...(second ? { KUBEHA_UP_SECOND_OF: second.configOf, KUBEHA_UP_BACKEND: second.backend } : {}),
                ...(earlier ? { KUBEHA_UP_FROM_CHECKOUT: earlier.dir, KUBEHA_UP_FROM_REVISION: fromRevision } : {}),
                KUBEHA_UP_PROJECT: project,
                KUBEHA_TOOLCHAIN_BIN: binDir,
                KUBEHA_LAB_CLOUD: socket,
                KUBEHA_COMMAND_LOG_DIR: path.join(files.logs, "steps"),
                ...(plain
                    ? {
                          KUBEHA_UP_SSH_KEY: plain.privateKeyFile,
                          KUBEHA_UP_ADDED_MACHINE: JSON.stringify(plain.addedEntry),
                      }
                    : {}),
            },
        });
        return await new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
    } finally {
        await requests?.stop();
        earlier?.remove();
        server.close();
        // KUBEHA_LAB_KEEP=1 keeps the machines for a look (npm run lab -- status / down); the cloud's API stops.
        if (process.env.KUBEHA_LAB_KEEP !== "1") {
            await cloud.close();
            await labDown(stack, say);
        }
    }
}

/**
 * Answers the first stack's request for a second one (test/up/second-stack.ts): its whole basic run, on a lab of its
 * own, while the first's checks wait and watch their own cluster. stop() waits for a second stack still running.
 */
function serveSecondStack(run: string): { stop: () => Promise<void> } {
    const { request, status } = secondStackFiles(run);
    let running: Promise<void> | undefined;
    const poll = setInterval(() => {
        if (running || !fs.existsSync(request)) return;
        const second = JSON.parse(fs.readFileSync(request, "utf8")) as SecondStack;
        say(`test:up: ${second.stack}, a second stack of the project beside ${second.configOf}`);
        running = upAndDown(second.stack, "basic", second)
            .catch((error: Error) => {
                say(`test:up: ${second.stack}: ${error.stack ?? error.message}`);
                return 1;
            })
            .then((code) => {
                say(`test:up: ${second.stack} ${code === 0 ? "passed" : "FAILED"}`);
                fs.writeFileSync(status, `${code}\n`);
            });
    }, 2_000);
    return {
        stop: async () => {
            clearInterval(poll);
            await running;
        },
    };
}

async function main(): Promise<void> {
    const stacks = (process.env.KUBEHA_UP_STACKS ?? "dev aws-dev:basic machines-lab:basic")
        .split(/\s+/)
        .filter(Boolean);
    let failed = 0;
    for (const entry of stacks) {
        const [stack, scope] = entry.split(":");
        const fromRevision = /^from-([\w./-]+)$/.exec(scope ?? "")?.[1];
        if (scope !== undefined && !fromRevision && scope !== "basic" && scope !== "upgrade" && scope !== "beside")
            throw new Error(`test:up: ${entry}: a scope is :basic, :upgrade, :beside or :from-<git revision>`);
        say(`test:up: ${entry}`);
        const status = await upAndDown(
            stack,
            fromRevision ? "from" : ((scope as Scope | undefined) ?? "full"),
            undefined,
            fromRevision,
        );
        if (status !== 0) failed++;
        say(`test:up: ${stack} ${status === 0 ? "passed" : "FAILED"}`);
    }
    process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((error: Error) => {
    process.stderr.write(`test:up: ${error.stack ?? error.message}\n`);
    process.exit(1);
});
