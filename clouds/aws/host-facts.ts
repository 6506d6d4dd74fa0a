// AWS facts about a host's own files (clouds/host-facts.ts).
import { HostFacts } from "../host-facts";

export const awsHostFacts: HostFacts = {
    metadataAddress: "169.254.169.254",
    /**
     * With the cloud integration, the cloud controller manager gives each node the instance's private DNS name
     * (InternalDNS and Hostname addresses), and the kubelet then asks for a serving certificate that names it too:
     * `ip-192-168-0-10.<region>.compute.internal` (`.ec2.internal` in us-east-1), IP-based naming, the VPC default.
     */
    nodeNames(config, host) {
        if (!config.cloudIntegration) return [];
        const domain = config.region === "us-east-1" ? "ec2.internal" : `${config.region}.compute.internal`;
        return [`ip-${host.privateIp.replaceAll(".", "-")}.${domain}`];
    },
};
