// Every cluster host made ready for the bootstrap, all at once: sshd answers (polled from the bastion),
// the host's files and keys are installed, and the boot preparation finished (or, for a host that waits for it
// itself, has outbound access). The files and keys go in as soon as
// sshd answers, while the boot still runs (they are kubeha's own paths, which no package or boot stage writes), so
// that a step needing only an early boot stage (etcd's start) can run before the packages are in.
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
    /**
     * Hosts whose next step waits for their boot on the host itself (workers: their join is a queued unit). They get
     * no ready step, which would hold a Pulumi slot for the whole boot, one per host: a large cluster would wait for
     * slots. Their `installed` is then their files and keys with outbound access, like `installedDuringBoot`.
     */
    readonly bootAwaitedOnHost?: (host: ClusterHost) => boolean;
}

export class PreparedHosts extends pulumi.ComponentResource {
    /** Per host name: the steps after which its files and keys are in place and its boot preparation finished. */
    readonly installed: Readonly<Record<string, pulumi.Resource[]>>;
    /**
     * Per host name: the steps after which its files and keys are in place and it has outbound access, while its boot
     * preparation may still run: only for a step that needs no boot stage (installing more files) or waits for the one
     * it needs itself (scripts/lib.sh wait_for_boot_stage).
     */
    readonly installedDuringBoot: Readonly<Record<string, pulumi.Resource[]>>;

    constructor(name: string, args: PreparedHostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:PreparedHosts", name, {}, opts);
        const installed: Record<string, pulumi.Resource[]> = {};
        const installedDuringBoot: Record<string, pulumi.Resource[]> = {};
        for (const host of args.hosts) {
            const common = { ssh: args.ssh, parent: this, deletedWith: host.instance };
            if (args.preparedOverSsh) {
                const { plain, secret } = bundles(args.files[host.name] ?? []);
                const after = [host.instance, ...args.egress];
                installed[host.name] = [
                    runStep(host, "files", {}, { ...common, stdin: plain, dependsOn: after }),
                    runStep(host, "keys", {}, { ...common, stdin: secret, dependsOn: after }),
                ];
                installedDuringBoot[host.name] = installed[host.name];
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
            const { plain, secret } = bundles(args.files[host.name] ?? []);
            const filesAndKeys = [
                runStep(host, "files", {}, { ...common, stdin: plain, dependsOn: [reachable] }),
                runStep(host, "keys", {}, { ...common, stdin: secret, dependsOn: [reachable] }),
            ];
            installedDuringBoot[host.name] = [...filesAndKeys, ...args.egress];
            installed[host.name] = args.bootAwaitedOnHost?.(host)
                ? installedDuringBoot[host.name]
                : [...filesAndKeys, runStep(host, "ready", {}, { ...common, dependsOn: [reachable, ...args.egress] })];
        }
        this.installed = installed;
        this.installedDuringBoot = installedDuringBoot;
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
