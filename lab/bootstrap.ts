// Brings a lab cluster up from an offline plan (written with --show-secrets) until a real `pulumi up` can: the plan's
// own commands, nothing re-typed, in the plan's dependency order, as @pulumi/command runs them on creation; then the
// addons, each Kubernetes object of the plan applied server-side, as @pulumi/kubernetes does.
// - Every resource that is not a command (instances, keys, certificates...) counts as created: the lab made the
//   machines, and the PKI is in the plan's inputs.
// - A command runs its `create`; one with none (the upgrade steps run on update, removals on delete) creates
//   nothing, as for the provider, and counts as done at once.
// - Steps whose dependencies are done run together, at most `parallel` at once (pulumi up --parallel). A failure
//   starts nothing new, waits for the running steps, and reports each failed step with its exit status and the tail
//   of its log (not for steps whose output is secret: logging "none", or stdout/stderr among their secret outputs).
import * as fs from "node:fs";
import * as path from "node:path";
import type { PlannedResource } from "../plan/run";
import { runRemote, SshConnection, spawnCollect } from "./ssh";

export const remoteCommandType = "command:remote:Command";
export const localCommandType = "command:local:Command";

export type StepStatus = "done" | "failed" | "skipped" | "not-run";

export interface StepReport {
    readonly name: string;
    readonly seconds: number;
    readonly status: StepStatus;
    /** The command's exit status, when it ran. */
    readonly exitStatus?: number;
    /** Why it was skipped, or why it failed besides its exit status (dial, host key, environment). */
    readonly reason?: string;
}

export interface BootstrapResult {
    readonly steps: StepReport[];
    readonly seconds: number;
}

/** The bootstrap stopped: its message names each failed step, its exit status and its log's tail. */
export class BootstrapError extends Error {
    constructor(
        message: string,
        readonly result: BootstrapResult,
    ) {
        super(message);
    }
}

/** What running one resource came to. */
export interface StepOutcome {
    readonly status?: number;
    readonly failure?: string;
}

export interface BootstrapOptions {
    /** A plan directory written by `npm run plan -- --show-secrets` (resources.json, kubeconfig). */
    readonly planDir: string;
    /** One log file per step, `<name>.log` (0600). */
    readonly logDir: string;
    /** argv of a process on the operator's machine -> the argv that runs it there (e.g. nsenter into the lab's netns). */
    readonly wrap?: (argv: string[]) => string[];
    /** At most this many steps at once, like pulumi up --parallel. Default 16. */
    readonly parallel?: number;
    /** Resources the lab leaves out (they count as done). */
    readonly skip?: (resource: PlannedResource) => boolean;
    /** Default: the plan's kubeconfig. */
    readonly kubeconfig?: string;
    /** Default: kubectl on PATH (the lab passes the toolchain's). */
    readonly kubectl?: string;
    /** The local commands' working directory (the program's directory, where `pulumi up` runs). Default: this repo. */
    readonly repoRoot?: string;
    /** Fail a remote step whose environment the target's sshd refused, as the provider does. Default true. */
    readonly checkEnvironment?: boolean;
    /** Progress lines. Default: stderr. */
    readonly progress?: (line: string) => void;
    /** The ssh client. Default: ssh on PATH. */
    readonly ssh?: string;
    /** Runs one resource instead of the real thing (tests of the ordering). */
    readonly execute?: (resource: PlannedResource, log: fs.WriteStream) => Promise<StepOutcome>;
}

const tailLines = 20;

export async function runBootstrap(options: BootstrapOptions): Promise<BootstrapResult> {
    const started = Date.now();
    const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
    const say = (text: string) => progress(`lab: [${Math.round((Date.now() - started) / 1000)} s] ${text}`);
    const resources = readPlan(options.planDir);
    fs.mkdirSync(options.logDir, { recursive: true, mode: 0o700 });

    const commands = resources.filter((r) => r.type === remoteCommandType || r.type === localCommandType);
    const addons = resources.filter((r) => r.type.startsWith("kubernetes:"));
    const execute = options.execute ?? ((resource, log) => executeResource(resource, log, options));
    const graph = {
        parallel: options.parallel ?? 16,
        skip: options.skip,
        logDir: options.logDir,
        execute,
        say,
    };
    const reports = await runGraph(commands, graph);
    const stepsFailed = reports.some((report) => report.status === "failed");
    if (stepsFailed) {
        for (const addon of addons) reports.push({ name: addon.name, seconds: 0, status: "not-run" });
    } else {
        say(`steps done; applying ${addons.length} Kubernetes objects`);
        reports.push(...(await runGraph(addons, graph)));
    }
    const result = { steps: reports, seconds: Math.round((Date.now() - started) / 100) / 10 };
    const failed = reports.filter((report) => report.status === "failed");
    if (failed.length > 0) {
        const byName = new Map(resources.map((resource) => [resource.name, resource]));
        const message = failed.map((report) => failureReport(report, byName.get(report.name)!, options.logDir));
        for (const text of message) progress(text);
        throw new BootstrapError(message.join("\n"), result);
    }
    say(`bootstrap done in ${Math.round(result.seconds)} s`);
    return result;
}

