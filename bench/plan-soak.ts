// Runs `npm run plan` (plan/cli.ts, a fresh process each) back to back and reports how long each took, to show
// that no plan hangs: an intermittent hang only shows over many runs. Prints figures; asserts nothing.
// usage: node --require ts-node/register/transpile-only bench/plan-soak.ts [--rounds N] [--bound SECONDS]
//        [--fifty-every K] [--large-every L]
// One round: dev and aws-dev; every K-th round also both with 50 workers; every L-th round one 500-worker plan
// (dev and aws-dev in turn).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify as toYaml } from "yaml";

const projectDir = path.resolve(__dirname, "..");
const { values } = parseArgs({
    options: {
        rounds: { type: "string" },
        bound: { type: "string" },
        "fifty-every": { type: "string" },
        "large-every": { type: "string" },
    },
});
const fiftyEvery = Number(values["fifty-every"] ?? 1);
const largeEvery = Number(values["large-every"] ?? 25);
const rounds = Number(values.rounds ?? 75);
// Generous: the slowest plan measured here (500 workers on 2 busy cores) takes well under a third of it.
const boundSeconds = Number(values.bound ?? 600);

interface Kind {
    readonly label: string;
    readonly stack: string;
    readonly workers?: number;
}

const small: Kind[] = [
    { label: "dev", stack: "dev" },
    { label: "aws-dev", stack: "aws-dev" },
];
const fifty: Kind[] = [
    { label: "dev-50", stack: "dev", workers: 50 },
    { label: "aws-dev-50", stack: "aws-dev", workers: 50 },
];
const large: Kind[] = [
    { label: "dev-500", stack: "dev", workers: 500 },
    { label: "aws-dev-500", stack: "aws-dev", workers: 500 },
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-soak-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

function configFile(kind: Kind): string | undefined {
    if (kind.workers === undefined) return undefined;
    const file = path.join(dir, `${kind.label}.yaml`);
    if (!fs.existsSync(file)) {
        const original = parseYaml(fs.readFileSync(path.join(projectDir, `Pulumi.${kind.stack}.yaml`), "utf8"));
        const config: Record<string, unknown> = { ...original.config, "kubeha:workers": { count: kind.workers } };
        // The default pod range (a /16) holds 256 nodes' /24s: 500 workers need a /15.
        if (kind.workers > 250) config["kubeha:network"] = { podCidr: "10.244.0.0/15" };
        fs.writeFileSync(file, toYaml({ config }));
    }
    return file;
}

const times = new Map<string, number[]>();
const failures: string[] = [];
const started = Date.now();
let runs = 0;
for (let round = 1; round <= rounds; round++) {
    const schedule = [
        ...small,
        ...(round % fiftyEvery === 0 ? fifty : []),
        ...(round % largeEvery === 0 ? [large[(round / largeEvery - 1) % 2]] : []),
    ];
    for (const kind of schedule) {
        const config = configFile(kind);
        const args = ["--require", "ts-node/register/transpile-only", "plan/cli.ts", "--stack", kind.stack];
        args.push("--out", path.join(dir, "out"), ...(config ? ["--config", config] : []));
        const t0 = process.hrtime.bigint();
        // SIGUSR2 would need the process's cooperation; SIGKILL ends any hang, and the bound says it was one.
        const result = spawnSync(process.execPath, args, {
            cwd: projectDir,
            encoding: "utf8",
            timeout: boundSeconds * 1000,
            killSignal: "SIGKILL",
            maxBuffer: 64 * 1024 * 1024,
        });
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        runs++;
        times.set(kind.label, [...(times.get(kind.label) ?? []), seconds]);
        if (result.status !== 0) {
            const why = result.signal
                ? `killed (${result.signal}) at the ${boundSeconds} s bound`
                : `status ${result.status}`;
            failures.push(`round ${round} ${kind.label}: ${why}\n${result.stderr.slice(-2000)}`);
            // At once too: a soak stopped early still shows why each plan failed.
            console.log(failures[failures.length - 1]);
        }
        console.log(
            `${new Date().toISOString()} round ${round} ${kind.label} ${seconds.toFixed(1)} s status ${result.status}`,
        );
    }
}

const stat = (list: number[]) => {
    const sorted = [...list].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return `n=${list.length} min=${sorted[0].toFixed(1)} median=${at(0.5).toFixed(1)} p95=${at(0.95).toFixed(1)} max=${sorted[sorted.length - 1].toFixed(1)}`;
};
console.log(
    `\n${runs} plans in ${((Date.now() - started) / 60000).toFixed(1)} min, bound ${boundSeconds} s; ${os.cpus().length} cores, node ${process.version}`,
);
for (const [label, list] of times) console.log(`${label.padEnd(12)} ${stat(list)}`);
console.log(failures.length === 0 ? "no failures" : `${failures.length} failures:\n${failures.join("\n")}`);
process.exitCode = failures.length === 0 ? 0 : 1;
