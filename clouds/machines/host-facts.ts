// Cloud machines' facts about a host's own files (clouds/host-facts.ts).
import { HostFacts } from "../host-facts";

export const machinesHostFacts: HostFacts = {
    /**
     * The link-local metadata address most clouds and hypervisors answer on: where the machines are instances of a
     * cloud kubeha does not model, pods are still kept from it; elsewhere nothing answers there.
     */
    metadataAddress: "169.254.169.254",
    nodeNames: () => [],
    /** No private DNS zone: every host's /etc/hosts names every other. */
    hostsFileNamesEveryHost: true,
};
