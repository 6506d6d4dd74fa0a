// Aliyun: a VPC across zones, NAT, security groups, ECS hosts, PrivateZone and the API load balancer.
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { InfraArgs } from "./hosts";
import { ClusterConfig } from "../config/resolve";

/** Zones (sorted, at most three) offering every instance type the stack uses with ESSD disks. */
export async function discoverAliyunZones(config: ClusterConfig): Promise<string[]> {
    const types = [config.masters, config.workers, config.bastion, ...(config.etcd.dedicated ? [config.etcd] : [])];
    const offers = await Promise.all(
        [...new Set(types.map((group) => group.instanceType))].map((instanceType) =>
            alicloud.getZones({
                availableResourceCreation: "Instance",
                availableInstanceType: instanceType,
                availableDiskCategory: "cloud_essd",
            }),
        ),
    );
    const [first, ...rest] = offers.map((offer) => offer.ids);
    return first
        .filter((zone) => rest.every((ids) => ids.includes(zone)))
        .sort()
        .slice(0, 3);
}

// Skeleton until issue 6 lands: creates nothing yet.
export class AliyunInfra extends pulumi.ComponentResource {
    constructor(name: string, args: InfraArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:infra:AliyunInfra", name, {}, opts);
        void args;
        this.registerOutputs({});
    }
}
