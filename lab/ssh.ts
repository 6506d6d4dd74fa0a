// One remote step over the OpenSSH client, as @pulumi/command's remote.Command runs it on creation: the same
// connection (host, port, user, key, pinned host key, one proxy hop), the environment as SSH env requests (so the
// target's sshd AcceptEnv decides), stdin, and the step's command as the remote command, unchanged.
// Differences from the provider (Go's x/crypto/ssh), and how this file closes them:
// - Host keys: the provider pins each hop with ssh.FixedHostKey and offers only that key's algorithm. Here a
//   known_hosts file holds exactly the two pinned keys under per-hop aliases (HostKeyAlias), StrictHostKeyChecking
//   yes, HostKeyAlgorithms the pinned key's type, no other known_hosts file.
// - Dial retries: the provider retries a failed dial (any error before the session: refused, timed out, host key,
//   authentication) until its failures exceed dialErrorLimit, each dial limited to perDialTimeout. Here ssh gets ConnectTimeout
//   and a verbose log of its own (-E): an attempt that exits 255 without "Authenticated to" never reached the
//   session and is tried again; one that authenticated is the step's own result, never repeated.
// - Environment: the provider's env requests want a reply and a refused one fails the step ("could not set
//   environment variable"); OpenSSH sends them without asking for a reply and sshd drops refused ones silently.
//   So before the step, a probe session (same connection, same env requests) lists which of the step's variables
//   did not arrive (`printenv`, names only, never values), and a missing one fails the step as the provider would.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** One hop as remote.Command's connection (and its proxy) has it in the plan's inputs. */
export interface SshHop {
    readonly host: string;
    readonly port?: number;
    readonly user?: string;
    readonly privateKey?: string;
    readonly hostKey?: string;
    readonly dialErrorLimit?: number;
    readonly perDialTimeout?: number;
}

export interface SshConnection extends SshHop {
    readonly proxy?: SshHop;
}

export interface RemoteRun {
    readonly connection: SshConnection;
    readonly command: string;
    readonly environment: Readonly<Record<string, string>>;
    readonly stdin?: string;
    /** Receives the step's output (stdout and stderr, as they come) and this file's own notes. */
    readonly log: fs.WriteStream;
    /** Turns an argv into the one that runs it on the operator's machine (e.g. inside the lab's netns). */
    readonly wrap: (argv: string[]) => string[];
    /** Check that every environment variable reached the target (see above). Default true. */
    readonly checkEnvironment?: boolean;
    readonly ssh?: string;
}

export interface RemoteResult {
    /** The remote command's exit status; undefined when it never ran. */
    readonly status?: number;
    /** Why the step failed before (or instead of) the command's own exit status: dial, host key, environment. */
    readonly failure?: string;
    /** What the command printed (empty when it never ran). */
    readonly stdout: string;
    readonly stderr: string;
}

/** The provider's defaults (pulumi-command connection.go): user root, port 22, 10 dials of 15 s. */
const defaults = { port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 };
const targetAlias = "kubeha-target";
const proxyAlias = "kubeha-proxy";

