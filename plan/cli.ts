// npm run plan -- --stack <name> [--config <file>] [--deployed <file>] [--out <dir>] [--show-secrets]
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { errorText, keepUncaughtErrorsReadable } from "../components/readable-errors";
import { ProgramError, runPlan } from "./run";
import { removePlan, writePlan } from "./write";

const usage =
    "usage: npm run plan -- --stack <name> [--config <Pulumi.<stack>.yaml file>] " +
    "[--deployed <pulumi stack output --json file>] [--out <dir>] [--show-secrets]";

async function main(): Promise<number> {
    let args;
    try {
        args = parseArgs({
            options: {
                stack: { type: "string" },
                config: { type: "string" },
                deployed: { type: "string" },
                out: { type: "string" },
                "show-secrets": { type: "boolean", default: false },
            },
        }).values;
    } catch (error) {
        console.error(`${(error as Error).message}\n${usage}`);
        return 2;
    }
    if (!args.stack) {
        console.error(usage);
        return 2;
    }
    const projectDir = path.resolve(__dirname, "..");
    const outDir = path.resolve(args.out ?? path.join(projectDir, "out", args.stack));
    try {
        const plan = await runPlan({
            projectDir,
            stack: args.stack,
            configFile: args.config && path.resolve(args.config),
            showSecrets: args["show-secrets"] ?? false,
            deployedOutputs: args.deployed
                ? (JSON.parse(fs.readFileSync(path.resolve(args.deployed), "utf8")) as Record<string, unknown>)
                : undefined,
        });
        writePlan(plan, outDir, { showSecrets: args["show-secrets"] ?? false });
        console.log(`plan for stack ${args.stack}: ${plan.resources.length} resources written to ${outDir}`);
        return 0;
    } catch (error) {
        // A plan from before must not pass for the result of this failed run.
        removePlan(outDir);
        if (!(error instanceof ProgramError)) throw error;
        console.error(error.message);
        return 1;
    }
}

// Whatever goes wrong ends the process with a message and a non-zero status, never a hang or a silent 0.
keepUncaughtErrorsReadable();
let settled = false;
process.on("exit", (code) => {
    if (settled || code !== 0) return;
    // The event loop emptied while the plan was still waiting on something that can no longer happen.
    console.error("the plan stopped before it finished: a value it waited for was never produced");
    process.exitCode = 1;
});
main().then(
    (code) => {
        settled = true;
        process.exit(code);
    },
    (error) => {
        settled = true;
        console.error(errorText(error));
        process.exit(1);
    },
);
