// etcd backups, running by themselves: the bucket and role of the stack's cloud (clouds/<cloud>/backup.ts), or the
// user's bucket and key pair on cloud machines (clouds/machines/backup.ts), and on
// every etcd member the timer of scripts/etcd-backup.sh, enabled once the
// cluster is healthy. Every member runs it; only the leader of the moment uploads.
import * as pulumi from "@pulumi/pulumi";
import { etcdBackup, etcdBackupPaths } from "../render/backup";
import { filesDigest, LazyFile } from "./host-files";
import { BackupStore, ClusterHost, SshAccess } from "./hosts";
import { PreparedHosts } from "./prepared-hosts";
import { runStep } from "./remote";

export interface EtcdBackupsArgs {
    readonly store: BackupStore;
    /** Hosts that run an etcd member. */
    readonly members: readonly ClusterHost[];
    readonly ssh: SshAccess;
    readonly prepared: PreparedHosts;
    readonly files: Readonly<Record<string, readonly LazyFile[]>>;
    /** The etcd health gate: a snapshot needs a healthy cluster. */
    readonly etcdHealthy: pulumi.Resource;
}

export class EtcdBackups extends pulumi.ComponentResource {
    readonly bucket: pulumi.Output<string>;
    readonly prefix: string;

    constructor(name: string, args: EtcdBackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:EtcdBackups", name, {}, opts);
        const units: readonly string[] = etcdBackupPaths.filter((path) => path.startsWith("/etc/systemd/"));
        for (const member of args.members) {
            runStep(
                member,
                "backup-timer",
                { KUBEHA_TIMER: `${etcdBackup.timer},${etcdBackup.checkTimer}` },
                {
                    ssh: args.ssh,
                    parent: this,
                    deletedWith: member.instance,
                    dependsOn: [...(args.prepared.installed[member.name] ?? []), args.etcdHealthy],
                    triggers: [
                        filesDigest((args.files[member.name] ?? []).filter((file) => units.includes(file.path))),
                    ],
                },
            );
        }
        this.bucket = args.store.target.apply((target) => target.bucket);
        this.prefix = args.store.prefix;
        this.registerOutputs({ bucket: this.bucket, prefix: this.prefix });
    }
}