export async function runRemote(run: RemoteRun): Promise<RemoteResult> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-ssh-"));
    try {
        const config = writeSshConfig(dir, run.connection, run.environment);
        const names = Object.keys(run.environment);
        if (names.length > 0 && run.checkEnvironment !== false) {
            const probe = `for n in ${names.join(" ")}; do printenv "$n" >/dev/null || echo "$n"; done`;
            const checked = await dialAndRun(run, config, dir, probe, undefined, "environment check");
            if (checked.failure !== undefined) return { failure: checked.failure, stdout: "", stderr: "" };
            if (checked.status !== 0) {
                const failure = `the environment check exited with ${checked.status}: ${checked.stderr.trim()}`;
                return { failure, stdout: "", stderr: "" };
            }
            const missing = checked.stdout.split("\n").filter((name) => names.includes(name));
            if (missing.length > 0) {
                return {
                    failure:
                        `${run.connection.host}'s sshd did not accept the environment variable(s) ${missing.join(", ")} ` +
                        "(AcceptEnv): the real provider fails this step (could not set environment variable)",
                    stdout: "",
                    stderr: "",
                };
            }
        }
        const result = await dialAndRun(run, config, dir, run.command, run.stdin ?? "", "step", run.log);
        return { status: result.status, failure: result.failure, stdout: result.stdout, stderr: result.stderr };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

interface AttemptResult {
    status?: number;
    failure?: string;
    stdout: string;
    stderr: string;
}

/** Dials (retrying as the provider does) and runs command once a session is up. */
async function dialAndRun(
    run: RemoteRun,
    config: string,
    dir: string,
    command: string,
    stdin: string | undefined,
    what: string,
    log?: fs.WriteStream,
): Promise<AttemptResult> {
    // The provider gives up once its failed dials exceed dialErrorLimit (so limit + 1 dials); -1: no limit.
    const configured = run.connection.dialErrorLimit ?? defaults.dialErrorLimit;
    const limit = configured < 0 ? Infinity : configured + 1;
    let pause = 100;
    for (let attempt = 1; ; attempt++) {
        const sshLog = path.join(dir, `ssh-${what.replace(/\W+/g, "-")}-${attempt}.log`);
        const argv = [run.ssh ?? "ssh", "-F", config, "-E", sshLog, targetAlias, "--", command];
        const result = await spawnCollect(run.wrap(argv), stdin ?? "", log);
        const sshMessages = fs.existsSync(sshLog) ? fs.readFileSync(sshLog, "utf8") : "";
        if (result.status !== 255 || /^Authenticated to /m.test(sshMessages)) return result;
        // Never reached the session: a dial failure, retried like the provider's.
        const reason = dialFailure(sshMessages, result.stderr, run.connection);
        if (attempt >= limit) {
            return { ...result, status: undefined, failure: `${what}: ${reason} (after ${attempt} dial attempts)` };
        }
        run.log.write(`lab: ${what}: dial ${attempt}/${limit} failed: ${reason}: retrying\n`);
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 1.5, 5000);
    }
}

/** What went wrong before the session, in words: a host key mismatch is named as such, with the hop. */
export function dialFailure(sshMessages: string, stderr: string, connection: SshConnection): string {
    const text = `${sshMessages}\n${stderr}`;
    const hopOf = (alias: string) =>
        alias === proxyAlias ? `the proxy ${connection.proxy?.host}` : `the target ${connection.host}`;
    const changed = /Host key for (\S+) has changed|REMOTE HOST IDENTIFICATION HAS CHANGED/.exec(text);
    if (changed) {
        // Both hops' mismatches print the same banner; the alias in "Host key for <alias>" tells which hop.
        const alias = /Host key for (\S+) has changed/.exec(text)?.[1] ?? offendingAlias(text) ?? targetAlias;
        return `host key mismatch: ${hopOf(alias)} did not present the pinned host key`;
    }
    const noType = /Unable to negotiate with (\S+) port \d+: no matching host key type/.exec(text);
    if (noType) {
        const alias = noType[1] === connection.proxy?.host ? proxyAlias : targetAlias;
        return `host key mismatch: ${hopOf(alias)} has no host key of the pinned key's type`;
    }
    if (/Host key verification failed/.test(text)) return "host key mismatch (Host key verification failed)";
    const lines = text
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line && !/^(debug|Authenticated|Connecting to|Connection established)/.test(line));
    return lines.slice(-3).join("; ") || "ssh exited with 255 before a session";
}

function offendingAlias(text: string): string | undefined {
    const line = /Offending \S+ key in \S+:(\d+)/.exec(text)?.[1];
    if (line === undefined) return undefined;
    return line === "1" ? targetAlias : proxyAlias;
}

/**
 * The ssh_config for one step, with the key files and known_hosts it names, in dir (0700, removed by the caller).
 * Host entries for both hops (ProxyJump passes -F to the jump, so the proxy hop reads the same pins).
 */
