// The whole cluster: config -> cloud infra -> PKI -> bootstrap -> addons, each its own component.
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { PlannedHost, planHosts } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { ClusterAddons } from "./addons";
import { AliyunInfra, discoverAliyunZones } from "./aliyun-infra";
import { AwsInfra, discoverAwsZones } from "./aws-infra";
import { ClusterInfra, InfraArgs } from "./hosts";
import { ClusterPki } from "./pki";

export interface KubernetesClusterArgs {
    readonly config: ClusterConfig;
    /** Zones to spread hosts over, in order (from config or discovered). */
    readonly zones: string[];
}

export class KubernetesCluster extends pulumi.ComponentResource {
    /** Every host from the address plan, bastion included. */
    readonly layout: PlannedHost[];
    /** Key pair pulumi uses to reach the hosts (through the bastion). RSA: the one type both clouds import. */
    readonly sshKey: tls.PrivateKey;
    /** Every CA, certificate and key, the admin kubeconfig and the bootstrap token. */
    readonly pki: ClusterPki;
    /** Hosts, SSH access through the bastion and the API load balancer, from the cloud's component. */
    readonly infra: ClusterInfra;
    /** flannel and the web UI, applied through the admin kubeconfig (components/addons.ts). */
    readonly addons: ClusterAddons;

    constructor(name: string, args: KubernetesClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:index:KubernetesCluster", name, {}, opts);
        const { config, zones } = args;
        this.layout = planHosts({
            vpcCidr: config.network.vpcCidr,
            zoneCount: zones.length,
            masters: config.masters.count,
            workers: config.workers.count,
            dedicatedEtcd: config.etcd.dedicated ? config.etcd.count : 0,
        });
        this.sshKey = new tls.PrivateKey("ssh-key", { algorithm: "RSA", rsaBits: 4096 }, { parent: this });

        const infraArgs: InfraArgs = {
            config,
            zones,
            layout: this.layout,
            sshPublicKey: this.sshKey.publicKeyOpenssh,
            sshPrivateKey: this.sshKey.privateKeyPem,
            userData: {},
        };
        const infra: ClusterInfra =
            config.cloud === "aliyun"
                ? new AliyunInfra("aliyun", infraArgs, { parent: this })
                : new AwsInfra("aws", infraArgs, { parent: this });
        this.infra = infra;
        this.pki = new ClusterPki(
            "pki",
            {
                config,
                layout: this.layout,
                apiLoadBalancer: infra.apiLoadBalancer,
                // An instance id changes when its host is replaced: every (re)join gets a fresh bootstrap token.
                joinIdentities: infra.hosts
                    .filter((host) => host.role === "master" || host.role === "worker")
                    .map((host) => (host.instance as pulumi.CustomResource).id),
            },
            { parent: this },
        );
        // --- addons (components/addons.ts) ---
        // dependsOn must list the bootstrap's last steps (the control plane answers): nothing may be applied
        // before them. The bootstrap component is not wired yet; until it is, nothing gates the addons.
        this.addons = new ClusterAddons(
            "addons",
            { config, kubeconfig: this.pki.adminKubeconfig, dependsOn: [] },
            { parent: this },
        );
        // --- end addons ---
        this.registerOutputs({ layout: this.layout });
    }
}

/** Zones from the stack config, or the cloud's first three suitable zones. */
export async function clusterZones(config: ClusterConfig): Promise<string[]> {
    if (config.zones) return config.zones;
    const zones = config.cloud === "aliyun" ? await discoverAliyunZones(config) : await discoverAwsZones();
    if (zones.length === 0) {
        throw new pulumi.RunError(`No zone in ${config.region} offers the configured instance types; set kubeha:zones`);
    }
    if (zones.length < 3 && config.masters.count >= 3) {
        pulumi.log.warn(
            `only ${zones.length} suitable zone(s) in ${config.region}: masters cannot be spread over 3 zones`,
        );
    }
    return zones;
}
