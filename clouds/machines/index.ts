// Cloud machines behind the Cloud contract (clouds/cloud.ts): hosts the user already has, listed in kubeha:machines.
// Nothing is discovered or created in a cloud: zones are the machines' labels, the SSH keys come from the stack
// config, and each machine's `instance` is the step that prepares it over SSH (clouds/machines/prepare.ts).
import { machineZones } from "../../config/layout";
import { Cloud } from "../cloud";
import { machinesHostFacts } from "./host-facts";
import { machinesBackupStore } from "./backup";
import { MachinesInfra } from "./infra";
import { configuredSshKeys } from "./keys";

export const machinesCloud: Cloud = {
    ...machinesHostFacts,
    sshKeys: (config) => configuredSshKeys(config),
    discoverZones: async (config) => machineZones(config),
    // Zones are labels of the user's own: every one "offers" what the program needs.
    offeringZones: async (config) => machineZones(config),
    zoneRefusal: () => "is not a zone label of kubeha:machines",
    provision(args, parent) {
        const backupStore = machinesBackupStore(args.config, args.clusterName);
        return { infra: new MachinesInfra("machines", args, { parent }), ...(backupStore ? { backupStore } : {}) };
    },
    integrationAddons() {
        // Refused by the config (kubeha:cloudIntegration cannot be true on machines).
        throw new Error("cloud machines have no cloud integration");
    },
};
