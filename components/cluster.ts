// The whole cluster: config -> cloud infra -> PKI -> bootstrap -> addons, each its own component.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { checkAgainstDeployment, DeployedStack } from "../config/deployed";
import { clusterLayout, PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { packUserData, userDataFor } from "../render/cloud-init";
import { Cloud, SshKeys } from "../clouds/cloud";
import { ClusterAddons } from "./addons";
import { ControlPlane } from "./control-plane";
import { EtcdBackups } from "./etcd-backups";
import { EtcdCluster } from "./etcd-cluster";
import { filesForHost, kubeadmConfigForHost } from "./host-files";
import { certificateNames, ClusterInfra, SshAccess } from "./hosts";
import { ClusterPki } from "./pki";
import { PreparedHosts } from "./prepared-hosts";
import { ClusterUpgrade } from "./upgrade";
import { Workers } from "./workers";

export interface KubernetesClusterArgs {
    readonly config: ClusterConfig;
    /** The stack's cloud (clouds/index.ts cloudOf): everything that differs between clouds is its business. */
    readonly cloud: Cloud;
    /** Zones to spread hosts over, in order (from config or discovered). */
    readonly zones: string[];
}

export class KubernetesCluster extends pulumi.ComponentResource {
    /** Every host from the address plan, bastion included. */
    readonly layout: PlannedHost[];
    /**
     * The key pair pulumi reaches the hosts with (through the bastion), and every host's SSH host key, which every
     * connection pins: the cloud's business (generated where it creates the hosts, from the config on machines).
     */
    readonly sshKeys: SshKeys;
    /** Every CA, certificate and key, the admin kubeconfig and the bootstrap token. */
    readonly pki: ClusterPki;
    /** Hosts, SSH access through the bastion and the API load balancer, from the cloud (clouds/). */
    readonly infra: ClusterInfra;
    /** kubeadm init, the bootstrap token and the other masters' joins. */
    readonly controlPlane: ControlPlane;
    /** Every worker's join (and removal). */
    readonly workers: Workers;
    /** flannel and the web UI, applied through the admin kubeconfig (components/addons.ts). */
    readonly addons: ClusterAddons;
    /** etcd snapshots to the cloud's bucket (absent with backup.enabled false). */
    readonly backups?: EtcdBackups;

    constructor(name: string, args: KubernetesClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:index:KubernetesCluster", name, {}, opts);
        const { config, cloud, zones } = args;
        this.layout = clusterLayout(config, zones.length);
        this.sshKeys = cloud.sshKeys(config, this.layout, this);
        const keyPairs = this.sshKeys.hostKeyPairs;

        const clusterName = `${pulumi.getProject()}-${pulumi.getStack()}`;
        const { infra, backupStore } = cloud.provision(
            {
                config,
                clusterName,
                zones,
                layout: this.layout,
                sshPublicKey: this.sshKeys.publicKey,
                sshPrivateKey: this.sshKeys.privateKey,
                // Secret: it carries the host's SSH host key. Only hosts whose key the program made get user-data.
                userData: keyPairs
                    ? Object.fromEntries(
                          this.layout.map((host) => [
                              host.name,
                              pulumi.secret(
                                  keyPairs[host.name].apply((key) =>
                                      packUserData(host.name, userDataFor(config, this.layout, host, key)),
                                  ),
                              ),
                          ]),
                      )
                    : {},
                // Bucket names are global: a suffix drawn once keeps this cluster's apart from everyone else's (a
                // bucket the user names, backup.s3, needs none).
                ...(config.backup.enabled && config.backup.s3 === undefined
                    ? {
                          backupBucketSuffix: new random.RandomString(
                              "backup-bucket-suffix",
                              { length: 8, special: false, upper: false },
                              { parent: this },
                          ).result,
                      }
                    : {}),
            },
            this,
        );
        this.infra = infra;
        this.pki = new ClusterPki(
            "pki",
            {
                config,
                layout: this.layout,
                apiLoadBalancer: {
                    endpoint: infra.apiLoadBalancer.endpoint,
                    names: certificateNames(infra.apiLoadBalancer),
                },
                // An instance id changes when its host is replaced: every (re)join gets a fresh bootstrap token.
                joinIdentities: infra.hosts
                    .filter((host) => host.role === "master" || host.role === "worker")
                    .map((host) => host.instance.id),
            },
            { parent: this },
        );
        // The bootstrap: every host prepared at once, etcd, the control plane, then every worker in parallel.
        const encryptionKey = new random.RandomBytes("secrets-encryption-key", { length: 32 }, { parent: this });
        const fileInputs = {
            config,
            layout: this.layout,
            pki: this.pki,
            encryptionKey: encryptionKey.base64,
            apiLoadBalancerNames: certificateNames(infra.apiLoadBalancer),
            backup: backupStore?.target,
            backupCredentials: backupStore?.credentials,
        };
        const files = Object.fromEntries(infra.hosts.map((host) => [host.name, filesForHost(host, fileInputs)]));
        const kubeadmConfigs = Object.fromEntries(
            infra.hosts.flatMap((host) => {
                const file = kubeadmConfigForHost(host, fileInputs);
                return file ? [[host.name, file]] : [];
            }),
        );
        const ssh: SshAccess = { ...infra.ssh, hostKeys: this.sshKeys.hostKeys };
        const bootstrap = { ssh, files };
        // Mirrors inside the VPC take the NAT gateway (1-2 min) off the hosts' boot; the addons' images may still come
        // through it, so they wait for it instead.
        const [bootEgress, addonsEgress] = config.mirrors.insideVpc ? [[], infra.egress] : [infra.egress, []];
        const prepared = new PreparedHosts(
            "hosts",
            {
                hosts: infra.hosts,
                egress: bootEgress,
                preparedOverSsh: infra.preparedOverSsh,
                // A worker's join waits for its boot on the worker (components/workers.ts).
                bootAwaitedOnHost: (host) => host.role === "worker",
                ...bootstrap,
            },
            { parent: this },
        );
        const etcd = new EtcdCluster(
            "etcd",
            {
                config,
                layout: this.layout,
                members: infra.hosts.filter((host) => host.etcdMember),
                prepared,
                ...bootstrap,
            },
            { parent: this },
        );
        if (backupStore) {
            this.backups = new EtcdBackups(
                "etcd-backups",
                {
                    store: backupStore,
                    members: infra.hosts.filter((host) => host.etcdMember),
                    prepared,
                    etcdHealthy: etcd.healthy,
                    ...bootstrap,
                },
                { parent: this },
            );
        }
        const masters = infra.hosts.filter((host) => host.role === "master");
        const workers = infra.hosts.filter((host) => host.role === "worker");
        this.controlPlane = new ControlPlane(
            "control-plane",
            {
                masters,
                prepared,
                files,
                kubeadmConfigs,
                etcdHealthy: etcd.healthy,
                externalApi: { url: this.pki.apiServerUrl, caCertPem: this.pki.caCertPem },
                ssh,
            },
            { parent: this },
        );
        this.workers = new Workers(
            "workers",
            {
                workers,
                prepared,
                kubeadmConfigs,
                controlPlane: this.controlPlane,
                ssh,
            },
            { parent: this },
        );
        new ClusterUpgrade(
            "upgrade",
            {
                config,
                masters,
                workers,
                ssh,
                joined: Object.fromEntries([
                    ...masters.map((master, i) => [master.name, this.controlPlane.complete[i]]),
                    ...workers.map((worker, i) => [worker.name, this.workers.joined[i]]),
                ]),
                etcdUpgraded: etcd.upgraded,
            },
            { parent: this },
        );
        // Applied as soon as the API answers through the load balancer; the UI's rollout then waits for the
        // workers by itself.
        this.addons = new ClusterAddons(
            "addons",
            {
                config,
                kubeconfig: this.pki.adminKubeconfig,
                dependsOn: [this.controlPlane.externallyReady, ...addonsEgress],
                deletedWith: this.controlPlane.firstMaster.instance,
                clusterName,
                zones: infra.zones,
                cloud,
            },
            { parent: this },
        );
        this.registerOutputs({ layout: this.layout });
    }
}

/**
 * The outputs of this stack's last deployment (zones and hosts), read through a reference to the stack itself
 * (the engine reads them from the stack's last checkpoint; a new stack has none). They are plain values when the
 * program starts, before any resource is declared: the zones decide the address plan and resource names.
 */
export async function deployedStack(): Promise<DeployedStack> {
    const self = new pulumi.StackReference("deployed-stack", {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const [zones, hosts] = await Promise.all([self.getOutputDetails("zones"), self.getOutputDetails("hosts")]);
    return { zones: zones.value, hosts: hosts.value };
}

/**
 * Zones for the hosts: a stack that has hosts keeps the zones it was created with (a discovery that answers
 * otherwise as stock changes is ignored); a new stack takes them from the config, or the cloud's first three
 * suitable zones. Fails, listing every problem, on a configuration the deployed stack cannot take.
 */
export async function clusterZones(cloud: Cloud, config: ClusterConfig, deployed: DeployedStack): Promise<string[]> {
    const check = checkAgainstDeployment(config, deployed);
    if (check.problems.length > 0) {
        throw new pulumi.RunError(
            `The stack configuration cannot be applied to the deployed stack (${check.problems.length} problem(s)):\n` +
                check.problems.map((problem) => `  ${problem}`).join("\n"),
        );
    }
    if (check.zones) return check.zones;
    if (config.zones) return config.zones;
    const zones = await cloud.discoverZones(config);
    if (zones.length < 2) {
        // The same rule as a configured list (config/schema.ts): the API load balancer spans two zones or more.
        throw new pulumi.RunError(
            `kubeha:zones: only ${zones.length} zone(s) in ${config.region} offer the configured instance types; ` +
                `the cluster needs at least two: list them in kubeha:zones or choose other instance types`,
        );
    }
    // Discovery follows the cloud's current stock; once hosts exist the stack keeps these zones (see above).
    pulumi.log.warn(`kubeha:zones discovered as ${zones.join(", ")}; the stack keeps them once it has hosts`);
    if (zones.length < 3 && config.masters.count >= 3) {
        pulumi.log.warn(
            `only ${zones.length} suitable zone(s) in ${config.region}: masters cannot be spread over 3 zones`,
        );
    }
    return zones;
}
