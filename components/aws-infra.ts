// AWS: a VPC across AZs, bastion, private masters and workers, the API NLB and a Route53 private zone.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { InfraArgs } from "./hosts";

/** The region's first three standard availability zones (no opt-in local or wavelength zones). */
export async function discoverAwsZones(): Promise<string[]> {
    const zones = await aws.getAvailabilityZones({
        state: "available",
        filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
    });
    return [...zones.names].sort().slice(0, 3);
}

// Skeleton until issue 7 lands: creates nothing yet.
export class AwsInfra extends pulumi.ComponentResource {
    constructor(name: string, args: InfraArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:infra:AwsInfra", name, {}, opts);
        void args;
        this.registerOutputs({});
    }
}
