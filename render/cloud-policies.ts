// The cloud permissions of the cloud integration (kubeha:cloudIntegration), as the upstream projects document
// them: the instance roles of the masters (cloud controller manager and CSI controller) and, on Aliyun, of the
// workers (the CSI disk plugin asks the ECS API about its node's disks). No access keys: the controllers take
// the instance role's temporary credentials from the metadata service.

type Policy = { readonly Version: string; readonly Statement: readonly Record<string, unknown>[] };

/**
 * AWS cloud controller manager: the control-plane policy of kubernetes/cloud-provider-aws docs/prerequisites.md
 * (its list names elasticloadbalancing:AddTags twice; once here). Upstream calls it "a bit open"; what it opens is
 * what the service controller needs for classic and network load balancers and their security groups.
 */
export function awsCloudControllerPolicy(): Policy {
    const actions = [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeLaunchConfigurations",
        "autoscaling:DescribeTags",
        "ec2:DescribeInstances",
        "ec2:DescribeRegions",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:DescribeAvailabilityZones",
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:CreateVolume",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyVolume",
        "ec2:AttachVolume",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateRoute",
        "ec2:DeleteRoute",
        "ec2:DeleteSecurityGroup",
        "ec2:DeleteVolume",
        "ec2:DetachVolume",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeVpcs",
        "ec2:DescribeInstanceTopology",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:AttachLoadBalancerToSubnets",
        "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateLoadBalancerPolicy",
        "elasticloadbalancing:CreateLoadBalancerListeners",
        "elasticloadbalancing:ConfigureHealthCheck",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:DeleteLoadBalancerListeners",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DetachLoadBalancerFromSubnets",
        "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
        "iam:CreateServiceLinkedRole",
        "kms:DescribeKey",
    ];
    return { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: actions, Resource: ["*"] }] };
}

const ec2 = (kind: string) => `arn:aws:ec2:*:*:${kind}/*`;
const allow = (action: string[], resource: string | string[], condition?: Record<string, unknown>) => ({
    Effect: "Allow",
    Action: action,
    Resource: resource,
    ...(condition ? { Condition: condition } : {}),
});

/**
 * EBS CSI controller: kubernetes-sigs/aws-ebs-csi-driver docs/example-iam-policy.json. Volumes and snapshots are
 * created only with the driver's own tags and deleted only when they carry them: the role cannot delete the
 * cluster's other volumes (etcd's and containerd's disks carry none of them).
 */
export function awsEbsCsiPolicy(): Policy {
    const volume = ec2("volume");
    const snapshot = ec2("snapshot");
    const tagged = (operator: string, key: string, value: string) => ({ [operator]: { [key]: value } });
    return {
        Version: "2012-10-17",
        Statement: [
            allow(
                [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeSnapshots",
                    "ec2:DescribeTags",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVolumesModifications",
                    "ec2:DescribeVolumeStatus",
                ],
                "*",
            ),
            allow(["ec2:CreateSnapshot", "ec2:ModifyVolume"], volume),
            allow(["ec2:CopyVolumes"], ["arn:aws:ec2:*:*:volume/vol-*"]),
            allow(["ec2:AttachVolume", "ec2:DetachVolume"], [volume, ec2("instance")]),
            allow(["ec2:CreateVolume", "ec2:EnableFastSnapshotRestores"], snapshot),
            allow(["ec2:CreateTags"], [volume, snapshot], {
                StringEquals: { "ec2:CreateAction": ["CreateVolume", "CreateSnapshot", "CopyVolumes"] },
            }),
            allow(["ec2:DeleteTags"], [volume, snapshot]),
            allow(
                ["ec2:CreateVolume", "ec2:CopyVolumes"],
                volume,
                tagged("StringLike", "aws:RequestTag/ebs.csi.aws.com/cluster", "true"),
            ),
            allow(
                ["ec2:CreateVolume", "ec2:CopyVolumes"],
                volume,
                tagged("StringLike", "aws:RequestTag/CSIVolumeName", "*"),
            ),
            allow(
                ["ec2:DeleteVolume"],
                volume,
                tagged("StringLike", "ec2:ResourceTag/ebs.csi.aws.com/cluster", "true"),
            ),
            allow(["ec2:DeleteVolume"], volume, tagged("StringLike", "ec2:ResourceTag/CSIVolumeName", "*")),
            allow(
                ["ec2:DeleteVolume"],
                volume,
                tagged("StringLike", "ec2:ResourceTag/kubernetes.io/created-for/pvc/name", "*"),
            ),
            allow(["ec2:CreateSnapshot"], snapshot, tagged("StringLike", "aws:RequestTag/CSIVolumeSnapshotName", "*")),
            allow(
                ["ec2:CreateSnapshot"],
                snapshot,
                tagged("StringLike", "aws:RequestTag/ebs.csi.aws.com/cluster", "true"),
            ),
            allow(["ec2:DeleteSnapshot"], snapshot, tagged("StringLike", "ec2:ResourceTag/CSIVolumeSnapshotName", "*")),
            allow(
                ["ec2:DeleteSnapshot"],
                snapshot,
                tagged("StringLike", "ec2:ResourceTag/ebs.csi.aws.com/cluster", "true"),
            ),
        ],
    };
}

