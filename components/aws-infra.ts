// AWS: a VPC across AZs, bastion, private masters and workers, the API NLB and a Route53 private zone.
import * as aws from "@pulumi/aws";

/** The region's first three standard availability zones (no opt-in local or wavelength zones). */
export async function discoverAwsZones(): Promise<string[]> {
    const zones = await aws.getAvailabilityZones({
        state: "available",
        filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
    });
    return [...zones.names].sort().slice(0, 3);
}
