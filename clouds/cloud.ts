// The Cloud contract: everything kubeha decides per cloud, behind one object per cloud (clouds/aws, clouds/aliyun;
// clouds/index.ts picks the stack's). What comes out of it is cloud-neutral (components/hosts.ts): the cluster
// component wires config -> cloud -> PKI -> bootstrap -> addons without asking which cloud it is on.
import * as pulumi from "@pulumi/pulumi";
import { PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { BackupStore, ClusterInfra } from "../components/hosts";
import { HostKey } from "../render/cloud-init";
import { CloudAddonsArgs, CloudAddonsOptions } from "./cloud-addons";
import { HostFacts } from "./host-facts";

/** What the cloud says about an instance type: kubeadm's preflight minimums and the image's architecture. */
export interface InstanceTypeFacts {
    readonly cpus: number;
    readonly memoryMb: number;
    readonly x86: boolean;
}

/** What a cloud builds its resources from (cluster.ts hands it in), and what its infrastructure component is given. */
export interface InfraArgs {
    readonly config: ClusterConfig;
    /** Zones in layout order (zoneIndex indexes this list). */
    readonly zones: string[];
    /** Every host from the address plan, bastion included, with its fixed private address. */
    readonly layout: PlannedHost[];
    /** OpenSSH public key installed for the login user of every host. */
    readonly sshPublicKey: pulumi.Input<string>;
    /** The matching private key (a secret): remote steps log in with it through the bastion. */
    readonly sshPrivateKey: pulumi.Input<string>;
    /**
     * cloud-init user-data per host name, gzip-compressed and base64-encoded: a secret, because it carries the host's
     * SSH host key (and nothing else secret).
     */
    readonly userData: Readonly<Record<string, pulumi.Input<string>>>;
}

export interface ProvisionArgs extends InfraArgs {
    /** `<project>-<stack>`: names and tags the cloud's roles, buckets and integration resources. */
    readonly clusterName: string;
    /**
     * With kubeha:backup.enabled: lower-case letters and digits that make the backup bucket's name unique among
     * every account's (drawn once by the cluster).
     */
    readonly backupBucketSuffix?: pulumi.Input<string>;
}

/** What a cloud hands to the rest of the program. */
export interface Provisioned {
    readonly infra: ClusterInfra;
    /** Where the etcd members put their snapshots, with kubeha:backup.enabled. */
    readonly backupStore?: BackupStore;
}

/** How the program logs in to the hosts, and the host key each one presents (connections pin it). */
export interface SshKeys {
    /** OpenSSH public key of the login key (installed on hosts the cloud creates). */
    readonly publicKey: pulumi.Output<string>;
    /** The login key's private half (a secret). */
    readonly privateKey: pulumi.Output<string>;
    /** Per host name (`bastion` too, where there is one): `ssh-ed25519 <base64>`. */
    readonly hostKeys: Readonly<Record<string, pulumi.Output<string>>>;
    /**
     * Per host name: the host key pair its user-data installs, where the program made it (the clouds). Absent where
     * the hosts have keys of their own (cloud machines): then no host gets user-data.
     */
    readonly hostKeyPairs?: Readonly<Record<string, pulumi.Output<HostKey>>>;
}

export interface Cloud extends HostFacts {
    /**
     * The login key pair and every host's SSH host key, parented to `parent` (the cluster): generated on the clouds,
     * taken from the stack config where the hosts exist already.
     */
    sshKeys(config: ClusterConfig, layout: readonly PlannedHost[], parent: pulumi.Resource): SshKeys;
    /** A new stack's zones when kubeha:zones is not set: the cloud's first suitable ones (asked before any resource). */
    discoverZones(config: ClusterConfig): Promise<string[]>;
    /** Every zone that offers what the program creates there: zones listed by hand must be among them. */
    offeringZones(config: ClusterConfig): Promise<string[]>;
    /** What a zone listed by hand lacks when it is not among offeringZones: "does not offer ... in <region>". */
    zoneRefusal(config: ClusterConfig): string;
    /**
     * An instance type as the region offers it; undefined where the region does not. Absent where the program
     * creates no instances (cloud machines): no instance type is then asked about.
     */
    instanceType?(config: ClusterConfig, type: string): Promise<InstanceTypeFacts | undefined>;
    /**
     * Every cloud resource, parented to `parent`: network, hosts (with their data disks and roles), the SSH route,
     * egress, the API load balancer, private DNS, the backup store and its grants, and the cloud integration's roles.
     * What must exist before the instances (an instance profile) is the cloud's own business, inside this call.
     */
    provision(args: ProvisionArgs, parent: pulumi.Resource): Provisioned;
    /** The cloud integration's objects in the cluster (kubeha:cloudIntegration): controllers, CSI driver, StorageClass. */
    integrationAddons(
        args: CloudAddonsArgs,
        opts: CloudAddonsOptions,
    ): { readonly storageClass: pulumi.Output<string> };
}

/** What every cloud's etcd backup store is given. */
export interface BackupStoreArgs {
    readonly config: ClusterConfig;
    /** `<project>-<stack>`: names the bucket, the role and (backupPrefix) where the snapshots go. */
    readonly clusterName: string;
    /** Lower-case letters and digits that make the bucket's name unique among every account's. */
    readonly bucketSuffix: pulumi.Input<string>;
}

/** The bucket's and the role's names: DNS-safe, within both clouds' limits (63 for buckets, 64 for roles). */
export function backupNames(args: BackupStoreArgs): { bucket: pulumi.Output<string>; role: string } {
    const safe = args.clusterName.toLowerCase().replace(/[^a-z0-9-]+/g, "-");
    return {
        bucket: pulumi.output(args.bucketSuffix).apply((suffix) => `${safe.slice(0, 40)}-etcd-backups-${suffix}`),
        role: `${safe.slice(0, 50)}-etcd-backup`,
    };
}
