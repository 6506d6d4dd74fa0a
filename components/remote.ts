// How the bootstrap reaches hosts and runs the step catalogue (render/steps.ts) there: SSH through
// the bastion with the generated key, parameters as environment, scripts as real files.
import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { bastionName, PlannedHost } from "../config/layout";
import { installedScript, Step, StepId, steps, StepValues, stepEnvironment } from "../render/steps";
import { ClusterHost, SshAccess } from "./hosts";

const scriptsDir = path.resolve(__dirname, "../scripts");

const scriptTexts = new Map<string, string>();

/**
 * The text of a script under scripts/, for steps that send it on stdin (`bash -s`). Read once: every host gets the
 * same text, and one copy serves them all (a copy per host and script held 10 MB at the peak of a 100-worker plan).
 */
export function scriptText(file: string): string {
    let text = scriptTexts.get(file);
    if (text === undefined) scriptTexts.set(file, (text = fs.readFileSync(path.join(scriptsDir, file), "utf8")));
    return text;
}

// A host's own steps start once the wait step (run on the bastion, polling with back-off) saw its sshd
// answer: these limits only cover a busy moment after that.
const dialLimits = { dialErrorLimit: 10, perDialTimeout: 20 };

/**
 * SSH to a host's private address, through the bastion. Both hops verify the host key the program gave the host:
 * the bastion cannot stand in for the host (the inner session is end to end), nor anyone for the bastion.
 */
export function hostConnection(host: Pick<PlannedHost, "name" | "privateIp">, ssh: SshAccess) {
    const own = ssh.perHost?.[host.name];
    return {
        host: host.privateIp,
        user: own?.user ?? ssh.hostUser,
        ...(own && own.port !== 22 ? { port: own.port } : {}),
        privateKey: ssh.privateKey,
        hostKey: hostKeyOf(ssh, host.name),
        ...dialLimits,
        // Without a jump host (cloud machines only), the host directly.
        ...(ssh.bastionAddress
            ? {
                  proxy: {
                      host: ssh.bastionAddress,
                      user: ssh.bastionUser,
                      ...(ssh.bastionPort !== undefined && ssh.bastionPort !== 22 ? { port: ssh.bastionPort } : {}),
                      privateKey: ssh.privateKey,
                      hostKey: hostKeyOf(ssh, bastionName),
                      ...dialLimits,
                  },
              }
            : {}),
    };
}

type SharedConnection = pulumi.Output<pulumi.Unwrap<ReturnType<typeof hostConnection>>>;

const connections = new WeakMap<SshAccess, Map<string, SharedConnection>>();

/**
 * hostConnection as one Output per host (and access), which every step on that host shares. The command provider
 * wraps a connection in pulumi.output(), which makes two more Outputs for each Output inside it (the key, the host
 * keys, the bastion's address): built per step, connections made about a quarter of a plan's Outputs (10,400 of
 * 38,900 for 3 + 50 workers), each pending with its promises until the registrations complete. The steps' inputs are
 * the same.
 */
function sharedConnection(host: Pick<PlannedHost, "name" | "privateIp">, ssh: SshAccess): SharedConnection {
    let byHost = connections.get(ssh);
    if (!byHost) connections.set(ssh, (byHost = new Map()));
    let connection = byHost.get(host.name);
    if (!connection) byHost.set(host.name, (connection = pulumi.output(hostConnection(host, ssh))));
    return connection;
}

function hostKeyOf(ssh: SshAccess, name: string): pulumi.Output<string> {
    const key = ssh.hostKeys[name];
    if (!key) throw new Error(`no SSH host key for ${name}`);
    return key;
}

/**
 * SSH to the bastion itself, from the wait steps that run first: the bastion may still be booting, so
 * the dial budget is larger (the provider backs off between dials; 20 dials take several minutes).
 */
export function bastionConnection(ssh: SshAccess) {
    if (!ssh.bastionAddress) throw new Error("no bastion on this route");
    return {
        host: ssh.bastionAddress,
        user: ssh.bastionUser,
        privateKey: ssh.privateKey,
        hostKey: hostKeyOf(ssh, bastionName),
        dialErrorLimit: 20,
        perDialTimeout: 20,
    };
}

export interface StepOptions {
    readonly ssh: SshAccess;
    /** Host the command runs on, when not the host it is named after (node steps run on the first master). */
    readonly runOn?: ClusterHost;
    readonly stdin?: pulumi.Input<string>;
    /** Re-run the step (replace it) when any of these change: hashes of the files it acts on. */
    readonly triggers?: pulumi.Input<unknown>[];
    readonly dependsOn: pulumi.Input<pulumi.Resource>[];
    /** Inputs a later change of which must not re-run the step. */
    readonly ignoreChanges?: string[];
    /** Resource whose deletion makes this step's delete moot (its host, or the host it runs on). */
    readonly deletedWith: pulumi.Resource;
    readonly parent: pulumi.Resource;
}

/**
 * One step of the catalogue as a remote command named `<host>-<step>`: the installed script runs as
 * root (sudo keeps exactly the step's KUBEHA_* variables), or, for standalone steps, the script goes
 * on stdin to `bash -s`. A step of the catalogue's delete phase runs when the command is deleted, one of its
 * update phase when an input changes (its creation runs nothing).
 * Secret steps log only errors and keep their output secret.
 */
export function runStep<Id extends StepId>(
    host: ClusterHost,
    id: Id,
    values: StepValues<Id, pulumi.Input<string>>,
    options: StepOptions,
): command.remote.Command {
    const step: Step = steps[id];
    const environment = stepEnvironment(id, values);
    const variables = Object.keys(environment);
    const run = `sudo${variables.length > 0 ? ` --preserve-env=${variables.join(",")}` : ""} ${
        step.standalone ? "bash -s" : installedScript(id)
    }`;
    const stdin = step.standalone
        ? pulumi.output(options.stdin ?? "").apply((rest) => scriptText(step.script) + rest)
        : options.stdin;
    // A replaced host (new instance, same name and address) gets every step again; so does the first
    // master's step on its behalf. A removal step is keyed to the node's name only: replacing its
    // command would drain the new node of the same name.
    const triggers = step.phase === "delete" ? options.triggers : [host.instance.id, ...(options.triggers ?? [])];
    return new command.remote.Command(
        `${host.name}-${step.name}`,
        {
            connection: sharedConnection(options.runOn ?? host, options.ssh),
            ...(step.phase === "delete"
                ? { delete: run }
                : step.phase === "update"
                  ? { update: run }
                  : { create: run }),
            environment,
            stdin,
            triggers,
            logging: step.secret ? "stderr" : "stdoutAndStderr",
            // The previous output would travel as environment sshd refuses, and may hold secrets.
            addPreviousOutputInEnv: false,
        },
        {
            parent: options.parent,
            dependsOn: options.dependsOn,
            deletedWith: options.deletedWith,
            ignoreChanges: options.ignoreChanges,
            ...(step.secret ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
        },
    );
}
