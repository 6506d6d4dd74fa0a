// Workers: every one joins as soon as the control plane can take it, none waits for another. Removing
// one (a lower workers.count) first drains and deletes its Node from the first master.
import * as pulumi from "@pulumi/pulumi";
import { kubeadmConfigPaths } from "../render/kubeadm";
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
    readonly joined: pulumi.Resource[];

    constructor(name: string, args: WorkersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:Workers", name, {}, opts);
        const firstMaster = args.controlPlane.firstMaster;
        this.joined = args.workers.map((worker) => {
            const config = installKubeadmConfig(this, worker, args.kubeadmConfigs[worker.name], {
                ssh: args.ssh,
                after: args.prepared.installedDuringBoot[worker.name] ?? [],
                keepOnceInstalled: true,
            });
            const join = runStep(
                worker,
                "join-worker",
                { KUBEHA_KUBEADM_CONFIG: kubeadmConfigPaths.join, KUBEHA_NODE_NAME: worker.name },
                {
                    ssh: args.ssh,
                    parent: this,
                    deletedWith: worker.instance,
                    dependsOn: [...(args.prepared.installed[worker.name] ?? []), config, ...args.controlPlane.joinable],
                },
            );
            approveServingCertificate(this, firstMaster, worker, join, args.ssh);
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
        this.registerOutputs({});
    }
}
