// Kubernetes upgrades in place: a new kubernetesVersion rolls over the running nodes in kubeadm's order, with
// nothing replaced or rebooted. A check on the first master refuses a downgrade or a skipped minor before any
// host is touched; then the masters one after another, then the workers, at most upgrade.maxUnavailable at
// once: drain (from the first master), upgrade (on the node), wait until Ready at the target and uncordon.
//
// The node steps are commands of the update phase: their creation runs nothing (hosts created now boot the
// version the stack names, so a new cluster gets no serial chain of no-op steps), and a changed target in
// their environment runs them, in the order their dependencies give. A failed step stops the rollout; its
// command keeps its old target, so the next `pulumi up` runs it again (every part checks what is done) and
// leaves the finished ones alone.
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/resolve";
import { exactKubernetesVersion } from "../config/versions";
import { kubernetesAptFiles } from "../render/cloud-init";
import { encodeBundle } from "../render/file-bundle";
import { ClusterHost, SshAccess } from "./hosts";
import { runStep } from "./remote";

export interface ClusterUpgradeArgs {
    readonly config: ClusterConfig;
    /** Masters in layout order: the first one runs `kubeadm upgrade apply` and every drain. */
    readonly masters: readonly ClusterHost[];
    readonly workers: readonly ClusterHost[];
    readonly ssh: SshAccess;
    /** Per node name: the step after which the node has joined (or initialised) the cluster. */
    readonly joined: Readonly<Record<string, pulumi.Resource>>;
    /** After it, every etcd member runs kubeha's etcd version: an etcd upgrade finishes before kubeadm's starts. */
    readonly etcdUpgraded: pulumi.Resource;
}

export class ClusterUpgrade extends pulumi.ComponentResource {
    constructor(name: string, args: ClusterUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:ClusterUpgrade", name, {}, opts);
        const { config, masters, workers, ssh } = args;
        const [first] = masters;
        const target = exactKubernetesVersion(config.kubernetesVersion);
        const version = { KUBEHA_KUBERNETES_VERSION: target };
        const onFirst = { ssh, parent: this, runOn: first, deletedWith: first.instance };
        const apt = encodeBundle(kubernetesAptFiles(config));

        const check = runStep(first, "upgrade-check", version, {
            ssh,
            parent: this,
            deletedWith: first.instance,
            dependsOn: [...masters.map((master) => args.joined[master.name]), args.etcdUpgraded],
        });
        // One node: drained from the first master, upgraded on itself, uncordoned once Ready at the target.
        const upgradeNode = (node: ClusterHost, after: pulumi.Resource[]): pulumi.Resource => {
            const nodeName = { KUBEHA_NODE_NAME: node.name };
            const drain = runStep(
                node,
                "upgrade-drain",
                { ...nodeName, ...version },
                { ...onFirst, dependsOn: [...after, args.joined[node.name]] },
            );
            const upgrade = runStep(
                node,
                "upgrade",
                {
                    ...version,
                    ...nodeName,
                    KUBEHA_KUBEADM_UPGRADE: node === first ? "apply" : "node",
                    // The checks the stack ignores for init and join, which kubeadm's upgrade runs again.
                    ...(config.ignorePreflightErrors.length > 0
                        ? { KUBEHA_IGNORE_PREFLIGHT_ERRORS: config.ignorePreflightErrors.join(",") }
                        : {}),
                },
                { ssh, parent: this, deletedWith: node.instance, stdin: apt, dependsOn: [drain] },
            );
            return runStep(node, "upgrade-uncordon", { ...nodeName, ...version }, { ...onFirst, dependsOn: [upgrade] });
        };

        // Masters one at a time: the next starts once this one's apiserver answers and its node is Ready.
        let lastMaster: pulumi.Resource = check;
        for (const master of masters) lastMaster = upgradeNode(master, [lastMaster]);
        // Workers in `lanes` chains after the last master: at most that many are out of service at once, and
        // never together with a master.
        const lanes = workersAtOnce(config.upgrade.maxUnavailable, workers.length);
        const done: pulumi.Resource[] = [];
        workers.forEach((worker, i) => done.push(upgradeNode(worker, [i >= lanes ? done[i - lanes] : lastMaster])));
        this.registerOutputs({});
    }
}

/**
 * How many workers an upgrade takes out of service at once: upgrade.maxUnavailable as a count, or as a
 * percentage of the workers rounded down (as Kubernetes rounds maxUnavailable), at least one.
 */
export function workersAtOnce(maxUnavailable: number | string, workers: number): number {
    const count =
        typeof maxUnavailable === "number"
            ? maxUnavailable
            : Math.floor((workers * Number(maxUnavailable.replace(/%$/, ""))) / 100);
    return Math.max(1, Math.min(count, workers));
}
