// The AWS permissions of the cloud integration (kubeha:cloudIntegration), as the upstream projects document them:
// the masters' instance role (cloud controller manager and EBS CSI controller). No access keys: the controllers
// take the instance role's temporary credentials from the metadata service.
import { Policy } from "../policy";

/** The tag the AWS controllers put on what they create, and kubeha on what it gives them (infra.ts). */
export const awsClusterTag = (clusterName: string) => `kubernetes.io/cluster/${clusterName}`;

const ec2 = (kind: string) => `arn:aws:ec2:*:*:${kind}/*`;
const allow = (action: string[], resource: string | string[], condition?: Record<string, unknown>) => ({
    Effect: "Allow",
    Action: action,
    Resource: resource,
    ...(condition ? { Condition: condition } : {}),
});

/** Conditions on the cluster tag: on the resource acted on, on the tags a create request sets. */
function clusterConditions(clusterName: string) {
    const key = awsClusterTag(clusterName);
    return {
        /** The resource already carries the cluster's tag: this cluster's node, security group, load balancer. */
        owned: { StringEquals: { [`aws:ResourceTag/${key}`]: "owned" } },
        /** The create request tags the new resource as the cluster's. */
        creates: { StringEquals: { [`aws:RequestTag/${key}`]: "owned" } },
        /** Tags changed on the cluster's resources, the cluster tag itself left alone (nothing adopted or freed). */
        retag: {
            StringEquals: { [`aws:ResourceTag/${key}`]: "owned" },
            "ForAllValues:StringNotEquals": { "aws:TagKeys": [key] },
        },
    };
}

/**
 * AWS cloud controller manager: the actions of kubernetes/cloud-provider-aws docs/prerequisites.md (control plane
 * policy) that its node and service controllers call here, scoped as kops scopes them (pkg/model/iam): reads on
 * everything (they take no condition), every change only on resources tagged `kubernetes.io/cluster/<name>: owned`
 * (the nodes' instances and security groups, which infra.ts tags, and the load balancers and security groups
 * the controller creates), and every create only when the request itself sets that tag. Left out: the volume
 * actions (the EBS CSI driver's, below) and the route actions (--configure-cloud-routes=false: flannel routes).
 */
export function awsCloudControllerPolicy(clusterName: string): Policy {
    const { owned, creates, retag } = clusterConditions(clusterName);
    return {
        Version: "2012-10-17",
        Statement: [
            allow(
                [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTopology",
                    "ec2:DescribeRegions",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVpcs",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeLoadBalancerPolicies",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "kms:DescribeKey",
                ],
                "*",
            ),
            // A load balancer's security group: created in the cluster's VPC (tagged by infra.ts), tagged in the
            // same request.
            allow(["ec2:CreateSecurityGroup"], ec2("vpc"), owned),
            allow(["ec2:CreateSecurityGroup"], ec2("security-group"), creates),
            allow(["ec2:CreateTags"], ec2("security-group"), {
                StringEquals: { ...creates.StringEquals, "ec2:CreateAction": ["CreateSecurityGroup"] },
            }),
            allow(["ec2:CreateTags"], ec2("security-group"), retag),
            allow(
                [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:DeleteSecurityGroup",
                    "ec2:ModifyInstanceAttribute",
                    "ec2:RevokeSecurityGroupIngress",
                ],
                "*",
                owned,
            ),
            // Load balancers, target groups and listeners: created with the cluster tag, changed only when they
            // carry it. AddTags on create is its own authorization (ELB tag-on-create): only with those creates.
            allow(
                [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:CreateLoadBalancer",
                    "elasticloadbalancing:CreateTargetGroup",
                ],
                "*",
                creates,
            ),
            allow(["elasticloadbalancing:AddTags"], "*", {
                StringEquals: {
                    ...creates.StringEquals,
                    "elasticloadbalancing:CreateAction": ["CreateListener", "CreateLoadBalancer", "CreateTargetGroup"],
                },
            }),
            // The controller re-applies its tags (the cluster's among them) to what it owns.
            allow(["elasticloadbalancing:AddTags"], "*", owned),
            allow(
                [
                    "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
                    "elasticloadbalancing:AttachLoadBalancerToSubnets",
                    "elasticloadbalancing:ConfigureHealthCheck",
                    "elasticloadbalancing:CreateLoadBalancerListeners",
                    "elasticloadbalancing:CreateLoadBalancerPolicy",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:DeleteLoadBalancerListeners",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
                    "elasticloadbalancing:DeregisterTargets",
                    "elasticloadbalancing:DetachLoadBalancerFromSubnets",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                    "elasticloadbalancing:RegisterTargets",
                    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
                    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
                ],
                "*",
                owned,
            ),
            // The first load balancer of an account creates ELB's service-linked role; no other role.
            allow(["iam:CreateServiceLinkedRole"], "*", {
                StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" },
            }),
        ],
    };
}

/**
 * EBS CSI controller: the actions of kubernetes-sigs/aws-ebs-csi-driver docs/example-iam-policy.json that the
 * sidecars kubeha runs use (provisioner, attacher, resizer: no snapshotter, so no snapshot actions, and no volume
 * copies), scoped to this cluster: the driver tags every volume `kubernetes.io/cluster/<name>: owned`
 * (--k8s-tag-cluster-id), and every volume action needs that tag, where upstream's `ebs.csi.aws.com/cluster`
 * matches every cluster's volumes in the account. Attach and detach also need the tag on the instance, which only
 * the cluster's nodes carry, not etcd's or containerd's disks.
 */
export function awsEbsCsiPolicy(clusterName: string): Policy {
    const { owned, creates, retag } = clusterConditions(clusterName);
    const volume = ec2("volume");
    return {
        Version: "2012-10-17",
        Statement: [
            allow(
                [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeTags",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVolumesModifications",
                    "ec2:DescribeVolumeStatus",
                ],
                "*",
            ),
            allow(["ec2:CreateVolume"], volume, creates),
            allow(["ec2:CreateTags"], volume, {
                StringEquals: { ...creates.StringEquals, "ec2:CreateAction": ["CreateVolume"] },
            }),
            allow(["ec2:CreateTags", "ec2:DeleteTags"], volume, retag),
            allow(["ec2:AttachVolume", "ec2:DetachVolume"], [volume, ec2("instance")], owned),
            allow(["ec2:DeleteVolume", "ec2:ModifyVolume"], volume, owned),
        ],
    };
}
