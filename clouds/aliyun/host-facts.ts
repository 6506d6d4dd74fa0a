// Aliyun facts about a host's own files (clouds/host-facts.ts).
import { HostFacts } from "../host-facts";

export const aliyunHostFacts: HostFacts = {
    metadataAddress: "100.100.100.200",
    /** The cloud controller manager keeps the node's own name and address: nothing more to certify. */
    nodeNames: () => [],
};
