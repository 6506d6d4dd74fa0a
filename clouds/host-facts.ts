// What a cloud decides about a host's own files, as plain data with no cloud SDK: the render functions (render/)
// take them from here, so what lands on a host stays a pure function of config and plan.
import { PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { aliyunHostFacts } from "./aliyun/host-facts";
import { awsHostFacts } from "./aws/host-facts";
import { machinesHostFacts } from "./machines/host-facts";

export interface HostFacts {
    /** The metadata service's address inside every instance (the pod firewall keeps pods from it). */
    readonly metadataAddress: string;
    /**
     * Names the cloud gives a node besides its planned address and FQDN, which its kubelet's serving certificate
     * then names too (render/kubelet-serving.ts).
     */
    nodeNames(config: ClusterConfig, host: PlannedHost): string[];
    /**
     * No private DNS zone names the hosts (cloud machines): every host's /etc/hosts names every other host, workers
     * too. Otherwise only the masters and etcd hosts, which must resolve before DNS is reachable.
     */
    readonly hostsFileNamesEveryHost?: boolean;
}

const hostFacts: Record<ClusterConfig["cloud"], HostFacts> = {
    aws: awsHostFacts,
    aliyun: aliyunHostFacts,
    machines: machinesHostFacts,
};

export function hostFactsOf(config: Pick<ClusterConfig, "cloud">): HostFacts {
    return hostFacts[config.cloud];
}
