// The command stand-in (command-stand-in.ts) under the real engine, against two real sshd: a bastion and a host
// behind it, each with its own host key, the host accepting KUBEHA_* environment only. It must behave as
// pulumi-command 1.2.1 does (checked once against the real provider, issue 25): through the proxy, both host keys
// pinned; environment as SSH env requests, one the host refuses failing the step; stdin; an environment change an
// update that re-runs create; a trigger change a replacement, the old delete run with the old environment after the
// new create; destroy running delete. One printed line per check.
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { toolchainBin } from "./plugins";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-command-stand-in-"));
const journal = path.join(scratch, "journal");

function proved(line: string): void {
    process.stdout.write(`proved: ${line}\n`);
}

function keygen(file: string): { privateKey: string; publicKey: string } {
    assert.equal(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]).status, 0);
    const publicKey = fs.readFileSync(`${file}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey };
}

function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const probe = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as net.AddressInfo;
            probe.close(() => resolve(port));
        });
    });
}

/** One sshd on 127.0.0.1: root logs in with the client key only; acceptEnv as the hosts' sshd drop-in sets it. */
async function startSshd(
    name: string,
    acceptEnv?: string,
): Promise<{ port: number; hostKey: string; process: ChildProcess }> {
    const hostKeyFile = path.join(scratch, `${name}-host-key`);
    const { publicKey } = keygen(hostKeyFile);
    const port = await freePort();
    fs.mkdirSync("/run/sshd", { recursive: true });
    const options = ["ListenAddress=127.0.0.1", "PidFile=none", "StrictModes=no", "PermitRootLogin=prohibit-password"];
    options.push(`AuthorizedKeysFile=${path.join(scratch, "authorized_keys")}`, "PasswordAuthentication=no");
    if (acceptEnv) options.push(`AcceptEnv=${acceptEnv}`);
    const args = ["-D", "-e", "-f", "/dev/null", "-h", hostKeyFile, "-p", String(port)];
    const child = spawn("/usr/sbin/sshd", [...args, ...options.flatMap((option) => ["-o", option])], {
        stdio: ["ignore", "ignore", fs.openSync(path.join(scratch, `${name}-sshd.log`), "a")],
    });
    for (let tries = 0; tries < 50; tries++) {
        const open = await new Promise<boolean>((resolve) => {
            const socket = net.connect(port, "127.0.0.1", () => resolve(true)).on("error", () => resolve(false));
            socket.on("connect", () => socket.destroy());
        });
        if (open) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { port, hostKey: publicKey, process: child };
}

/** What the program under test declares: one remote command; the checks change these between runs. */
interface Declared {
    environment: Record<string, string>;
    trigger: string;
    hostKey?: string;
}

describe(
    "the command stand-in under the real engine, through a bastion to a host (real sshd)",
    { timeout: 10 * 60_000 },
    () => {
        let stack: Stack;
        let bastion: Awaited<ReturnType<typeof startSshd>>;
        let host: Awaited<ReturnType<typeof startSshd>>;
        let clientKey: string;
        const declared: Declared = { environment: { KUBEHA_VALUE: "one" }, trigger: "a" };

        before(async () => {
            const client = keygen(path.join(scratch, "client-key"));
            clientKey = client.privateKey;
            fs.writeFileSync(path.join(scratch, "authorized_keys"), `${client.publicKey}\n`);
            bastion = await startSshd("bastion");
            host = await startSshd("host", "KUBEHA_*");
            const binDir = toolchainBin();
            const pluginDir = path.join(scratch, "plugins");
            fs.mkdirSync(pluginDir);
            fs.symlinkSync(
                path.join(__dirname, "pulumi-resource-stand-in"),
                path.join(pluginDir, "pulumi-resource-command"),
            );
            const pulumiCommand = await PulumiCommand.get({ root: path.dirname(binDir), skipVersionCheck: false });
            fs.mkdirSync(path.join(scratch, "backend"));
            const workspace = await LocalWorkspace.create({
                workDir: scratch,
                pulumiCommand,
                pulumiHome: path.join(scratch, "pulumi-home"),
                projectSettings: { name: "command-stand-in", runtime: "nodejs" },
                program: async () => {
                    const connection = {
                        host: "127.0.0.1",
                        port: host.port,
                        user: "root",
                        privateKey: pulumi.secret(clientKey),
                        hostKey: declared.hostKey ?? host.hostKey,
                        dialErrorLimit: 2,
                        proxy: {
                            host: "127.0.0.1",
                            port: bastion.port,
                            user: "root",
                            privateKey: pulumi.secret(clientKey),
                            hostKey: bastion.hostKey,
                            dialErrorLimit: 2,
                        },
                    };
                    const step = new command.remote.Command("step", {
                        connection,
                        create: `echo "created $KUBEHA_VALUE" >>${journal}; cat`,
                        delete: `echo "deleted $KUBEHA_VALUE" >>${journal}`,
                        environment: declared.environment,
                        stdin: "from stdin",
                        triggers: [declared.trigger],
                        addPreviousOutputInEnv: false,
                    });
                    return { stdout: step.stdout };
                },
                envVars: {
                    PULUMI_BACKEND_URL: `file://${path.join(scratch, "backend")}`,
                    PULUMI_CONFIG_PASSPHRASE: "kubeha-command-stand-in",
                    PULUMI_SKIP_UPDATE_CHECK: "true",
                    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                    PATH: `${pluginDir}:${binDir}:${process.env.PATH}`,
                },
            });
            stack = await Stack.create("test", workspace);
        });

        after(() => {
            bastion?.process.kill();
            host?.process.kill();
            fs.rmSync(scratch, { recursive: true, force: true });
        });

        const journalLines = () => (fs.existsSync(journal) ? fs.readFileSync(journal, "utf8").trim().split("\n") : []);

        test("create: through the bastion, both keys pinned, environment and stdin arrive", async () => {
            const result = await stack.up();
            assert.equal(result.outputs.stdout.value, "from stdin");
            assert.deepEqual(journalLines(), ["created one"]);
            proved(
                "create ran on the host through the bastion with the pinned host keys; env KUBEHA_VALUE and stdin arrived",
            );
        });

        test("an environment change is an update that runs create again, with the new environment", async () => {
            declared.environment = { KUBEHA_VALUE: "two" };
            const result = await stack.up();
            assert.equal(result.summary.resourceChanges?.update, 1);
            assert.deepEqual(journalLines(), ["created one", "created two"]);
            proved("environment one -> two: an update, and create ran again with two");
        });

        test("a trigger change replaces: the new create first, then the old delete with the old environment", async () => {
            declared.trigger = "b";
            declared.environment = { KUBEHA_VALUE: "three" };
            const result = await stack.up();
            assert.equal(result.summary.resourceChanges?.replace, 1);
            assert.deepEqual(journalLines().slice(2), ["created three", "deleted two"]);
            proved("trigger a -> b: replaced, create (three) before the old delete (two, its own environment)");
        });

        test("a variable the host's sshd does not accept fails the step instead of being dropped", async () => {
            declared.environment = { KUBEHA_VALUE: "three", OTHER_VALUE: "x" };
            await assert.rejects(stack.up(), /did not accept the environment variable\(s\) OTHER_VALUE/);
            declared.environment = { KUBEHA_VALUE: "three" };
            proved("OTHER_VALUE, outside the host's AcceptEnv KUBEHA_*: the update failed, naming it");
        });

        test("a wrong host key for the host fails as a host key mismatch", async () => {
            declared.hostKey = bastion.hostKey;
            declared.environment = { KUBEHA_VALUE: "four" };
            await assert.rejects(stack.up(), /host key mismatch/);
            declared.hostKey = undefined;
            assert.ok(!journalLines().includes("created four"));
            proved("the bastion's key pinned for the host: the update failed with host key mismatch, nothing ran");
        });

        test("destroy runs delete", async () => {
            declared.environment = { KUBEHA_VALUE: "three" };
            await stack.destroy();
            assert.equal(journalLines().pop(), "deleted three");
            proved("destroy ran the delete command with the command's environment");
        });
    },
);
