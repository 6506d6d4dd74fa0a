// `npm run test:mutations [-- --only id,id] [--jobs N]`: applies each mutation of the catalogue, one at a
// time, to a scratch copy of the project and runs the test file that must catch it. First each named test
// file runs unmutated (a test that fails anyway would "catch" everything). Prints every result and the
// score; exits non-zero unless every mutation applied and was caught.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Mutation, mutations } from "./catalogue";

const projectDir = path.resolve(__dirname, "../..");
/** What a scratch copy leaves out: dependencies are linked, not copied; the rest is not the program. */
const skipped = new Set(["node_modules", ".git", "out"]);
/** A test file that takes longer is taken as hung. */
const timeoutMs = 20 * 60_000;

interface Options {
    readonly only?: Set<string>;
    readonly jobs: number;
}

interface TestRun {
    readonly failed: boolean;
    readonly seconds: number;
    readonly output: string;
}

function parseArgs(argv: string[]): Options {
    let only: Set<string> | undefined;
    let jobs = 1;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--only") only = new Set(argv[++i].split(","));
        else if (argv[i] === "--jobs") jobs = Number(argv[++i]);
        else throw new Error(`unknown argument ${argv[i]} (use --only id,id and --jobs N)`);
    }
    if (!Number.isInteger(jobs) || jobs < 1) throw new Error("--jobs takes a whole number, at least 1");
    const unknown = [...(only ?? [])].filter((id) => !mutations.some((mutation) => mutation.id === id));
    if (unknown.length > 0) throw new Error(`no mutation named ${unknown.join(", ")}`);
    return { only, jobs };
}

/** A copy of the project to mutate, with node_modules linked. */
function scratchCopy(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-mutations-"));
    for (const entry of fs.readdirSync(projectDir)) {
        if (skipped.has(entry)) continue;
        fs.cpSync(path.join(projectDir, entry), path.join(dir, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(projectDir, "node_modules"), path.join(dir, "node_modules"));
    return dir;
}

function runTest(dir: string, file: string, namePattern?: string): Promise<TestRun> {
    const args = ["--require", "ts-node/register/transpile-only", "--test"];
    if (namePattern) args.push(`--test-name-pattern=${namePattern}`);
    args.push(file);
    const started = Date.now();
    return new Promise((resolve) => {
        const child = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (chunk) => (output += chunk));
        child.stderr.on("data", (chunk) => (output += chunk));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ failed: status !== 0, seconds: Math.round((Date.now() - started) / 1000), output });
        });
    });
}

/** The mutated text, or why the mutation does not apply (its text is gone or ambiguous). */
function mutated(text: string, mutation: Mutation): { text: string } | { stale: string } {
    let result = text;
    for (const { from, to } of mutation.edits) {
        const count = result.split(from).length - 1;
        if (count !== 1) return { stale: `${JSON.stringify(from)} occurs ${count} times in ${mutation.file}` };
        result = result.replace(from, () => to);
    }
    return { text: result };
}

/** The failing tests' names from TAP output, to show what caught a mutation. */
function failingTests(output: string): string[] {
    return [...output.matchAll(/^\s*not ok \d+ - (.+)$/gm)].map((match) => match[1]).slice(0, 2);
}

async function inParallel<T, R>(items: readonly T[], jobs: number, work: (item: T, slot: number) => Promise<R>) {
    const results: R[] = new Array(items.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(jobs, items.length) }, async (_, slot) => {
            while (next < items.length) {
                const index = next++;
                results[index] = await work(items[index], slot);
            }
        }),
    );
    return results;
}

async function main(): Promise<number> {
    const options = parseArgs(process.argv.slice(2));
    const chosen = mutations.filter((mutation) => !options.only || options.only.has(mutation.id));
    const slots = Array.from({ length: Math.min(options.jobs, chosen.length) }, scratchCopy);
    try {
        // Baselines: every distinct test run passes on the unmutated copy.
        const baselines = [
            ...new Map(chosen.map((m) => [`${m.test} ${m.testNamePattern ?? ""}`, m] as const)).values(),
        ];
        console.log(`baseline: ${baselines.length} test runs on the unmutated project`);
        const broken = (
            await inParallel(baselines, slots.length, async (m, slot) => {
                const run = await runTest(slots[slot], m.test, m.testNamePattern);
                console.log(
                    `  ${run.failed ? "FAILS" : "passes"} ${m.test} ${m.testNamePattern ?? ""} (${run.seconds}s)`,
                );
                return run.failed ? `${m.test} ${m.testNamePattern ?? ""}\n${run.output.slice(-3000)}` : undefined;
            })
        ).filter((problem) => problem !== undefined);
        if (broken.length > 0) {
            console.error(
                `the unmutated project fails these test runs, so no mutation can be judged:\n${broken.join("\n")}`,
            );
            return 2;
        }

        console.log(`\n${chosen.length} mutations`);
        const outcomes = await inParallel(chosen, slots.length, async (mutation, slot) => {
            const file = path.join(slots[slot], mutation.file);
            const original = fs.readFileSync(file, "utf8");
            const change = mutated(original, mutation);
            if ("stale" in change) {
                console.log(`  STALE   ${mutation.id}: ${change.stale}`);
                return "stale";
            }
            fs.writeFileSync(file, change.text);
            try {
                const run = await runTest(slots[slot], mutation.test, mutation.testNamePattern);
                const verdict = run.failed ? "caught " : "MISSED ";
                const by = run.failed ? ` by "${failingTests(run.output).join('", "')}"` : "";
                console.log(`  ${verdict} ${mutation.id} (${mutation.test}, ${run.seconds}s)${by}`);
                if (!run.failed) console.log(`          ${mutation.harm}`);
                return run.failed ? "caught" : "missed";
            } finally {
                fs.writeFileSync(file, original);
            }
        });
        const caught = outcomes.filter((outcome) => outcome === "caught").length;
        const percent = Math.round((100 * caught) / chosen.length);
        console.log(`\nscore: ${caught}/${chosen.length} mutations caught (${percent}%)`);
        return caught === chosen.length ? 0 : 1;
    } finally {
        for (const dir of slots) fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().then(
    (code) => process.exit(code),
    (error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exit(2);
    },
);
