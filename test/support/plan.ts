// Runs the offline plan the way a user does (npm run plan, in a child process) and reads what it wrote.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import type { PlannedInvoke, PlannedResource } from "../../plan/run";

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

export class Plan {
    readonly resources: PlannedResource[];
    readonly invokes: PlannedInvoke[];
    readonly outputs: Record<string, unknown>;

    constructor(readonly dir: string) {
        this.resources = JSON.parse(fs.readFileSync(path.join(dir, "resources.json"), "utf8"));
        this.invokes = JSON.parse(fs.readFileSync(path.join(dir, "invokes.json"), "utf8"));
        this.outputs = JSON.parse(fs.readFileSync(path.join(dir, "outputs.json"), "utf8"));
    }

    /** Every resource `name` depends on, directly or not. */
    ancestors(name: string): Set<string> {
        const byName = new Map(this.resources.map((resource) => [resource.name, resource]));
        const seen = new Set<string>();
        const visit = (current: string) => {
            for (const dependency of byName.get(current)?.dependencies ?? []) {
                if (!seen.has(dependency)) {
                    seen.add(dependency);
                    visit(dependency);
                }
            }
        };
        visit(name);
        return seen;
    }

    ofType(type: string): PlannedResource[] {
        return this.resources.filter((resource) => resource.type === type);
    }

    named(name: string): PlannedResource {
        const found = this.resources.find((resource) => resource.name === name);
        if (!found) throw new Error(`no resource named ${name} in the plan`);
        return found;
    }

    /** The arguments of every call of a provider function. */
    invoked(token: string): Record<string, unknown>[] {
        return this.invokes.filter((invoke) => invoke.token === token).map((invoke) => invoke.args);
    }

    file(relative: string): string {
        return fs.readFileSync(path.join(this.dir, relative), "utf8");
    }

    exists(relative: string): boolean {
        return fs.existsSync(path.join(this.dir, relative));
    }
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
