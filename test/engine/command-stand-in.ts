// The stand-in for @pulumi/command's plugin (test code, never shipped: the Go module proxy refuses the real one). It
// does the real work, since the whole bootstrap runs through it: remote commands over the OpenSSH client with the
// connection's proxy as jump host, both hops' pinned host keys as the only known ones, the environment as SSH env
// requests that the target's sshd must accept, and stdin (lab/ssh.ts, which the lab's own bootstrap uses too); local
// commands with their interpreter. Lifecycle as the provider defines it (pulumi-command 1.2.1's schema and docs):
// - create runs `create`; a command without one creates nothing (steps that act only on update or delete);
// - a change of any input but `triggers` is an update: it runs `update`, or `create` again when there is none, with
//   the new inputs; a change of `triggers` replaces (the SDK asks the engine: replaceOnChanges triggers[*]), so the
//   engine creates the new command and then deletes the old, whose `delete` runs with the old inputs;
// - delete runs `delete`, with the inputs the command was created or last updated with;
// - addPreviousOutputInEnv (default true) passes the last stdout and stderr as PULUMI_COMMAND_STDOUT/STDERR;
// - stdout and stderr are outputs, trailing newline trimmed; the engine keeps them secret where the program asks.
// Not done: streaming the output to the engine's log as it comes (`logging`): each step's output goes to a file of
// its own in $KUBEHA_COMMAND_LOG_DIR when that is set, and a failed step's error carries its stderr's tail unless
// its logging leaves stderr out.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as provider from "@pulumi/pulumi/provider";
import { RemoteResult, runRemote, SshConnection, spawnCollect } from "../../lab/ssh";
import { revealed } from "../../plan/secret-outputs";

type State = Record<string, unknown>;

/** The line that starts each run's part of a step's log ($KUBEHA_COMMAND_LOG_DIR/<name>.<phase>.log). */
export const runHeader = "# kubeha command stand-in:";

/** Inputs that are not compared for a change: the outputs the provider adds. */
const outputsOnly = new Set(["stdout", "stderr"]);

export function commandStandIn(version: string): provider.Provider {
    return {
        version,
        diff: async (_id, _urn, olds: State, news: State) => {
            const keys = [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((k) => !outputsOnly.has(k));
            const changed = keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
            return { changes: changed.length > 0, replaces: changed.filter((key) => key === "triggers") };
        },
        create: async (urn, inputs: State) => {
            const output = await runPhase(urn, inputs, "create");
            return { id: `${urnName(urn)}-${randomBytes(4).toString("hex")}`, outs: { ...inputs, ...output } };
        },
        read: async (id, _urn, props: State) => ({ id, props }),
        update: async (_id, urn, olds: State, news: State) => {
            const output = await runPhase(urn, news, "update", olds);
            return { outs: { ...news, ...output } };
        },
        delete: async (_id, urn, props: State) => {
            await runPhase(urn, props, "delete");
        },
    };
}

/** Runs the command of one phase (update falls back to create) and returns stdout and stderr. */
async function runPhase(
    urn: string,
    wrapped: State,
    phase: "create" | "update" | "delete",
    previous?: State,
): Promise<{ stdout: string; stderr: string }> {
    const inputs = revealed(wrapped) as State;
    const command = (phase === "update" ? (inputs.update ?? inputs.create) : inputs[phase]) as string | undefined;
    if (command === undefined || command === "") return { stdout: "", stderr: "" };
    const environment = Object.fromEntries(
        Object.entries((inputs.environment ?? {}) as State).map(([key, value]) => [key, String(value)]),
    );
    if (previous && inputs.addPreviousOutputInEnv !== false) {
        const old = revealed(previous) as State;
        environment.PULUMI_COMMAND_STDOUT = String(old.stdout ?? "");
        environment.PULUMI_COMMAND_STDERR = String(old.stderr ?? "");
    }
    const stdin = typeof inputs.stdin === "string" ? inputs.stdin : undefined;
    const name = urnName(urn);
    const logDir = process.env.KUBEHA_COMMAND_LOG_DIR;
    const logFile = logDir ? path.join(logDir, `${name}.${phase}.log`) : "/dev/null";
    if (logDir) fs.mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const log = fs.createWriteStream(logFile, { flags: "a", mode: 0o600 });
    // One header per run: a step run again (after an interrupted `pulumi up`) shows as a second header.
    log.write(`${runHeader} ${phase} ${new Date().toISOString()}\n`);
    try {
        const type = urnType(urn);
        const result =
            type === "command:remote:Command"
                ? await runRemote({
                      connection: inputs.connection as SshConnection,
                      command,
                      environment,
                      stdin,
                      log,
                      wrap: (argv) => argv,
                  })
                : type === "command:local:Command"
                  ? await runLocal(inputs, command, environment, stdin, log)
                  : undefined;
        if (!result) throw new Error(`the command stand-in has no resource type ${type}`);
        if (result.failure !== undefined) throw new Error(`${name}: ${result.failure}`);
        const logging = String(inputs.logging ?? "stdoutAndStderr");
        if (result.status !== 0) {
            const tail = /stderr/i.test(logging) ? result.stderr.trimEnd().split("\n").slice(-20).join("\n") : "";
            throw new Error(
                `${name}: Process exited with status ${result.status}: running ${JSON.stringify(command)}` +
                    (tail ? `:\n${tail}` : ""),
            );
        }
        return { stdout: result.stdout.replace(/\n$/, ""), stderr: result.stderr.replace(/\n$/, "") };
    } finally {
        await new Promise((resolve) => log.end(resolve));
    }
}

/** `/bin/sh -c <command>` (or the command's interpreter) in its dir, with the provider's environment plus its own. */
async function runLocal(
    inputs: State,
    command: string,
    environment: Record<string, string>,
    stdin: string | undefined,
    log: fs.WriteStream,
): Promise<RemoteResult> {
    const interpreter = Array.isArray(inputs.interpreter) ? inputs.interpreter.map(String) : ["/bin/sh", "-c"];
    const cwd = typeof inputs.dir === "string" ? path.resolve(inputs.dir) : process.cwd();
    return spawnCollect([...interpreter, command], stdin ?? "", log, { env: { ...process.env, ...environment }, cwd });
}

/** `urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>` */
export function urnType(urn: string): string {
    return urn.split("::")[2].split("$").pop()!;
}

export function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}
