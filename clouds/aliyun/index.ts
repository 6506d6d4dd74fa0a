// Aliyun behind the Cloud contract (clouds/cloud.ts): what kubeha asks of Aliyun before any resource, the resources
// it creates there, and the cloud integration's objects in the cluster.
import * as alicloud from "@pulumi/alicloud";
import { Cloud } from "../cloud";
import { CloudAddons } from "../cloud-addons";
import { AliyunBackupStore } from "./backup";
import { aliyunCloudAddons } from "./cloud-addons";
import { AliyunControllerRoles } from "./controller-roles";
import { aliyunHostFacts } from "./host-facts";
import { AliyunInfra, discoverAliyunZones, offeringZones } from "./infra";
import { generatedSshKeys } from "../generated-keys";

export const aliyunCloud: Cloud = {
    ...aliyunHostFacts,
    sshKeys: (_config, layout, parent) => generatedSshKeys(layout, parent),
    discoverZones: discoverAliyunZones,
    offeringZones,
    zoneRefusal: (config) =>
        `does not offer every instance type with ESSD disks, the NLB and the enhanced NAT gateway in ${config.region}`,
    async instanceType(_config, type) {
        const found = await alicloud.ecs.getInstanceTypes({ instanceType: type });
        const match = found.instanceTypes.find((item) => item.id === type);
        if (!match) return undefined;
        return {
            cpus: match.cpuCoreCount,
            memoryMb: Math.round(match.memorySize * 1024),
            // Aliyun's Arm families (g8y, g6r, ...) are the only non-x86 ones it lists for ECS.
            x86: !/^ecs\.[a-z]+\d+[ry]\./.test(type),
        };
    },
    provision(args, parent) {
        const { config, clusterName } = args;
        const backupStore =
            args.backupBucketSuffix === undefined
                ? undefined
                : new AliyunBackupStore(
                      "backup-store",
                      { config, clusterName, bucketSuffix: args.backupBucketSuffix },
                      { parent },
                  );
        const infra = new AliyunInfra("aliyun", args, { parent });
        const members = infra.hosts.filter((host) => host.etcdMember);
        backupStore?.attachTo(members);
        // An instance holds one RAM role: masters that run etcd members hold the backup role, which then carries the
        // cloud integration's policies too.
        if (config.cloudIntegration) {
            new AliyunControllerRoles(
                "controller-roles",
                {
                    clusterName,
                    region: config.region,
                    masters: infra.hosts.filter((host) => host.role === "master"),
                    workers: infra.hosts.filter((host) => host.role === "worker"),
                    mastersRole: backupStore && !config.etcd.dedicated ? backupStore.roleName : undefined,
                },
                { parent },
            );
        }
        return { infra, backupStore };
    },
    integrationAddons: (args, opts) => new CloudAddons(aliyunCloudAddons(args), args, opts),
};
