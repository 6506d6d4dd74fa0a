// Stand-ins for cloud hosts in system tests: one network namespace per host at its planned private address,
// all on one bridge that lives in a namespace of its own, so nothing touches the machine's own network.
// Each host gets its own /etc/hosts: `ip netns exec <ns>` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts
// for every command it starts.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface NetworkHost {
    readonly name: string;
    readonly ip: string;
    /** The host's /etc/hosts. */
    readonly hostsFile: string;
}

export interface CommandResult {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

const withBinds = path.join(__dirname, "with-binds.sh");
/** Per-namespace files `ip netns exec` bind-mounts over /etc. */
const netnsEtc = "/etc/netns";

/** Why system tests cannot run here, or undefined when they can. */
export function systemTestSkipReason(): string | undefined {
    return process.getuid?.() === 0 ? undefined : "needs root (network namespaces, bind mounts)";
}

/** Runs a command to completion, killing it after timeoutMs. Never throws for a non-zero exit. */
export function run(
    argv: readonly string[],
    options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { env: options.env ?? process.env, stdio: "pipe" });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (data) => (stdout += data));
        child.stderr.on("data", (data) => (stderr += data));
        const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
        child.on("error", (error) => {
            clearTimeout(timer);
            reject(error);
        });
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
    });
}

/** Like run, but throws with the command's output when it fails. */
export async function runOrThrow(argv: readonly string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const result = await run(argv, options);
    if (result.status !== 0) {
        throw new Error(`${argv.join(" ")} exited with ${result.status}:\n${result.stdout}${result.stderr}`);
    }
    return result.stdout;
}

