// The control plane: kubeadm init on the first master once etcd is healthy, the bootstrap token kept on
// the cluster, then the other masters join all at once. Parallel joins are safe here because etcd is
// external: the known races of concurrent `kubeadm join --control-plane` are all in adding stacked etcd
// members (kubeadm#1646, #2005); with external etcd a join only writes its own files, static pods and
// Node object (kubeadm maintainers in kubeadm#1961: "it should be possible"), and the join script retries
// a join that failed before changing anything. Each master's kubelet serving certificate is approved
// from the first master once its request checks out, and every master runs the timer that approves later
// renewals. Re-issued certificates restart the apiservers, one master after another.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { kubeconfigRenewal } from "../render/kubeconfig-renewal";
import { kubeletServingApprover } from "../render/kubelet-serving";
import { apiserverCertificates } from "../render/pki-files";
import { ClusterHost, SshAccess } from "./hosts";
import { bundles, filesDigest, inDigestOrder, LazyFile } from "./host-files";
import { PreparedHosts } from "./prepared-hosts";
import { runStep } from "./remote";

export interface ControlPlaneArgs {
    /** Masters in layout order: the first one initialises. */
    readonly masters: readonly ClusterHost[];
    readonly ssh: SshAccess;
    readonly prepared: PreparedHosts;
    /** Every file of every host, by host name (components/host-files.ts filesForHost). */
    readonly files: Readonly<Record<string, readonly LazyFile[]>>;
    /** Each master's kubeadm configuration (components/host-files.ts kubeadmConfigForHost). */
    readonly kubeadmConfigs: Readonly<Record<string, LazyFile>>;
    /** The etcd health gate. */
    readonly etcdHealthy: pulumi.Resource;
    /** The API as clients outside the VPC reach it (the load balancer), and the CA its certificate chains to. */
    readonly externalApi: { readonly url: pulumi.Input<string>; readonly caCertPem: pulumi.Input<string> };
}

export class ControlPlane extends pulumi.ComponentResource {
    readonly firstMaster: ClusterHost;
    /** After these, the API answers and the current bootstrap token exists: nodes may join. */
    readonly joinable: pulumi.Resource[];
    /** Every master joined. */
    readonly complete: pulumi.Resource[];
    /** The API answers through the external load balancer, from where `pulumi up` runs. */
    readonly externallyReady: pulumi.Resource;

