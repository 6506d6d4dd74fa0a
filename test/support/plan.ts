// Runs the offline plan the way a user does (npm run plan, in a child process) and reads what it wrote.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { Plan } from "../../plan/read";

export { Plan };

export const projectDir = path.resolve(__dirname, "../..");

export interface PlanRun {
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
    readonly outDir: string;
}

export interface PlanRequest {
    readonly stack: string;
    /** Plans `stack` with this other stack's file: a second stack of the same settings, as a user would copy it. */
    readonly settingsOf?: string;
    /** Changes to the stack file's `config:` (a key set to undefined is removed). */
    readonly config?: Record<string, unknown>;
    readonly showSecrets?: boolean;
    /** Outputs of a deployed stack (`pulumi stack output --json`), passed as --deployed. */
    readonly deployed?: Record<string, unknown>;
}

/** Plan directories this process wrote: removed when it exits, as a plan run with secrets holds private keys. */
const outDirs: string[] = [];
process.on("exit", () => outDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** Runs `npm run plan` for a stack, optionally with a modified copy of its stack file passed as --config. */
export function runPlanCli(request: PlanRequest): PlanRun {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `kubeha-plan-${request.stack}-`));
    outDirs.push(outDir);
    const args = [
        "--require",
        "ts-node/register/transpile-only",
        "plan/cli.ts",
        "--stack",
        request.stack,
        "--out",
        outDir,
    ];
    if (request.config || request.settingsOf)
        args.push("--config", stackFileWith(request.settingsOf ?? request.stack, request.config ?? {}, outDir));
    if (request.showSecrets) args.push("--show-secrets");
    if (request.deployed) {
        const file = path.join(outDir, "deployed-outputs.json");
        fs.writeFileSync(file, JSON.stringify(request.deployed));
        args.push("--deployed", file);
    }
    const result = spawnSync(process.execPath, args, { cwd: projectDir, encoding: "utf8", timeout: 300_000 });
    // A run killed (by the timeout, or a signal) has no status: say why, with what it printed so far.
    const killed = result.error ?? (result.signal ? `killed by ${result.signal}` : undefined);
    const stderr = killed ? `${String(killed)} after ${args.join(" ")}\n${result.stderr}` : result.stderr;
    return { status: result.status ?? -1, stdout: result.stdout, stderr, outDir };
}

const cache = new Map<string, Plan>();

/**
 * A successful plan, run once per distinct request and shared by the tests of one file, and by every test file
 * through the disk cache (plannedOnce): the same stack is planned in a dozen files.
 */
export function plan(request: PlanRequest): Plan {
    const key = JSON.stringify(request);
    let result = cache.get(key);
    if (!result) {
        result = new Plan(plannedOnce(request));
        cache.set(key, result);
    }
    return result;
}

/**
 * The plan's directory, from the disk cache when the same request was planned from the same project files before.
 * Sound because a plan is byte-identical for identical inputs (test/plan.test.ts checks it on fresh runs) and its
 * inputs are the request and the project's files: the key hashes both, so any change of code, script or stack file
 * misses. KUBEHA_PLAN_CACHE=0 turns it off. The plan doubles' keys it holds are not secret (docs/plan.md).
 */
function plannedOnce(request: PlanRequest): string {
    const run = () => {
        const result = runPlanCli(request);
        if (result.status !== 0) throw new Error(`plan failed (${result.status}):\n${result.stderr}`);
        return result.outDir;
    };
    if (process.env.KUBEHA_PLAN_CACHE === "0") return run();
    const root = planCacheRoot();
    const entry = path.join(
        root,
        createHash("sha256").update(projectHash()).update(JSON.stringify(request)).digest("hex"),
    );
    if (fs.existsSync(path.join(entry, "outputs.json"))) return entry;
    const outDir = run();
    // Another test process may have planned the same request meanwhile: either copy is the same plan.
    const staging = fs.mkdtempSync(path.join(root, "staging-"));
    fs.cpSync(outDir, staging, { recursive: true });
    // The plan's folder keeps its own mode (owner-only with secrets), not mkdtemp's.
    fs.chmodSync(staging, fs.statSync(outDir).mode & 0o777);
    try {
        fs.renameSync(staging, entry);
    } catch {
        fs.rmSync(staging, { recursive: true, force: true });
    }
    return entry;
}

let cacheRoot: string | undefined;

/** The cache's folder (outside the repository, owner-only), with entries older than a day removed on first use. */
function planCacheRoot(): string {
    if (cacheRoot) return cacheRoot;
    const root = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "kubeha", "plans");
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const name of fs.readdirSync(root)) {
        const entry = path.join(root, name);
        if (fs.statSync(entry).mtimeMs < dayAgo) fs.rmSync(entry, { recursive: true, force: true });
    }
    return (cacheRoot = root);
}

let sourceHash: string | undefined;

/** A digest of every project file's path and bytes but the repository's own and the installed packages' folders. */
function projectHash(): string {
    if (sourceHash) return sourceHash;
    const digest = createHash("sha256").update(process.version);
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            if (entry.name === ".git" || entry.name === "node_modules") continue;
            const file = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(file);
            else if (entry.isFile())
                digest.update(`${path.relative(projectDir, file)}\0`).update(fs.readFileSync(file));
        }
    };
    walk(projectDir);
    digest.update(fs.readFileSync(path.join(projectDir, "node_modules", ".package-lock.json")));
    return (sourceHash = digest.digest("hex"));
}

function stackFileWith(stack: string, changes: Record<string, unknown>, dir: string): string {
    const original = parseYaml(fs.readFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), "utf8")) as {
        config: Record<string, unknown>;
    };
    const config = { ...original.config, ...changes };
    for (const [key, value] of Object.entries(changes)) if (value === undefined) delete config[key];
    const file = path.join(dir, `Pulumi.${stack}.modified.yaml`);
    fs.writeFileSync(file, toYaml({ config }));
    return file;
}

/**
 * The step of a host that waits for its boot preparation and its way out: `<host>-ready`, or for a worker (named
 * worker-N), its join, which queues a unit that waits for the boot on the worker.
 */
export function bootWaitingStep(host: string): string {
    return `${host}-${host.startsWith("worker-") ? "join" : "ready"}`;
}
