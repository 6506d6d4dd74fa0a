// Small process helpers shared by the mirror modules: run a command (optionally inside the lab's network namespace)
// and fail with what it printed.
import { execFileSync, ExecFileSyncOptions } from "node:child_process";

/** Runs a command and returns its stdout; on failure the error names the command and carries its stderr. */
export function run(
    command: string,
    args: readonly string[],
    options: ExecFileSyncOptions & { input?: string | Buffer } = {},
): string {
    try {
        return execFileSync(command, args, {
            encoding: "utf8",
            stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
            maxBuffer: 64 * 1024 * 1024,
            ...options,
        }) as string;
    } catch (error) {
        const failed = error as { stderr?: Buffer | string; stdout?: Buffer | string; status?: number };
        const output = `${failed.stderr ?? ""}${failed.stdout ?? ""}`.trim().slice(-4000);
        throw new Error(`${command} ${args.join(" ")} failed (exit ${failed.status}):\n${output}`);
    }
}

/** `nsenter --net=<netns path> <command...>`: the command's sockets live in the lab network. */
export function inNetns(netnsPath: string, command: string, args: readonly string[]): [string, string[]] {
    return ["nsenter", [`--net=${netnsPath}`, command, ...args]];
}
