// `npm run lab -- <command> [--stack dev|aws-dev]`: a stack's cluster on this machine (README, "Try it locally").
//   up [--workers N]   builds it; the admin kubeconfig's path is the last line printed
//   status             machines and nodes
//   load-image FILE    an OCI or docker archive into the lab's registry; prints the reference pods can use
//   down               removes everything the lab made
import { labDown, labFiles, labStatus, labUp } from "./lab";
import { loadLabImage } from "./mirrors";
import { checkLabName } from "./paths";

const usage = "usage: npm run lab -- up|status|down|load-image FILE [--stack <name>] [--workers N]";

function parse(argv: string[]): { command: string; file?: string; stack: string; workers?: number } {
    const [command, ...rest] = argv;
    let stack = "dev";
    let workers: number | undefined;
    let file: string | undefined;
    for (let i = 0; i < rest.length; i++) {
        const arg = rest[i];
        if (arg === "--stack") stack = checkLabName(rest[++i] ?? "");
        else if (arg === "--workers") {
            workers = Number(rest[++i]);
            if (!Number.isInteger(workers) || workers < 1 || workers > 20)
                throw new Error(`--workers takes a whole number from 1 to 20, got ${rest[i]}`);
        } else if (command === "load-image" && file === undefined) file = arg;
        else throw new Error(`unknown argument ${arg}\n${usage}`);
    }
    if (!["up", "status", "down", "load-image"].includes(command ?? "")) throw new Error(usage);
    if (command === "load-image" && !file) throw new Error(`load-image needs the archive's path\n${usage}`);
    return { command, file, stack, workers };
}

async function main(): Promise<void> {
    const options = parse(process.argv.slice(2));
    const say = (line: string) => process.stderr.write(`${line}\n`);
    switch (options.command) {
        case "up": {
            const result = await labUp({ stack: options.stack, workers: options.workers, say });
            say(`lab ${options.stack}: up; kubectl --kubeconfig ${result.kubeconfig} get nodes`);
            process.stdout.write(`${result.kubeconfig}\n`);
            break;
        }
        case "status":
            process.stdout.write(`${labStatus(options.stack)}\n`);
            break;
        case "down":
            await labDown(options.stack, say);
            break;
        case "load-image":
            process.stdout.write(`${loadLabImage(labFiles(options.stack).mirrors, options.file!)}\n`);
            break;
    }
}

main().catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
});