/** The plan's resources; refuses a plan whose commands carry redacted secrets. */
export function readPlan(planDir: string): PlannedResource[] {
    const resources = JSON.parse(fs.readFileSync(path.join(planDir, "resources.json"), "utf8")) as PlannedResource[];
    const redacted = resources.filter(
        (resource) =>
            (resource.type.startsWith("command:") || resource.type.startsWith("kubernetes:")) &&
            JSON.stringify(resource.inputs).includes('"[secret]"'),
    );
    if (redacted.length > 0) {
        throw new Error(
            `${planDir} was written without --show-secrets: secrets of ${redacted
                .slice(0, 3)
                .map((resource) => resource.name)
                .join(", ")}${redacted.length > 3 ? " ..." : ""} are redacted`,
        );
    }
    return resources;
}

interface GraphOptions {
    readonly parallel: number;
    readonly skip?: (resource: PlannedResource) => boolean;
    readonly logDir: string;
    readonly execute: (resource: PlannedResource, log: fs.WriteStream) => Promise<StepOutcome>;
    readonly say: (text: string) => void;
}

/**
 * Runs items in dependency order (a dependency outside items counts as done), at most options.parallel at once,
 * ready ones by name. After a failure nothing new starts; what never started is "not-run".
 */
export async function runGraph(items: PlannedResource[], options: GraphOptions): Promise<StepReport[]> {
    if (!(options.parallel >= 1)) throw new Error(`parallel must be at least 1, not ${options.parallel}`);
    const names = new Set(items.map((item) => item.name));
    const reports = new Map<string, StepReport>();
    const pending = [...items].sort((a, b) => a.name.localeCompare(b.name));
    const running = new Map<string, Promise<void>>();
    let stopped = false;

    // Those the lab skips and those with nothing to create hold no slot: once their dependencies are done, so are
    // they (as a resource whose create does nothing is, for Pulumi: what depends on it still waits for its own).
    const instant = (item: PlannedResource) =>
        options.skip?.(item)
            ? "skipped by the lab"
            : item.type.startsWith("command:") && !item.inputs.create
              ? "no create command (runs on update or delete only)"
              : undefined;
    const satisfied = (dependency: string) => {
        if (!names.has(dependency)) return true;
        const status = reports.get(dependency)?.status;
        return status === "done" || status === "skipped";
    };
    const settleInstant = () => {
        for (let found = true; found;) {
            const next = pending.find((item) => instant(item) && item.dependencies.every(satisfied));
            found = next !== undefined;
            if (!next) continue;
            pending.splice(pending.indexOf(next), 1);
            reports.set(next.name, { name: next.name, seconds: 0, status: "skipped", reason: instant(next) });
        }
    };

    for (;;) {
        if (!stopped) settleInstant();
        while (!stopped && running.size < options.parallel) {
            const next = pending.find((item) => !instant(item) && item.dependencies.every(satisfied));
            if (!next) break;
            pending.splice(pending.indexOf(next), 1);
            running.set(
                next.name,
                runOne(next, options).then((report) => {
                    reports.set(next.name, report);
                    running.delete(next.name);
                    if (report.status === "failed") stopped = true;
                }),
            );
        }
        if (running.size === 0) break;
        await Promise.race(running.values());
    }
    if (!stopped && pending.length > 0) {
        throw new Error(
            `dependency cycle (or missing step) among: ${pending
                .map((item) => `${item.name} (after ${item.dependencies.filter((d) => !satisfied(d)).join(", ")})`)
                .join("; ")}`,
        );
    }
    for (const item of pending) reports.set(item.name, { name: item.name, seconds: 0, status: "not-run" });
    return items.map((item) => reports.get(item.name)!);
}

async function runOne(resource: PlannedResource, options: GraphOptions): Promise<StepReport> {
    const started = Date.now();
    const logFile = path.join(options.logDir, `${resource.name}.log`);
    const log = fs.createWriteStream(logFile, { mode: 0o600 });
    options.say(`${resource.name} started`);
    let outcome: StepOutcome;
    try {
        outcome = await options.execute(resource, log);
    } catch (error) {
        outcome = { failure: error instanceof Error ? error.message : String(error) };
    }
    await new Promise<void>((resolve) => log.end(resolve));
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const ok = outcome.failure === undefined && outcome.status === 0;
    const took = `in ${Math.round(seconds)} s`;
    options.say(
        ok
            ? `${resource.name} done ${took}`
            : `${resource.name} failed ${took}${outcome.status !== undefined ? ` (exit status ${outcome.status})` : ""}`,
    );
    return {
        name: resource.name,
        seconds,
        status: ok ? "done" : "failed",
        ...(outcome.status !== undefined ? { exitStatus: outcome.status } : {}),
        ...(outcome.failure !== undefined ? { reason: outcome.failure } : {}),
    };
}