/**
 * cloud-provider-alibaba-cloud: the statements of its docs/examples/master.policy that the cloud controller
 * manager's node and service controllers use (ECS descriptions, CLB, VPC). That example grants an ACK master
 * everything: its disk statements are the CSI driver's (below, narrower) and its container registry, monitoring,
 * log, NAS and ALB statements serve components kubeha does not install.
 */
export function aliyunCloudControllerPolicy(): Policy {
    return {
        Version: "1",
        Statement: [
            // Upstream also lists ecs:DescribeNetworkInterfaces and ecs:DescribeInstanceAttribute, which this covers.
            { Action: ["ecs:Describe*"], Resource: ["*"], Effect: "Allow" },
            { Action: ["slb:*"], Resource: ["*"], Effect: "Allow" },
            { Action: ["vpc:*"], Resource: ["*"], Effect: "Allow" },
        ],
    };
}

/** alibaba-cloud-csi-driver docs/ram-policies/disk/controller.json (it lists ecs:CreateSnapshot twice; once here). */
export function aliyunCsiDiskControllerPolicy(): Policy {
    const actions = [
        "ecs:AddTags",
        "ecs:AttachDisk",
        "ecs:CreateDisk",
        "ecs:CreateSnapshot",
        "ecs:CreateSnapshotGroup",
        "ecs:DeleteDisk",
        "ecs:DeleteSnapshot",
        "ecs:DeleteSnapshotGroup",
        "ecs:DescribeDisks",
        "ecs:DescribeInstanceAttribute",
        "ecs:DescribeInstanceHistoryEvents",
        "ecs:DescribeInstances",
        "ecs:DescribeSnapshotGroups",
        "ecs:DescribeSnapshots",
        "ecs:DescribeTags",
        "ecs:DescribeTaskAttribute",
        "ecs:DescribeTasks",
        "ecs:DetachDisk",
        "ecs:ListTagResources",
        "ecs:ModifyDiskAttribute",
        "ecs:ModifyDiskSpec",
        "ecs:RemoveTags",
        "ecs:ResizeDisk",
        "ecs:TagResources",
        "ecs:UntagResources",
    ];
    return { Version: "1", Statement: [{ Action: actions, Resource: ["*"], Effect: "Allow" }] };
}

/** alibaba-cloud-csi-driver docs/ram-policies/disk/node.json: what the disk plugin on every node asks ECS. */
export function aliyunCsiDiskNodePolicy(): Policy {
    const actions = [
        "ecs:AddTags",
        "ecs:DeleteSnapshot",
        "ecs:DescribeDisks",
        "ecs:DescribeInstanceAttribute",
        "ecs:DescribeInstanceHistoryEvents",
        "ecs:DescribeInstances",
        "ecs:DescribeSnapshots",
        "ecs:DescribeTags",
        "ecs:DescribeTaskAttribute",
        "ecs:ListTagResources",
        "ecs:RemoveTags",
        "ecs:TagResources",
        "ecs:UntagResources",
    ];
    return { Version: "1", Statement: [{ Action: actions, Resource: ["*"], Effect: "Allow" }] };
}
