// kubeha: a highly available Kubernetes cluster on Aliyun or AWS. See README.md.
import * as pulumi from "@pulumi/pulumi";
import { clusterZones, KubernetesCluster } from "./components/cluster";
import { loadStackConfig } from "./config/stack";

export = async () => {
    // Validated first: a bad stack config fails with every problem listed, before any resource exists.
    const { config, warnings } = loadStackConfig();
    warnings.forEach((warning) => pulumi.log.warn(warning));
    const zones = await clusterZones(config);
    const cluster = new KubernetesCluster("kubeha", { config, zones });
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
    };
};
