// Running the system tools the lab drives (ip, nsenter, mount, ...): synchronous, with the tool's own message in
// the error when it fails.
import { execFileSync, ExecFileSyncOptions, spawnSync } from "node:child_process";

export interface CommandResult {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs argv to completion (timeoutMs, default 60 s); never throws for a non-zero exit. */
export function runCommand(
    argv: readonly string[],
    options: { input?: string; timeoutMs?: number } = {},
): CommandResult {
    const result = spawnSync(argv[0], argv.slice(1), {
        encoding: "utf8",
        input: options.input,
        timeout: options.timeoutMs ?? 60_000,
        stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (result.error) throw new Error(`${argv.join(" ")}: ${result.error.message}`);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like runCommand, but throws with the command's output when it fails; returns its stdout. */
export function mustRun(argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): string {
    return run(argv[0], argv.slice(1), { input: options.input, timeout: options.timeoutMs ?? 60_000 });
}

/**
 * Runs a command and returns its stdout (a Buffer with `encoding: "buffer"`); on failure the error names the command
 * and carries the end of what it printed.
 */
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

/** Whether a program is on PATH. */
export function haveCommand(name: string): boolean {
    return runCommand(["sh", "-c", 'command -v "$1"', "sh", name]).status === 0;
}
