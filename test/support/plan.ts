// Runs the offline plan the way a user does (npm run plan, in a child process) and reads what it wrote.
import { spawnSync } from "node:child_process";
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
    if (request.config) args.push("--config", stackFileWith(request.stack, request.config, outDir));
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

/** A successful plan, run once per distinct request and shared by the tests of one file. */
export function plan(request: PlanRequest): Plan {
    const key = JSON.stringify(request);
    let result = cache.get(key);
    if (!result) {
        const run = runPlanCli(request);
        if (run.status !== 0) throw new Error(`plan failed (${run.status}):\n${run.stderr}`);
        result = new Plan(run.outDir);
        cache.set(key, result);
    }
    return result;
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
