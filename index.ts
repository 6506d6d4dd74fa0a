// kubeha: a highly available Kubernetes cluster on Aliyun or AWS. See README.md.
import * as pulumi from "@pulumi/pulumi";
import { checkWithCloud } from "./clouds/checks";
import { cloudOf } from "./clouds";
import { clusterZones, deployedStack, KubernetesCluster } from "./components/cluster";
import { hostFqdn } from "./config/layout";
import { loadStackConfig } from "./config/stack";
import { keepUncaughtErrorsReadable } from "./components/readable-errors";

// An error thrown inside an apply must reach the user as a message, not as a hang (see the module).
keepUncaughtErrorsReadable();

// Pulumi's Node.js SDK records a formatted stack trace for every internal promise, and under ts-node
// every frame is source-mapped: with hundreds of hosts that doubles the program's time and memory.
// Four frames still point at the failing line of an unexpected error.
Error.stackTraceLimit = Math.min(Error.stackTraceLimit, 4);

export = async () => {
    // Validated first: a bad stack config fails with every problem listed, before any resource exists.
    const { config, warnings } = loadStackConfig();
    warnings.forEach((warning) => pulumi.log.warn(warning));
    // A stack with hosts keeps its zones and its etcd members: a change that would move them is refused here.
    const cloud = cloudOf(config);
    const zones = await clusterZones(cloud, config, await deployedStack());
    // What only the cloud knows (instance types, the offerings of zones listed by hand), before any resource exists.
    // A deployed stack's zones hold its hosts already: they are not asked about again.
    await checkWithCloud(cloud, config, zones === config.zones ? zones : []);
    const cluster = new KubernetesCluster("kubeha", { config, cloud, zones });
    return {
        cloud: config.cloud,
        region: config.region,
        zones,
        hosts: Object.fromEntries(
            cluster.layout.map((host) => [
                host.name,
                { role: host.role, zone: zones[host.zoneIndex], privateIp: host.privateIp },
            ]),
        ),
        /** Every certificate with its expiry: `pulumi up` inside a renewal window re-issues it. */
        certificates: cluster.pki.certificates,
        kubeconfig: pulumi.secret(cluster.pki.adminKubeconfig),
        /** What the kubeconfig points at: the API load balancer, open to allowedCidrs.api. */
        apiEndpoint: cluster.pki.apiServerUrl,
        /** Every name and address the API load balancer answers on, all in the apiserver certificate. */
        apiNames: cluster.infra.apiLoadBalancer.names,
        bastionAddress: cluster.infra.ssh.bastionAddress,
        /** The only SSH entry; save the key first: `pulumi stack output sshPrivateKey --show-secrets > kubeha-ssh.pem`. */
        sshCommand: cluster.infra.ssh.bastionAddress
            ? pulumi.interpolate`ssh -i kubeha-ssh.pem ${cluster.infra.ssh.bastionUser}@${cluster.infra.ssh.bastionAddress}`
            : undefined,
        sshPrivateKey: pulumi.secret(cluster.sshKeys.privateKey),
        /** known_hosts lines of every host (the bastion by its public address): `ssh -o UserKnownHostsFile=...`. */
        sshKnownHosts: pulumi.all([cluster.infra.ssh.bastionAddress, pulumi.all(cluster.sshKeys.hostKeys)]).apply(
            ([bastionAddress, keys]) =>
                cluster.layout
                    .map((host) => {
                        const names =
                            host.role === "bastion"
                                ? [bastionAddress]
                                : [host.privateIp, hostFqdn(host.name, config.network.privateDomain), host.name];
                        return `${names.join(",")} ${keys[host.name]}`;
                    })
                    .join("\n") + "\n",
        ),
        /** The long-lived login token of the web UI's cluster-admin ServiceAccount, only with addons.longLivedDashboardToken. */
        dashboardToken: cluster.addons.dashboardToken,
        /** The commands that open the web UI from this machine. */
        dashboardAccess: cluster.addons.dashboardAccess,
        /** The default StorageClass of the cloud integration (absent with cloudIntegration false). */
        storageClass: cluster.addons.storageClass,
        /** Where the etcd snapshots go (README, "Backups and restore"); absent with backup.enabled false. */
        backupBucket: cluster.backups?.bucket,
        backupPrefix: cluster.backups?.prefix,
    };
};
