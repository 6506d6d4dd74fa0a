// Every cluster host made ready for the bootstrap, all at once: sshd answers (polled from the bastion),
// the boot preparation finished, and the host's files and keys are installed.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { steps } from "../render/steps";
import { bundles, LazyFile } from "./host-files";
import { ClusterHost, SshAccess } from "./hosts";
import { bastionConnection, runStep, scriptText } from "./remote";

export interface PreparedHostsArgs {
    readonly hosts: readonly ClusterHost[];
    readonly ssh: SshAccess;
    /** The NAT routes: the boot preparation downloads packages and images through them. */
    readonly egress: pulumi.Resource[];
    /** Every file of every host, by host name (components/host-files.ts). */
    readonly files: Readonly<Record<string, readonly LazyFile[]>>;
    /** Each host's instance is its preparation over SSH (ClusterInfra.preparedOverSsh): nothing to wait for. */
    readonly preparedOverSsh?: boolean;
}

export class PreparedHosts extends pulumi.ComponentResource {
    /** Per host name: the steps after which its files and keys are in place. */
    readonly installed: Readonly<Record<string, pulumi.Resource[]>>;

    constructor(name: string, args: PreparedHostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:PreparedHosts", name, {}, opts);
        const installed: Record<string, pulumi.Resource[]> = {};
        for (const host of args.hosts) {
            const common = { ssh: args.ssh, parent: this, deletedWith: host.instance };
            if (args.preparedOverSsh) {
                const { plain, secret } = bundles(args.files[host.name] ?? []);
                const after = [host.instance, ...args.egress];
                installed[host.name] = [
                    runStep(host, "files", {}, { ...common, stdin: plain, dependsOn: after }),
                    runStep(host, "keys", {}, { ...common, stdin: secret, dependsOn: after }),
                ];
                continue;
            }
            // Polled from the bastion, with back-off. The address and the pinned host key go in the command
            // line, not the environment: the bastion's sshd accepts no KUBEHA_* variables (it gets no boot
            // preparation). Both are checked plain values (an address, a key's type and base64).
            const hostKey = args.ssh.hostKeys[host.name].apply(pinnedHostKey);
            const reachable = new command.remote.Command(
                `${host.name}-${steps.ssh.name}`,
                {
                    connection: bastionConnection(args.ssh),
                    create: pulumi.interpolate`KUBEHA_HOST=${host.privateIp} KUBEHA_HOST_KEY='${hostKey}' bash -s`,
                    stdin: scriptText(steps.ssh.script),
                    triggers: [host.instance.id],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [host.instance], deletedWith: host.instance },
            );
            const ready = runStep(host, "ready", {}, { ...common, dependsOn: [reachable, ...args.egress] });
            const { plain, secret } = bundles(args.files[host.name] ?? []);
            installed[host.name] = [
                runStep(host, "files", {}, { ...common, stdin: plain, dependsOn: [ready] }),
                runStep(host, "keys", {}, { ...common, stdin: secret, dependsOn: [ready] }),
            ];
        }
        this.installed = installed;
        this.registerOutputs({});
    }
}

/** `<type> <base64>` of an OpenSSH public key line, refused if it is anything else (it goes into a command line). */
export function pinnedHostKey(publicKey: string): string {
    const [type, blob] = publicKey.trim().split(/\s+/);
    if (!/^[a-z0-9-]+$/.test(type ?? "") || !/^[A-Za-z0-9+/]+=*$/.test(blob ?? ""))
        throw new Error(`not an OpenSSH public key: ${JSON.stringify(publicKey.slice(0, 40))}`);
    return `${type} ${blob}`;
}