    constructor(name: string, args: ControlPlaneArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:bootstrap:ControlPlane", name, {}, opts);
        const [first, ...others] = args.masters;
        this.firstMaster = first;
        const on = (host: ClusterHost, dependsOn: pulumi.Resource[]) => ({
            ssh: args.ssh,
            parent: this,
            deletedWith: host.instance,
            dependsOn: [...(args.prepared.installed[host.name] ?? []), ...dependsOn],
        });
        const configs = Object.fromEntries(
            args.masters.map((master) => [
                master.name,
                installKubeadmConfig(this, master, args.kubeadmConfigs[master.name], {
                    ssh: args.ssh,
                    after: args.prepared.installedDuringBoot[master.name] ?? [],
                    keepOnceInstalled: master !== first,
                }),
            ]),
        );
        const init = runStep(
            first,
            "init",
            { KUBEHA_KUBEADM_CONFIG: kubeadmConfigPaths.init },
            on(first, [args.etcdHealthy, configs[first.name]]),
        );
        const token = runStep(
            first,
            "token",
            { KUBEHA_KUBEADM_CONFIG: kubeadmConfigPaths.init },
            // A newly drawn token changes the init configuration: ensure it on the cluster again.
            { ...on(first, [init]), triggers: [filesDigest([args.kubeadmConfigs[first.name]])] },
        );
        this.joinable = [init, token];
        // Runs where `pulumi up` runs: the addons' provider reaches the API from there, through the load
        // balancer, which routes to a master only once its health checks pass. The addons need no token: it
        // waits for the API alone.
        this.externallyReady = new command.local.Command(
            "api-ready",
            {
                create: "node scripts/wait-for-api.mjs",
                environment: { KUBEHA_API_URL: args.externalApi.url, KUBEHA_CA_CERT: args.externalApi.caCertPem },
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [init] },
        );
        const joined = others.map((master) =>
            runStep(
                master,
                "join-control-plane",
                { KUBEHA_KUBEADM_CONFIG: kubeadmConfigPaths.join, KUBEHA_NODE_NAME: master.name },
                on(master, [...this.joinable, configs[master.name]]),
            ),
        );
        this.complete = [init, ...joined];
        const filesOf = (master: ClusterHost, paths: readonly string[]) =>
            (args.files[master.name] ?? []).filter((file) => paths.includes(file.path));
        const approverUnits = [kubeletServingApprover.service, kubeletServingApprover.timer].map(
            (unit) => `/etc/systemd/system/${unit}`,
        );
        const renewalUnits = [kubeconfigRenewal.service, kubeconfigRenewal.timer].map(
            (unit) => `/etc/systemd/system/${unit}`,
        );
        let previousRestart: pulumi.Resource[] = [];
        args.masters.forEach((master, i) => {
            approveServingCertificate(this, first, master, this.complete[i], args.ssh);
            runStep(
                master,
                "serving-approver",
                { KUBEHA_TIMER: kubeletServingApprover.timer },
                { ...on(master, [this.complete[i]]), triggers: [filesDigest(filesOf(master, approverUnits))] },
            );
            runStep(
                master,
                "renewal-timer",
                { KUBEHA_TIMER: kubeconfigRenewal.timer },
                { ...on(master, [this.complete[i]]), triggers: [filesDigest(filesOf(master, renewalUnits))] },
            );
            // One master at a time, each ready again before the next: the API stays up through the others.
            // Only the certificates' content runs it (etcd re-reads its own and is not restarted), as an update:
            // on creation it runs nothing, so a new cluster's masters wait for no chain of restarts.
            const certificates = inDigestOrder(filesOf(master, apiserverCertificates));
            previousRestart = [
                runStep(
                    master,
                    "apiserver-restart",
                    {
                        KUBEHA_APISERVER_CERTS: certificates.map((file) => file.path).join(","),
                        KUBEHA_APISERVER_CERTS_DIGEST: filesDigest(certificates),
                    },
                    on(master, [this.complete[i], ...previousRestart]),
                ),
            ];
        });
        this.registerOutputs({});
    }
}

/**
 * `<host>-kubeadm-config`: the host's kubeadm configuration, installed like its other files. A host that has
 * joined keeps the configuration it joined with (`keepOnceInstalled`): a token drawn later for other hosts
 * must not reach it; a replaced host is a new instance and gets the current one.
 */
export function installKubeadmConfig(
    parent: pulumi.Resource,
    host: ClusterHost,
    file: LazyFile,
    options: { ssh: SshAccess; after: pulumi.Resource[]; keepOnceInstalled: boolean },
): pulumi.Resource {
    return runStep(
        host,
        "kubeadm-config",
        {},
        {
            ssh: options.ssh,
            parent,
            stdin: bundles([file]).secret,
            deletedWith: host.instance,
            dependsOn: options.after,
            ...(options.keepOnceInstalled ? { ignoreChanges: ["stdin"] } : {}),
        },
    );
}

/**
 * `<node>-serving-cert`, run on the first master once the node joined: approves the node's kubelet serving
 * certificate request (checked against the nodes file the first master's files step installed).
 */
export function approveServingCertificate(
    parent: pulumi.Resource,
    firstMaster: ClusterHost,
    node: ClusterHost,
    joined: pulumi.Resource,
    ssh: SshAccess,
): pulumi.Resource {
    return runStep(
        node,
        "serving-cert",
        { KUBEHA_NODES_FILE: kubeletServingApprover.nodesFile, KUBEHA_NODE_NAME: node.name },
        { ssh, parent, runOn: firstMaster, deletedWith: firstMaster.instance, dependsOn: [joined] },
    );
}
