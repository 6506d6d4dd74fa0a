// Runs kubeha's step scripts as they run on a host, each "host" in its own throwaway root: a mount
// namespace with overlays on /etc and /var whose upper layers live in the test's temporary directory
// (and persist between runs, like a host's disk). Stand-ins for kubeadm, kubectl, systemctl, crictl, etcdctl and
// the apt tools (test/support/step-stubs) come first on PATH and record every call they get.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { projectDir } from "./plan";

export const scriptsDir = path.join(projectDir, "scripts");
const stubsDir = path.join(projectDir, "test", "support", "step-stubs");
const overlaid = ["etc", "var"] as const;

export interface StepRun {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
    readonly seconds: number;
}

/** A call one of the stand-ins recorded: which host, and the command line. */
export interface RecordedCall {
    readonly host: string;
    readonly command: string;
}

/** Calls that change a host or the cluster (as opposed to questions). */
export const stateChanging =
    /^(kubeadm (init|join|reset|token create|upgrade)|kubectl .* (cordon|uncordon|drain|delete|approve|annotate) |systemctl (start|stop|restart|enable|daemon-reload|reset-failed)|systemd-run |crictl stop|etcdctl .*\bmember (add|remove)\b|apt-get .*\binstall\b|apt-mark (hold|unhold))/;

export class StepSandbox {
    readonly dir: string;
    /** Cluster-wide state of the stand-ins, and their call log. */
    readonly state: string;

    constructor(prefix: string) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `kubeha-${prefix}-`));
        this.state = path.join(this.dir, "state");
        fs.mkdirSync(this.state);
        fs.writeFileSync(this.callLog, "");
    }

    private get callLog(): string {
        return path.join(this.state, "calls.log");
    }

    /** Runs scripts/<script> on a host with these KUBEHA_* variables (and this stdin and these arguments, if any). */
    run(
        host: string,
        script: string,
        variables: Record<string, string>,
        timeoutMs = 120_000,
        stdin?: string,
        args: readonly string[] = [],
    ): Promise<StepRun> {
        const root = this.hostRoot(host);
        const mounts = overlaid
            .map((dir) => {
                const layer = path.join(root, dir);
                return `mount -t overlay overlay -o lowerdir=/${dir},upperdir=${layer}/upper,workdir=${layer}/work /${dir}`;
            })
            .join(" && ");
        const env = {
            PATH: `${stubsDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
            HOME: "/root",
            LANG: "C.UTF-8",
            STUB_HOST: host,
            STUB_STATE: this.state,
            STUB_MOUNT_NS: `/proc/${process.pid}/ns/mnt`,
            ...variables,
        };
        const started = Date.now();
        return new Promise((resolve, reject) => {
            const child = spawn(
                "unshare",
                [
                    "--mount",
                    "--propagation",
                    "private",
                    "bash",
                    "-c",
                    `set -e; ${mounts}; exec "$@"`,
                    "sandbox",
                    path.join(scriptsDir, script),
                    ...args,
                ],
                { env, stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"], timeout: timeoutMs },
            );
            child.stdin?.end(stdin);
            let stdout = "";
            let stderr = "";
            child.stdout!.on("data", (chunk) => (stdout += chunk));
            child.stderr!.on("data", (chunk) => (stderr += chunk));
            child.on("error", reject);
            child.on("close", (status) => resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
        });
    }

    /** Runs a script twice on a host: both succeed, and the second changes nothing. */
    async runTwice(
        host: string,
        script: string,
        variables: Record<string, string>,
    ): Promise<{ first: StepRun; firstCalls: RecordedCall[]; second: StepRun }> {
        this.takeCalls();
        const first = await this.run(host, script, variables);
        assert.equal(first.status, 0, first.stderr);
        const firstCalls = this.takeCalls();
        const second = await this.run(host, script, variables);
        assert.equal(second.status, 0, second.stderr);
        assert.deepEqual(changes(this.takeCalls()), [], "the second run changes nothing");
        return { first, firstCalls, second };
    }

    /** Where a file the scripts wrote on a host lies (its overlay's upper layer), e.g. /var/log/kubeha/x.log. */
    hostPath(host: string, absolute: string): string {
        const [, top, ...rest] = absolute.split("/");
        if (!(overlaid as readonly string[]).includes(top)) throw new Error(`${absolute} is not in a throwaway layer`);
        return path.join(this.hostRoot(host), top, "upper", ...rest);
    }

    /** Writes a file on a host (into its upper layer), as an earlier step would have. */
    writeHostFile(host: string, absolute: string, content: string, mode = 0o644): void {
        const file = this.hostPath(host, absolute);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content, { mode });
        fs.chmodSync(file, mode);
    }

    /** The host's disk is gone (its instance was replaced): an empty root next time. */
    resetHost(host: string): void {
        fs.rmSync(path.join(this.dir, "hosts", host), { recursive: true, force: true });
    }

    /** Every call recorded since the last takeCalls(), then forgets them. */
    takeCalls(): RecordedCall[] {
        const lines = fs.readFileSync(this.callLog, "utf8").split("\n").filter(Boolean);
        fs.writeFileSync(this.callLog, "");
        return lines.map((line) => {
            const [host, command] = line.split("\t");
            return { host, command };
        });
    }

    remove(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    private hostRoot(host: string): string {
        const root = path.join(this.dir, "hosts", host);
        for (const dir of overlaid) {
            for (const layer of ["upper", "work"]) fs.mkdirSync(path.join(root, dir, layer), { recursive: true });
        }
        return root;
    }
}

/** The recorded calls that change something, as "host: command" lines (for readable assertion messages). */
export function changes(calls: readonly RecordedCall[]): string[] {
    return calls.filter((call) => stateChanging.test(call.command)).map((call) => `${call.host}: ${call.command}`);
}
