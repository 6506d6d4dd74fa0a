// The external etcd cluster: every member started (the starts return at once; the members wait for each
// other by themselves), then one health gate over all of them. A member restarts when its config or unit
// changes, one member at a time; a replaced host rejoins as a new member. A new etcd version (a kubeha release)
// upgrades the members one at a time, after the gate: commands of the update phase (their creation runs nothing,
// as hosts created now install the version the stack names), each keyed to the target version, so a failed
// member stops the rollout and the next `pulumi up` continues from it, leaving upgraded members alone.
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/resolve";
import { etcdReleaseSha256, etcdVersion } from "../config/versions";
import { etcdReleaseUrl } from "../render/cloud-init";
import {
    etcdBinDir,
    etcdClientUrls,
    etcdConfigPath,
    etcdDiskMountPoint,
    etcdPki,
    etcdUnitPath,
    etcdUpgradeSnapshotDir,
} from "../render/etcd";
import { filesDigest, LazyFile } from "./host-files";
import { ClusterHost, SshAccess } from "./hosts";
import { PreparedHosts } from "./prepared-hosts";
import { runStep } from "./remote";

export interface EtcdClusterArgs {
    readonly config: ClusterConfig;
    /** Hosts that run a member (masters, or dedicated etcd hosts), in layout order. */
    readonly members: readonly ClusterHost[];
    readonly layout: Parameters<typeof etcdClientUrls>[1];
    readonly ssh: SshAccess;
    readonly prepared: PreparedHosts;
    readonly files: Readonly<Record<string, readonly LazyFile[]>>;
}

export class EtcdCluster extends pulumi.ComponentResource {
    /** Passes once every member is healthy over mutual TLS: kubeadm init may start. */
    readonly healthy: pulumi.Resource;
    /** The last member's upgrade step: every member runs the target version (a Kubernetes upgrade waits for it). */
    readonly upgraded: pulumi.Resource;

    constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:EtcdCluster", name, {}, opts);
        const client = {
            KUBEHA_ETCD_ENDPOINTS: etcdClientUrls(args.config, args.layout).join(","),
            KUBEHA_ETCD_CACERT: etcdPki.ca,
            KUBEHA_ETCD_CERT: etcdPki.healthcheckClientCert,
            KUBEHA_ETCD_KEY: etcdPki.healthcheckClientKey,
        };
        // One after another: a start returns at once (members wait for each other by themselves), and a
        // restart after a changed config waits until the member is healthy again, so a config change
        // restarts the members one at a time and the majority stays up.
        const started: pulumi.Resource[] = [];
        for (const member of args.members) {
            started.push(
                runStep(
                    member,
                    "etcd",
                    { ...client, KUBEHA_ETCD_CONFIG: etcdConfigPath, KUBEHA_ETCD_DISK: etcdDiskMountPoint },
                    {
                        ssh: args.ssh,
                        parent: this,
                        deletedWith: member.instance,
                        // Not after the whole boot preparation: the step waits for the boot's etcd stage itself
                        // (its disk and binaries), so the cluster forms while the packages and images come in.
                        dependsOn: [...(args.prepared.installedDuringBoot[member.name] ?? []), ...started.slice(-1)],
                        // Its config and unit: a change restarts the member. Renewed certificates need no
                        // restart (etcd reads them again for every new TLS connection).
                        triggers: [filesDigest(etcdFilesOf(args.files[member.name] ?? []))],
                    },
                ),
            );
        }
        const first = args.members[0];
        this.healthy = runStep(first, "etcd-health", client, {
            ssh: args.ssh,
            parent: this,
            deletedWith: first.instance,
            dependsOn: started,
        });
        const release = {
            KUBEHA_ETCD_VERSION: etcdVersion,
            KUBEHA_ETCD_RELEASE: etcdReleaseUrl(args.config),
            ...(etcdReleaseSha256 ? { KUBEHA_ETCD_SHA256: etcdReleaseSha256 } : {}),
            KUBEHA_ETCD_BIN_DIR: etcdBinDir,
        };
        let upgraded: pulumi.Resource = this.healthy;
        for (const member of args.members) {
            upgraded = runStep(
                member,
                "etcd-upgrade",
                {
                    ...release,
                    ...client,
                    KUBEHA_ETCD_CONFIG: etcdConfigPath,
                    KUBEHA_ETCD_SNAPSHOT_DIR: etcdUpgradeSnapshotDir,
                },
                { ssh: args.ssh, parent: this, deletedWith: member.instance, dependsOn: [upgraded] },
            );
        }
        this.upgraded = upgraded;
        this.registerOutputs({});
    }
}

function etcdFilesOf(files: readonly LazyFile[]): LazyFile[] {
    return files.filter((file) => file.path === etcdConfigPath || file.path === etcdUnitPath);
}