/** Polls until attempt returns a value (not undefined), or fails after timeoutMs with the last reason. */
export async function waitFor<T>(
    what: string,
    timeoutMs: number,
    attempt: () => Promise<T | undefined>,
    intervalMs = 250,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
        try {
            const value = await attempt();
            if (value !== undefined) return value;
        } catch (error) {
            lastError = error;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
}

/** A directory bind-mounted over a path for one command (the path is created empty if missing). */
export interface Bind {
    readonly source: string;
    readonly target: string;
}

export class TestNetwork {
    private readonly namespaces = new Map<string, string>();
    /** Directories this network created outside its namespaces, removed again if empty. */
    private readonly createdDirs: string[] = [];
    private readonly bridgeNamespace: string;
    private readonly prefix: string;

    /**
     * tag and the process id keep this test file's namespaces apart from other files' running at the same time,
     * and from the same file run by another checkout on the same machine.
     */
    constructor(tag: string) {
        this.prefix = `${tag}-${process.pid}`;
        this.bridgeNamespace = `${this.prefix}-bridge`;
    }

    /** Creates the bridge and a namespace per host with its address (prefixLength: every host on one link). */
    async create(hosts: readonly NetworkHost[], prefixLength: number): Promise<void> {
        if (!fs.existsSync(netnsEtc)) this.createdDirs.push(netnsEtc);
        await runOrThrow(["ip", "netns", "add", this.bridgeNamespace]);
        await this.ip(this.bridgeNamespace, "link", "add", "br0", "type", "bridge");
        await this.ip(this.bridgeNamespace, "link", "set", "br0", "up");
        for (const [index, host] of hosts.entries()) {
            const namespace = `${this.prefix}-${host.name}`;
            const port = `port${index}`;
            await runOrThrow(["ip", "netns", "add", namespace]);
            this.namespaces.set(host.name, namespace);
            const etcDir = path.join(netnsEtc, namespace);
            fs.mkdirSync(etcDir, { recursive: true });
            fs.writeFileSync(path.join(etcDir, "hosts"), host.hostsFile);
            await runOrThrow(
                ["ip", "link", "add", "eth0", "netns", namespace, "type", "veth", "peer", port].concat([
                    "netns",
                    this.bridgeNamespace,
                ]),
            );
            await this.ip(this.bridgeNamespace, "link", "set", port, "master", "br0", "up");
            await this.ip(namespace, "link", "set", "lo", "up");
            await this.ip(namespace, "addr", "add", `${host.ip}/${prefixLength}`, "dev", "eth0");
            await this.ip(namespace, "link", "set", "eth0", "up");
        }
    }

    /** argv that runs a command inside host's namespace, with binds visible to that command only. */
    command(host: string, argv: readonly string[], binds: readonly Bind[] = []): string[] {
        const namespace = this.namespaces.get(host);
        if (!namespace) throw new Error(`no namespace for ${host}`);
        if (binds.length === 0) return ["ip", "netns", "exec", namespace, ...argv];
        for (const bind of binds) this.ensureMountPoint(bind.target);
        const pairs = binds.flatMap((bind) => [bind.source, bind.target]);
        return ["ip", "netns", "exec", namespace, "bash", withBinds, ...pairs, "--", ...argv];
    }

    /** argv that runs a command in the bridge's namespace, where the hosts' packets cross (a router's place). */
    bridgeCommand(argv: readonly string[]): string[] {
        return ["ip", "netns", "exec", this.bridgeNamespace, ...argv];
    }

    /** Cuts a host off the bridge (packets to it vanish, as with a powered-off machine) or reconnects it. */
    async setReachable(host: string, reachable: boolean): Promise<void> {
        const index = [...this.namespaces.keys()].indexOf(host);
        await this.ip(this.bridgeNamespace, "link", "set", `port${index}`, reachable ? "up" : "down");
    }

    /** Removes every namespace, hosts file and directory this network created. Safe to call twice. */
    async destroy(): Promise<void> {
        for (const namespace of [...this.namespaces.values(), this.bridgeNamespace]) {
            await run(["ip", "netns", "delete", namespace]);
            fs.rmSync(path.join(netnsEtc, namespace), { recursive: true, force: true });
        }
        this.namespaces.clear();
        for (const dir of this.createdDirs.splice(0).reverse()) {
            try {
                fs.rmdirSync(dir);
            } catch {
                // Not empty, or already gone: leave it.
            }
        }
    }

    private ensureMountPoint(target: string): void {
        if (fs.existsSync(target)) return;
        const missing: string[] = [];
        for (let dir = target; !fs.existsSync(dir); dir = path.dirname(dir)) missing.unshift(dir);
        fs.mkdirSync(target, { recursive: true });
        this.createdDirs.push(...missing);
    }

    private async ip(namespace: string, ...args: string[]): Promise<void> {
        await runOrThrow(["ip", "-n", namespace, ...args]);
    }
}

/** Long-running processes of a test, each stopped by its own pid, all of them in the after hook. */
export class Processes {
    private readonly running = new Map<string, RunningProcess>();

    /**
     * Starts argv; its stdout and stderr go to logFile (shown when a test fails). With restart, it is started
     * again a second after it exits on its own, as the kubelet restarts a static pod's container.
     */
    start(label: string, argv: readonly string[], logFile: string, options: { restart?: boolean } = {}): ChildProcess {
        if (this.running.has(label)) throw new Error(`${label} is already running`);
        const entry = { restarts: 0 } as RunningProcess;
        const launch = () => {
            const log = fs.openSync(logFile, "a");
            const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log] });
            fs.closeSync(log);
            entry.child = child;
            entry.exited = new Promise<void>((resolve) =>
                child.on("exit", () => {
                    resolve();
                    if (!options.restart || this.running.get(label) !== entry) return;
                    entry.restartTimer = setTimeout(() => {
                        entry.restarts++;
                        launch();
                    }, 1000);
                }),
            );
        };
        launch();
        this.running.set(label, entry);
        return entry.child;
    }

    isRunning(label: string): boolean {
        const entry = this.running.get(label);
        return entry !== undefined && entry.child.exitCode === null && entry.child.signalCode === null;
    }

    /** How often a process started with restart was started again since it was last started by the test. */
    restarts(label: string): number {
        return this.running.get(label)?.restarts ?? 0;
    }

    /** SIGTERM, then SIGKILL if it has not exited after timeoutMs. */
    async stop(label: string, timeoutMs = 10_000): Promise<void> {
        const entry = this.running.get(label);
        if (!entry) return;
        this.running.delete(label);
        clearTimeout(entry.restartTimer);
        if (entry.child.exitCode !== null || entry.child.signalCode !== null) return;
        entry.child.kill("SIGTERM");
        const timedOut = await Promise.race([
            entry.exited.then(() => false),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
        ]);
        if (timedOut) {
            entry.child.kill("SIGKILL");
            await entry.exited;
        }
    }

    async stopAll(): Promise<void> {
        await Promise.all([...this.running.keys()].map((label) => this.stop(label)));
    }
}

interface RunningProcess {
    child: ChildProcess;
    exited: Promise<void>;
    restarts: number;
    restartTimer?: NodeJS.Timeout;
}
