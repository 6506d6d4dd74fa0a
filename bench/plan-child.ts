// One measured plan run (a fresh process per run: the Pulumi runtime is process-global).
// argv: <stack> <config file> <out dir>; prints one JSON line of figures.
import { runPlan } from "../plan/run";
import { writePlan } from "../plan/write";
import { schedule } from "../plan/latency";
import * as path from "node:path";

async function main(): Promise<void> {
    const [stack, configFile, outDir] = process.argv.slice(2);
    const plan = await runPlan({ projectDir: path.resolve(__dirname, ".."), stack, configFile, showSecrets: false });
    const writeStarted = process.uptime();
    writePlan(plan, outDir, { showSecrets: false });
    const writeSeconds = process.uptime() - writeStarted;
    // From the process's start, as `npm run plan` costs a user: loading TypeScript and the program included.
    const wallSeconds = process.uptime();
    const { user, system } = process.cpuUsage();
    const modeled = (parallelism: number) => schedule(plan.resources, parallelism);
    console.log(
        JSON.stringify({
            resources: plan.resources.length,
            wallSeconds,
            writeSeconds,
            cpuSeconds: (user + system) / 1e6,
            peakMemoryMb: process.resourceUsage().maxRSS / 1024,
            modeledMinutes: modeled(Infinity).minutes,
            modeledMinutesParallel256: modeled(256).minutes,
            modeledMinutesParallel32: modeled(32).minutes,
            criticalPath: modeled(Infinity).criticalPath.map((item) => item.name),
        }),
    );
    process.exit(0);
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
