// Workers: every one joins as soon as the control plane can take it, none waits for another. Each joins by
// itself: its join step queues a unit on it that waits for its boot and joins, and one step on the first master
// waits for them all, so a cluster of hundreds of workers holds no Pulumi slot per waiting worker. Removing one (a
// lower workers.count) first drains and deletes its Node from the first master.
import * as pulumi from "@pulumi/pulumi";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { workerJoinUnit } from "../render/steps";
import { approveServingCertificate, ControlPlane, installKubeadmConfig } from "./control-plane";
import { LazyFile } from "./host-files";
import { ClusterHost, SshAccess } from "./hosts";
import { PreparedHosts } from "./prepared-hosts";
import { runStep } from "./remote";

export interface WorkersArgs {
    readonly workers: readonly ClusterHost[];
    readonly ssh: SshAccess;
    readonly prepared: PreparedHosts;
    /** Each worker's kubeadm join configuration (components/host-files.ts kubeadmConfigForHost). */
    readonly kubeadmConfigs: Readonly<Record<string, LazyFile>>;
    readonly controlPlane: ControlPlane;
}

export class Workers extends pulumi.ComponentResource {
    /**
     * Per worker, what says it joined: the one gate on the first master that waits for the Nodes of the new or
     * replaced workers (each worker's own join step only queues the join on it).
     */
    readonly joined: pulumi.Resource[];

    constructor(name: string, args: WorkersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:Workers", name, {}, opts);
        const firstMaster = args.controlPlane.firstMaster;
        const queued = args.workers.map((worker) => {
            const config = installKubeadmConfig(this, worker, args.kubeadmConfigs[worker.name], {
                ssh: args.ssh,
                after: args.prepared.installedDuringBoot[worker.name] ?? [],
                keepOnceInstalled: true,
            });
            // Returns at once: the unit it queues on the worker waits for the boot and joins (no slot held).
            const join = runStep(
                worker,
                "join-worker",
                {
                    KUBEHA_KUBEADM_CONFIG: kubeadmConfigPaths.join,
                    KUBEHA_NODE_NAME: worker.name,
                    KUBEHA_JOIN_UNIT: workerJoinUnit,
                },
                {
                    ssh: args.ssh,
                    parent: this,
                    deletedWith: worker.instance,
                    dependsOn: [...(args.prepared.installed[worker.name] ?? []), config, ...args.controlPlane.joinable],
                },
            );
            // Nothing to do on creation; on removal it drains the node, before the instance goes (it depends
            // on the join, which depends on the instance). A whole-stack destroy skips it with the first master.
            runStep(
                worker,
                "remove-node",
                { KUBEHA_NODE_NAME: worker.name },
                {
                    ssh: args.ssh,
                    parent: this,
                    runOn: firstMaster,
                    deletedWith: firstMaster.instance,
                    dependsOn: [join],
                },
            );
            return join;
        });
        if (args.workers.length === 0) {
            this.joined = [];
        } else {
            const allJoined = waitForWorkers(this, args.workers, firstMaster, queued, args.ssh);
            for (const worker of args.workers)
                approveServingCertificate(this, firstMaster, worker, allJoined, args.ssh);
            this.joined = args.workers.map(() => allJoined);
        }
        this.registerOutputs({});
    }
}

/**
 * `<first master>-workers-joined`: one wait, after every worker's join is queued, for the Nodes of the workers it has
 * not seen joined with their current instance (a new instance id, a replaced worker, runs it again, for that worker).
 */
function waitForWorkers(
    parent: pulumi.Resource,
    workers: readonly ClusterHost[],
    firstMaster: ClusterHost,
    queued: pulumi.Resource[],
    ssh: SshAccess,
): pulumi.Resource {
    const instances = workers.map((worker) => pulumi.interpolate`${worker.name}=${worker.instance.id}`);
    return runStep(
        firstMaster,
        "workers-joined",
        {
            KUBEHA_WORKERS: pulumi.all(instances).apply((entries) => entries.join(",")),
            KUBEHA_JOIN_UNIT: workerJoinUnit,
        },
        { ssh, parent, deletedWith: firstMaster.instance, dependsOn: queued },
    );
}
