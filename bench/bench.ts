// npm run bench: modeled time-to-ready (plan/latency.ts) and the plan's own cost, for 3 masters
// with 3, 100, 500 and 1,000 workers on both clouds. Prints figures; asserts nothing.
// usage: npm run bench [-- --workers 3,100,500,1000] [--stacks dev,aws-dev,dev+insideVpc,aws-dev+insideVpc]
// `<stack>+insideVpc` is the stack with `kubeha:mirrors.insideVpc: true` (the boot does not wait for NAT).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { describeLabMeasurements } from "../lab/measured-times";

const projectDir = path.resolve(__dirname, "..");
const { values } = parseArgs({ options: { workers: { type: "string" }, stacks: { type: "string" } } });
const stacks = (values.stacks ?? "dev,aws-dev,dev+insideVpc,aws-dev+insideVpc").split(",");
const workerCounts = (values.workers ?? "3,100,500,1000").split(",").map(Number);

interface Figures {
    resources: number;
    wallSeconds: number;
    /** Of the wall time, writing the plan's files (its summary's schedules included). */
    writeSeconds: number;
    cpuSeconds: number;
    peakMemoryMb: number;
    modeledMinutes: number;
    modeledMinutesParallel256: number;
    modeledMinutesParallel32: number;
    criticalPath: string[];
}

// Every plan's directory stays until the bench ends. On ext4 without a journal (this project's machines), creating a
// file within about 30 s of many deletions checks the recently deleted inodes one by one (ext4's recently_deleted(),
// seen with perf): a 500-worker plan written right after the previous plan's 28,000 files were removed took 15 to
// 25 s more to write, a cost of the bench's own clean-up, not of the plan.
const planDirs: string[] = [];
process.on("exit", () => {
    for (const dir of planDirs) fs.rmSync(dir, { recursive: true, force: true });
});
// Interrupted (Ctrl-C or a kill), it still removes them: exiting runs the handler above.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

function measure(entry: string, workers: number): Figures {
    const [stack, variant] = entry.split("+");
    if (variant !== undefined && variant !== "insideVpc")
        throw new Error(`bench: ${entry}: the one variant is +insideVpc`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kubeha-bench-${stack}-${workers}-`));
    planDirs.push(dir);
    const original = parseYaml(fs.readFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), "utf8"));
    const configFile = path.join(dir, "stack.yaml");
    const config: Record<string, unknown> = { ...original.config, "kubeha:workers": { count: workers } };
    if (variant) config["kubeha:mirrors"] = { ...original.config["kubeha:mirrors"], insideVpc: true };
    // The default pod range (a /16) holds 256 nodes' /24s: 500 workers need a /15, 1,000 a /14.
    const podBits = Math.max(8, Math.ceil(Math.log2(workers + 3)));
    if (podBits > 8) config["kubeha:network"] = { podCidr: `10.244.0.0/${24 - podBits}` };
    fs.writeFileSync(configFile, toYaml({ config }));
    const run = spawnSync(
        process.execPath,
        [
            "--require",
            "ts-node/register/transpile-only",
            "bench/plan-child.ts",
            stack,
            configFile,
            path.join(dir, "out"),
        ],
        { cwd: projectDir, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    if (run.status !== 0) throw new Error(`plan of ${stack} with ${workers} workers failed:\n${run.stderr}`);
    return JSON.parse(run.stdout.trim().split("\n").pop() as string);
}

console.log("kubeha bench: 3 masters, N workers; modeled minutes from plan/latency.ts, plan cost measured here");
console.log(`machine: ${os.cpus().length} cores, node ${process.version}\n`);
console.log(
    "Pulumi runs at most --parallel resources at once (default 4 x CPUs, e.g. 32 on an 8-core laptop): " +
        "every remote step holds a slot while it runs.\n",
);
console.log(
    "The plan's cost (a fresh process each: runPlan and writePlan) depends on what else the machine runs: each row " +
        "gives the 1-minute load average when it finished, and the plan's own CPU time (user + system), " +
        "which depends on it less. (writing): the part of the wall time spent writing the plan's files, which " +
        "follows how fast the file system creates files (docs/development.md).\n",
);
console.log(
    "stack              workers  resources  modeled-min (unbounded)  --parallel 256  --parallel 32  plan-wall-s  (writing)  plan-cpu-s  plan-peak-MB  load",
);
for (const stack of stacks) {
    let base: Figures | undefined;
    for (const workers of workerCounts) {
        const figures = measure(stack, workers);
        base ??= figures;
        const growth = ((figures.modeledMinutes / base.modeledMinutes - 1) * 100).toFixed(1);
        console.log(
            [
                stack.padEnd(18),
                String(workers).padStart(7),
                String(figures.resources).padStart(10),
                `${figures.modeledMinutes.toFixed(2)} (+${growth}%)`.padStart(24),
                figures.modeledMinutesParallel256.toFixed(2).padStart(15),
                figures.modeledMinutesParallel32.toFixed(2).padStart(14),
                figures.wallSeconds.toFixed(1).padStart(12),
                `(${figures.writeSeconds.toFixed(1)})`.padStart(10),
                figures.cpuSeconds.toFixed(1).padStart(11),
                figures.peakMemoryMb.toFixed(0).padStart(13),
                os.loadavg()[0].toFixed(1).padStart(5),
            ].join(" "),
        );
        if (workers === workerCounts[0])
            console.log(`                   critical path: ${figures.criticalPath.join(" -> ")}`);
    }
}

console.log(
    "\nMeasured on this machine's lab (a real pulumi up, and the same bootstrap by hand; lab/measured-times.ts):",
);
for (const stack of stacks.filter((entry) => !entry.includes("+"))) {
    console.log(`${stack}:`);
    for (const line of describeLabMeasurements(stack)) console.log(`  ${line}`);
}
