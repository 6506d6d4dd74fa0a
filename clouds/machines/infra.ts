// The hosts of cloud machines as the rest of the program sees them (components/hosts.ts): no cloud resource, each
// machine's `instance` its preparation step over SSH, through the bastion when there is one.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { hostFqdn } from "../../config/layout";
import { ClusterHost, ClusterInfra, SshRoute } from "../../components/hosts";
import { hostConnection, scriptText } from "../../components/remote";
import { encodeBundle } from "../../render/file-bundle";
import { clusterHostBoot, hostBoot } from "../../render/cloud-init";
import { etcdDiskMountPoint } from "../../render/etcd";
import { ProvisionArgs } from "../cloud";
import { configuredSshKeys } from "./keys";
import { machineResetEnvironment, resetScript } from "./reset";

/** The preparation step's resource name suffix: `<machine>-prepare`. */
export const prepareStep = "prepare";

/** What the preparation step sends first (scripts/): the checks that refuse a machine. */
export const prepareScript = "prepare-machine.sh";

export class MachinesInfra extends pulumi.ComponentResource implements ClusterInfra {
    readonly zones: string[];
    readonly hosts: ClusterHost[];
    readonly ssh: SshRoute;
    readonly egress: pulumi.Resource[] = [];
    readonly apiLoadBalancer: ClusterInfra["apiLoadBalancer"];
    readonly preparedOverSsh = true;

    constructor(name: string, args: ProvisionArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:machines:Machines", name, {}, opts);
        const { config, layout } = args;
        this.zones = args.zones;
        const machines = config.machines ?? [];
        this.ssh = {
            ...(config.bastion.address ? { bastionAddress: pulumi.output(config.bastion.address) } : {}),
            bastionUser: config.bastion.user ?? "root",
            ...(config.bastion.port !== undefined ? { bastionPort: config.bastion.port } : {}),
            hostUser: "root",
            perHost: Object.fromEntries(machines.map((item) => [item.name, { user: item.user, port: item.port }])),
            privateKey: pulumi.secret(pulumi.output(args.sshPrivateKey)),
        };
        const access = { ...this.ssh, hostKeys: configuredSshKeys(config).hostKeys };
        this.hosts = layout
            .filter((host) => host.role !== "bastion")
            .map((host) => {
                const { files, environment } = clusterHostBoot(config, layout, host);
                const checks = [
                    `KUBEHA_CLUSTER=${args.clusterName}`,
                    `KUBEHA_TIMEZONE=${config.timezone}`,
                    ...(host.etcdMember ? [`KUBEHA_ETCD_DISK=${etcdDiskMountPoint}`] : []),
                ];
                const boot = Object.entries(environment).map(([key, value]) => `${key}=${value}`);
                // The checks and the files (prepare-machine.sh, then install-files.sh and its bundle, on stdin),
                // then the boot script cloud-init runs on the clouds, with the same parameters. Every value is quoted.
                const create =
                    `sudo env ${checks.map(shellQuote).join(" ")} bash -s && ` +
                    `sudo env ${boot.map(shellQuote).join(" ")} ${hostBoot.script}`;
                // Its delete resets the machine (a machine removed from the list, after its node's removal step;
                // pulumi destroy): the script travels in the command, so it runs whatever is left on the machine.
                const reset = Object.entries(machineResetEnvironment(config, layout, host, args.clusterName)).map(
                    ([key, value]) => `${key}=${value}`,
                );
                const resetCommand =
                    `sudo env ${reset.map(shellQuote).join(" ")} ` +
                    `bash -c ${shellQuote(scriptText(resetScript))} ${resetScript}`;
                const instance = new command.remote.Command(
                    `${host.name}-${prepareStep}`,
                    {
                        connection: hostConnection(host, access),
                        create,
                        delete: resetCommand,
                        stdin: scriptText(prepareScript) + scriptText("install-files.sh") + encodeBundle(files),
                        addPreviousOutputInEnv: false,
                    },
                    { parent: this },
                );
                return { ...host, fqdn: hostFqdn(host.name, config.network.privateDomain), instance };
            });
        const masters = layout.filter((host) => host.role === "master");
        const endpoint = config.apiEndpoint ?? masters[0]?.privateIp ?? "";
        this.apiLoadBalancer = {
            endpoint: pulumi.output(endpoint),
            names: pulumi.output([...new Set([endpoint, ...masters.map((host) => host.privateIp)])]),
        };
        this.registerOutputs({});
    }
}

/** A shell word that stays one word whatever it holds: single quotes, each ' as '\''. */
export function shellQuote(value: string): string {
    return `'${value.replaceAll("'", `'\\''`)}'`;
}
