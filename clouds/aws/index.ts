// AWS behind the Cloud contract (clouds/cloud.ts): what kubeha asks of AWS before any resource, the resources it
// creates there, and the cloud integration's objects in the cluster.
import * as aws from "@pulumi/aws";
import { Cloud } from "../cloud";
import { CloudAddons } from "../cloud-addons";
import { AwsBackupStore } from "./backup";
import { awsCloudAddons } from "./cloud-addons";
import { AwsControllerRole } from "./controller-role";
import { awsHostFacts } from "./host-facts";
import { AwsInfra, discoverAwsZones } from "./infra";
import { generatedSshKeys } from "../generated-keys";

export const awsCloud: Cloud = {
    ...awsHostFacts,
    sshKeys: (_config, layout, parent) => generatedSshKeys(layout, parent),
    discoverZones: () => discoverAwsZones(),
    offeringZones: async () => (await aws.getAvailabilityZones({ state: "available" })).names,
    zoneRefusal: (config) => `is not an available zone of ${config.region}`,
    async instanceType(_config, type) {
        // The provider fails the lookup of a type the region does not offer.
        const found = await aws.ec2.getInstanceType({ instanceType: type }).catch(() => undefined);
        if (!found) return undefined;
        return {
            cpus: found.defaultVcpus,
            memoryMb: found.memorySize,
            x86: found.supportedArchitectures.includes("x86_64"),
        };
    },
    provision(args, parent) {
        const { config, clusterName } = args;
        const backupStore =
            args.backupBucketSuffix === undefined
                ? undefined
                : new AwsBackupStore(
                      "backup-store",
                      { config, clusterName, bucketSuffix: args.backupBucketSuffix },
                      { parent },
                  );
        // An instance holds one role, so it must exist before the instances: masters that run etcd members hold
        // the backup role, and the cloud integration's policies join it.
        const mastersRole =
            backupStore && !config.etcd.dedicated
                ? { roleName: backupStore.roleName, instanceProfile: backupStore.instanceProfile }
                : undefined;
        const controllerRole = config.cloudIntegration
            ? new AwsControllerRole("controller-role", { clusterName, mastersRole }, { parent })
            : undefined;
        const infra = new AwsInfra(
            "aws",
            {
                ...args,
                ...(backupStore ? { etcdInstanceProfile: backupStore.instanceProfile } : {}),
                ...(controllerRole ? { masterInstanceProfile: controllerRole.instanceProfile } : {}),
            },
            { parent },
        );
        return { infra, backupStore };
    },
    integrationAddons: (args, opts) => new CloudAddons(awsCloudAddons(args), args, opts),
};
