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
}

export class PreparedHosts extends pulumi.ComponentResource {
    /** Per host name: the steps after which its files and keys are in place. */
    readonly installed: Readonly<Record<string, pulumi.Resource[]>>;

    constructor(name: string, args: PreparedHostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:PreparedHosts", name, {}, opts);
        const installed: Record<string, pulumi.Resource[]> = {};
        for (const host of args.hosts) {
            const common = { ssh: args.ssh, parent: this, deletedWith: host.instance };
            // Polled from the bastion, with back-off. The address goes in the command line, not the
            // environment: the bastion's sshd accepts no KUBEHA_* variables (it gets no boot preparation).
            const reachable = new command.remote.Command(
                `${host.name}-${steps.ssh.name}`,
                {
                    connection: bastionConnection(args.ssh),
                    create: `KUBEHA_HOST=${host.privateIp} bash -s`,
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