/** Whether a resource's output must stay off the console (the provider keeps it out of the log or secret). */
export function outputIsSecret(resource: PlannedResource): boolean {
    const secretOutputs = resource.additionalSecretOutputs ?? [];
    return (
        resource.inputs.logging === "none" ||
        secretOutputs.includes("stdout") ||
        secretOutputs.includes("stderr") ||
        resource.type === "kubernetes:core/v1:Secret"
    );
}

function failureReport(report: StepReport, resource: PlannedResource, logDir: string): string {
    const logFile = path.join(logDir, `${report.name}.log`);
    const lines = [
        `lab: ${report.name} failed${report.exitStatus !== undefined ? ` with exit status ${report.exitStatus}` : ""}` +
            `${report.reason ? `: ${report.reason}` : ""} (log: ${logFile})`,
    ];
    if (report.exitStatus === undefined && report.reason !== undefined) {
        // It never ran (dial, host key, environment): the reason says why; ssh's own messages are in the log.
    } else if (outputIsSecret(resource)) {
        lines.push("lab:   (its output is secret: not shown here, see the log)");
    } else {
        const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
        const tail = text.split("\n").filter(Boolean).slice(-tailLines);
        lines.push(...tail.map((line) => `lab:   | ${line}`));
    }
    return lines.join("\n");
}

/** The real thing: a remote command over ssh, a local one with sh, a Kubernetes object with kubectl. */
async function executeResource(
    resource: PlannedResource,
    log: fs.WriteStream,
    options: BootstrapOptions,
): Promise<StepOutcome> {
    const wrap = options.wrap ?? ((argv: string[]) => argv);
    const inputs = resource.inputs;
    const environment = stringRecord(inputs.environment);
    const stdin = typeof inputs.stdin === "string" ? inputs.stdin : undefined;
    if (resource.type === remoteCommandType) {
        return runRemote({
            connection: inputs.connection as SshConnection,
            command: String(inputs.create),
            environment,
            stdin,
            log,
            wrap,
            checkEnvironment: options.checkEnvironment,
            ssh: options.ssh,
        });
    }
    if (resource.type === localCommandType) {
        // The provider runs `/bin/sh -c <create>` (or its interpreter) with its own environment plus the step's.
        const interpreter = Array.isArray(inputs.interpreter) ? inputs.interpreter.map(String) : ["/bin/sh", "-c"];
        const root = options.repoRoot ?? path.resolve(__dirname, "..");
        const cwd = typeof inputs.dir === "string" ? path.resolve(root, inputs.dir) : root;
        const result = await spawnCollect(wrap([...interpreter, String(inputs.create)]), stdin ?? "", log, {
            env: { ...process.env, ...environment },
            cwd,
        });
        return { status: result.status };
    }
    if (resource.type.startsWith("kubernetes:")) return applyObject(resource, log, options, wrap);
    throw new Error(`the lab does not run ${resource.type} resources`);
}

/** One object, as @pulumi/kubernetes applies it (server-side apply under a field manager of its own). */
async function applyObject(
    resource: PlannedResource,
    log: fs.WriteStream,
    options: BootstrapOptions,
    wrap: (argv: string[]) => string[],
): Promise<StepOutcome> {
    const match = /^kubernetes:([^:]+)\/([^:/]+):([A-Za-z]+)$/.exec(resource.type);
    if (!match || match[1] === "helm.sh" || match[1] === "yaml") {
        return { failure: `${resource.type} is not one Kubernetes object: the lab cannot apply it` };
    }
    const [, group, version, kind] = match;
    const object: Record<string, unknown> = {
        apiVersion: group === "core" ? version : `${group}/${version}`,
        kind,
        ...resource.inputs,
    };
    const metadata = (object.metadata ?? {}) as { name?: string };
    if (!metadata.name) return { failure: "no metadata.name (Pulumi would make one up; the lab cannot)" };
    const kubeconfig = options.kubeconfig ?? path.join(options.planDir, "kubeconfig");
    const argv = [options.kubectl ?? "kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side"];
    argv.push("--field-manager=pulumi-kubernetes-lab", "-f", "-");
    const result = await spawnCollect(wrap(argv), JSON.stringify(object), log);
    return { status: result.status };
}

function stringRecord(value: unknown): Record<string, string> {
    if (value === undefined || value === null) return {};
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}