export function writeSshConfig(dir: string, connection: SshConnection, environment: Readonly<Record<string, string>>) {
    fs.chmodSync(dir, 0o700);
    const knownHosts = path.join(dir, "known_hosts");
    const known: string[] = [];
    const hop = (alias: string, value: SshHop, extra: string[]) => {
        const lines = [`Host ${alias}`, `    HostName ${value.host}`];
        lines.push(`    Port ${value.port ?? defaults.port}`, `    User ${value.user ?? defaults.user}`);
        lines.push(`    ConnectTimeout ${value.perDialTimeout ?? defaults.perDialTimeout}`);
        if (value.privateKey) {
            const keyFile = path.join(dir, `${alias}.key`);
            const key = value.privateKey.endsWith("\n") ? value.privateKey : `${value.privateKey}\n`;
            fs.writeFileSync(keyFile, key, { mode: 0o600 });
            lines.push(`    IdentityFile ${keyFile}`);
        }
        if (value.hostKey) {
            const [type, blob] = value.hostKey.trim().split(/\s+/);
            if (!type || !blob) throw new Error(`host key of ${value.host} is not "<type> <base64>": ${value.hostKey}`);
            known.push(`${alias} ${type} ${blob}`);
            lines.push(`    HostKeyAlias ${alias}`, `    StrictHostKeyChecking yes`);
            lines.push(`    HostKeyAlgorithms ${hostKeyAlgorithms(type)}`);
        } else {
            // The provider ignores the host key when none is given (ssh.InsecureIgnoreHostKey).
            lines.push("    StrictHostKeyChecking no", "    UserKnownHostsFile /dev/null");
        }
        return [...lines, ...extra];
    };
    const environmentLine = Object.entries(environment).map(([name, value]) => {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`environment variable name ${name} is not valid`);
        if (/[\r\n]/.test(value)) {
            // ssh_config lines cannot hold a line break; the provider's env requests can.
            throw new Error(`environment variable ${name} holds a line break, which OpenSSH's SetEnv cannot send`);
        }
        return `"${`${name}=${value}`.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    });
    const target = hop(targetAlias, connection, [
        ...(connection.proxy ? [`    ProxyJump ${proxyAlias}`] : []),
        ...(environmentLine.length > 0 ? [`    SetEnv ${environmentLine.join(" ")}`] : []),
        // "Authenticated to" in the -E log tells a dial failure from the command's own exit status 255.
        "    LogLevel VERBOSE",
    ]);
    // The jump's own messages go to stderr (it has no -E): errors only.
    const proxy = connection.proxy ? hop(proxyAlias, connection.proxy, ["    LogLevel ERROR"]) : [];
    const common = [
        "Host *",
        `    UserKnownHostsFile ${knownHosts}`,
        "    GlobalKnownHostsFile /dev/null",
        "    CheckHostIP no",
        "    UpdateHostKeys no",
        "    IdentitiesOnly yes",
        "    IdentityAgent none",
        "    BatchMode yes",
        "    PasswordAuthentication no",
        "    KbdInteractiveAuthentication no",
        "    ForwardAgent no",
        "    ForwardX11 no",
        "    ClearAllForwardings yes",
        "    RequestTTY no",
        "    ControlMaster no",
        "    ControlPath none",
        "    ServerAliveInterval 30",
    ];
    fs.writeFileSync(knownHosts, known.map((line) => `${line}\n`).join(""), { mode: 0o600 });
    const config = path.join(dir, "ssh_config");
    fs.writeFileSync(config, [...target, ...proxy, ...common, ""].join("\n"), { mode: 0o600 });
    return config;
}

/** The host key algorithms a pinned key allows (x/crypto/ssh offers the key's own type only). */
function hostKeyAlgorithms(type: string): string {
    return type === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : type;
}

/** Runs argv with stdin, keeping stdout and stderr (and copying both to log when given). */
export function spawnCollect(
    argv: string[],
    stdin: string,
    log?: fs.WriteStream,
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ status?: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: "pipe", env: options.env, cwd: options.cwd });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (data: Buffer) => {
            stdout += data;
            log?.write(data);
        });
        child.stderr.on("data", (data: Buffer) => {
            stderr += data;
            log?.write(data);
        });
        // A command that does not read its stdin closes it early: that is not an error of the step.
        child.stdin.on("error", () => {});
        child.stdin.end(stdin);
        child.on("error", reject);
        child.on("close", (code, signal) => {
            if (signal) stderr += `\nkilled by ${signal}`;
            resolve({ status: code ?? 128, stdout, stderr });
        });
    });
}
