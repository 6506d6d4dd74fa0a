// AWS: the masters' instance role for the cloud integration's controllers (policies.ts): the cloud
// controller manager's policy and the EBS CSI controller's, each change scoped to resources tagged as this
// cluster's (kubernetes.io/cluster/<name>), as kops scopes them. Both controllers run on the masters on the host's
// network: the metadata service answers one hop only (infra.ts), so only host-network pods get the role's
// credentials, and workers need no role at all (the CSI node plugin reads its node from the Kubernetes API).
// An instance holds one role: masters that run etcd members already hold the backup role, which then carries
// these policies too.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { awsCloudControllerPolicy, awsEbsCsiPolicy } from "./policies";

export interface AwsControllerRoleArgs {
    /** `<project>-<stack>`: names the role. */
    readonly clusterName: string;
    /** The role (and its instance profile) the masters hold already, if any. */
    readonly mastersRole?: { readonly roleName: pulumi.Input<string>; readonly instanceProfile: pulumi.Input<string> };
}

export class AwsControllerRole extends pulumi.ComponentResource {
    /** The masters' instance profile (ec2.Instance iamInstanceProfile). */
    readonly instanceProfile: pulumi.Output<string>;

    constructor(name: string, args: AwsControllerRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:aws:ControllerRole", name, {}, opts);
        const parent = { parent: this };
        let roleName: pulumi.Input<string>;
        if (args.mastersRole) {
            roleName = args.mastersRole.roleName;
            this.instanceProfile = pulumi.output(args.mastersRole.instanceProfile);
        } else {
            const iamName = `${args.clusterName
                .toLowerCase()
                .replace(/[^a-z0-9-]+/g, "-")
                .slice(0, 50)}-masters`;
            const role = new aws.iam.Role(
                `${name}-role`,
                {
                    name: iamName,
                    description: "masters of this cluster: its cloud controller manager and EBS CSI controller",
                    assumeRolePolicy: JSON.stringify({
                        Version: "2012-10-17",
                        Statement: [
                            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
                        ],
                    }),
                },
                parent,
            );
            roleName = role.name;
            this.instanceProfile = new aws.iam.InstanceProfile(
                `${name}-profile`,
                { name: iamName, role: role.name },
                parent,
            ).name;
        }
        new aws.iam.RolePolicy(
            `${name}-cloud-controller-manager`,
            { role: roleName, policy: JSON.stringify(awsCloudControllerPolicy(args.clusterName)) },
            parent,
        );
        new aws.iam.RolePolicy(
            `${name}-ebs-csi-controller`,
            { role: roleName, policy: JSON.stringify(awsEbsCsiPolicy(args.clusterName)) },
            parent,
        );
        this.registerOutputs({ instanceProfile: this.instanceProfile });
    }
}
