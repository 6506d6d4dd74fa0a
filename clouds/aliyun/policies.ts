// The Aliyun permissions of the cloud integration (kubeha:cloudIntegration), as the upstream projects document them:
// the RAM roles of the masters (cloud controller manager and CSI disk controller) and of the workers (the CSI disk
// plugin asks the ECS API about its node's disks). No access keys: the controllers take the instance role's
// temporary credentials from the metadata service.
import { Policy } from "../policy";

/** Aliyun RAM resources: everything of one service in the cluster's region (acs:<service>:<region>:<account>:...). */
const inRegion = (service: string, region: string) => [`acs:${service}:${region}:*:*`];

/**
 * cloud-provider-alibaba-cloud: the API calls its controllers make here, read from its source (pkg/provider/alibaba):
 * the node controller describes instances; the service controller (CLB, its default) manages load balancers,
 * listeners, server groups, access lists, certificates and tags, and asks which network interface and EIP an
 * address belongs to. Not granted: routes (--configure-cloud-routes=false), NLB Services (not supported by kubeha),
 * its ALB ingress and PrivateZone controllers (not enabled), and every other ECS read: upstream's example grants
 * `ecs:Describe*`, which includes DescribeUserData (a host's user-data holds its SSH host key), and `vpc:*`/`slb:*`.
 * All in the cluster's region.
 */
export function aliyunCloudControllerPolicy(region: string): Policy {
    const slb = [
        "AddVServerGroupBackendServers",
        "CreateAccessControlList",
        "CreateDomainExtension",
        "CreateLoadBalancer",
        "CreateLoadBalancerHTTPListener",
        "CreateLoadBalancerHTTPSListener",
        "CreateLoadBalancerTCPListener",
        "CreateLoadBalancerUDPListener",
        "CreateVServerGroup",
        "DeleteAccessControlList",
        "DeleteDomainExtension",
        "DeleteLoadBalancer",
        "DeleteLoadBalancerListener",
        "DeleteVServerGroup",
        "DescribeAccessControlLists",
        "DescribeAvailableResource",
        "DescribeCACertificates",
        "DescribeDomainExtensions",
        "DescribeLoadBalancerAttribute",
        "DescribeLoadBalancerListeners",
        "DescribeLoadBalancers",
        "DescribeServerCertificates",
        "DescribeVServerGroupAttribute",
        "DescribeVServerGroups",
        "ListTagResources",
        "ModifyLoadBalancerInstanceChargeType",
        "ModifyLoadBalancerInstanceSpec",
        "ModifyLoadBalancerInternetSpec",
        "ModifyVServerGroupBackendServers",
        "RemoveVServerGroupBackendServers",
        "SetDomainExtensionAttribute",
        "SetLoadBalancerDeleteProtection",
        "SetLoadBalancerHTTPListenerAttribute",
        "SetLoadBalancerHTTPSListenerAttribute",
        "SetLoadBalancerModificationProtection",
        "SetLoadBalancerName",
        "SetLoadBalancerTCPListenerAttribute",
        "SetLoadBalancerUDPListenerAttribute",
        "SetVServerGroupAttribute",
        "StartLoadBalancerListener",
        "StopLoadBalancerListener",
        "TagResources",
        "UntagResources",
    ];
    return {
        Version: "1",
        Statement: [
            {
                Action: ["ecs:DescribeInstances", "ecs:DescribeNetworkInterfaces"],
                Resource: inRegion("ecs", region),
                Effect: "Allow",
            },
            { Action: ["vpc:DescribeEipAddresses"], Resource: inRegion("vpc", region), Effect: "Allow" },
            { Action: slb.map((action) => `slb:${action}`), Resource: inRegion("slb", region), Effect: "Allow" },
        ],
    };
}

/**
 * alibaba-cloud-csi-driver docs/ram-policies/disk/controller.json without its snapshot actions (kubeha installs no
 * snapshot controller, so nothing asks for one) and only in the cluster's region.
 */
export function aliyunCsiDiskControllerPolicy(region: string): Policy {
    const actions = [
        "ecs:AddTags",
        "ecs:AttachDisk",
        "ecs:CreateDisk",
        "ecs:DeleteDisk",
        "ecs:DescribeDisks",
        "ecs:DescribeInstanceAttribute",
        "ecs:DescribeInstanceHistoryEvents",
        "ecs:DescribeInstances",
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
    return { Version: "1", Statement: [{ Action: actions, Resource: inRegion("ecs", region), Effect: "Allow" }] };
}

/**
 * alibaba-cloud-csi-driver docs/ram-policies/disk/node.json, what the disk plugin on every node asks ECS, without
 * ecs:DeleteSnapshot: only the driver's controller deletes snapshots (pkg/disk/controllerserver.go), and upstream's
 * grant let any worker delete every snapshot of the account. Only in the cluster's region.
 */
export function aliyunCsiDiskNodePolicy(region: string): Policy {
    const actions = [
        "ecs:AddTags",
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
    return { Version: "1", Statement: [{ Action: actions, Resource: inRegion("ecs", region), Effect: "Allow" }] };
}
