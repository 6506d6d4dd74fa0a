// The cloud API actions `pulumi up`, `refresh` and `destroy` need, per resource type and provider function the
// program uses: what the identity that runs Pulumi must be allowed (docs/permissions.md). Each row cites the
// provider's documentation of the resource (the Pulumi providers bridge these Terraform providers: the pages name
// the API each resource calls) and, for AWS, the Service Authorization Reference of the service (Aliyun's API
// pages give each operation's RAM action in their "Authorization information" table). Compiled from those documents and
// the providers' create/read/update/delete calls, not from a run against a cloud account.
export type Cloud = "aws" | "aliyun";

export interface CloudActions {
    /** Pulumi type token of a resource, or of a provider function (invoke). */
    readonly token: string;
    readonly actions: readonly string[];
    /** Where the actions come from. */
    readonly sources: readonly string[];
}

const awsDocs = (page: string) =>
    `https://github.com/hashicorp/terraform-provider-aws/blob/main/website/docs/${page}.html.markdown`;
const awsActions = (service: string) =>
    `https://docs.aws.amazon.com/service-authorization/latest/reference/list_${service}.html`;
const aliyunDocs = (page: string) =>
    `https://github.com/aliyun/terraform-provider-alicloud/blob/master/website/docs/${page}.html.markdown`;

const ec2 = awsActions("amazonec2");
const elb = awsActions("awselasticloadbalancingv2");
const route53 = awsActions("amazonroute53");
const iam = awsActions("awsidentityandaccessmanagementiam");
const s3 = awsActions("amazons3");

const ec2Tags = ["ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeTags"];
const elbTags = [
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:DescribeTags",
];

export const awsActionTable: readonly CloudActions[] = [
    {
        token: "aws:ec2/vpc:Vpc",
        actions: [
            "ec2:CreateVpc",
            "ec2:DescribeVpcs",
            "ec2:DescribeVpcAttribute",
            "ec2:ModifyVpcAttribute",
            "ec2:DeleteVpc",
            // The provider reads the VPC's default network ACL, route table and security group.
            "ec2:DescribeNetworkAcls",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/vpc"), ec2],
    },
    {
        token: "aws:ec2/internetGateway:InternetGateway",
        actions: [
            "ec2:CreateInternetGateway",
            "ec2:AttachInternetGateway",
            "ec2:DescribeInternetGateways",
            "ec2:DetachInternetGateway",
            "ec2:DeleteInternetGateway",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/internet_gateway"), ec2],
    },
    {
        token: "aws:ec2/subnet:Subnet",
        actions: [
            "ec2:CreateSubnet",
            "ec2:DescribeSubnets",
            "ec2:ModifySubnetAttribute",
            "ec2:DeleteSubnet",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/subnet"), ec2],
    },
    {
        token: "aws:ec2/routeTable:RouteTable",
        actions: [
            "ec2:CreateRouteTable",
            "ec2:DescribeRouteTables",
            "ec2:CreateRoute",
            "ec2:ReplaceRoute",
            "ec2:DeleteRoute",
            "ec2:DeleteRouteTable",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/route_table"), ec2],
    },
    {
        token: "aws:ec2/routeTableAssociation:RouteTableAssociation",
        actions: [
            "ec2:AssociateRouteTable",
            "ec2:ReplaceRouteTableAssociation",
            "ec2:DisassociateRouteTable",
            "ec2:DescribeRouteTables",
        ],
        sources: [awsDocs("r/route_table_association"), ec2],
    },
    {
        token: "aws:ec2/route:Route",
        actions: ["ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:DescribeRouteTables"],
        sources: [awsDocs("r/route"), ec2],
    },
    {
        token: "aws:ec2/eip:Eip",
        actions: [
            "ec2:AllocateAddress",
            "ec2:DescribeAddresses",
            "ec2:DescribeAddressesAttribute",
            "ec2:AssociateAddress",
            "ec2:DisassociateAddress",
            "ec2:ReleaseAddress",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/eip"), ec2],
    },
    {
        token: "aws:ec2/subnetCidrReservation:SubnetCidrReservation",
        actions: [
            "ec2:CreateSubnetCidrReservation",
            "ec2:GetSubnetCidrReservations",
            "ec2:DeleteSubnetCidrReservation",
        ],
        sources: [awsDocs("r/ec2_subnet_cidr_reservation"), ec2],
    },
    {
        token: "aws:ec2/natGateway:NatGateway",
        actions: ["ec2:CreateNatGateway", "ec2:DescribeNatGateways", "ec2:DeleteNatGateway", ...ec2Tags],
        sources: [awsDocs("r/nat_gateway"), ec2],
    },
    {
        token: "aws:ec2/securityGroup:SecurityGroup",
        actions: [
            "ec2:CreateSecurityGroup",
            "ec2:DescribeSecurityGroups",
            // The provider removes the default allow-all egress rule of a new group, and empties a group it deletes.
            "ec2:RevokeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:DeleteSecurityGroup",
            // Deleting waits for the network interfaces that still use the group.
            "ec2:DescribeNetworkInterfaces",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/security_group"), ec2],
    },
    {
        token: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        actions: [
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:DescribeSecurityGroupRules",
            "ec2:ModifySecurityGroupRules",
            "ec2:RevokeSecurityGroupIngress",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/vpc_security_group_ingress_rule"), ec2],
    },
    {
        token: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        actions: [
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:DescribeSecurityGroupRules",
            "ec2:ModifySecurityGroupRules",
            "ec2:RevokeSecurityGroupEgress",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/vpc_security_group_egress_rule"), ec2],
    },
    {
        token: "aws:route53/zone:Zone",
        actions: [
            "route53:CreateHostedZone",
            "route53:GetHostedZone",
            "route53:UpdateHostedZoneComment",
            "route53:DeleteHostedZone",
            "route53:GetChange",
            "route53:ListTagsForResource",
            "route53:ChangeTagsForResource",
            // A private zone is created with its VPC: Route 53 checks the VPC through EC2.
            "route53:AssociateVPCWithHostedZone",
            "route53:DisassociateVPCFromHostedZone",
            "ec2:DescribeVpcs",
        ],
        sources: [awsDocs("r/route53_zone"), route53],
    },
    {
        token: "aws:route53/record:Record",
        actions: [
            "route53:ChangeResourceRecordSets",
            "route53:ListResourceRecordSets",
            "route53:GetHostedZone",
            "route53:GetChange",
        ],
        sources: [awsDocs("r/route53_record"), route53],
    },
    {
        token: "aws:ec2/keyPair:KeyPair",
        actions: ["ec2:ImportKeyPair", "ec2:DescribeKeyPairs", "ec2:DeleteKeyPair", ...ec2Tags],
        sources: [awsDocs("r/key_pair"), ec2],
    },
    {
        token: "aws:ec2/instance:Instance",
        actions: [
            "ec2:RunInstances",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstanceCreditSpecifications",
            "ec2:DescribeInstanceMaintenanceOptions",
            // The root device's name comes from the image; the root and data volumes are read back.
            "ec2:DescribeImages",
            "ec2:DescribeVolumes",
            "ec2:DescribeNetworkInterfaces",
            "ec2:ModifyInstanceAttribute",
            "ec2:ModifyInstanceMetadataOptions",
            "ec2:ModifyVolume",
            "ec2:StopInstances",
            "ec2:StartInstances",
            "ec2:TerminateInstances",
            // The instance profile (masters, etcd members): its role is passed to EC2.
            "ec2:AssociateIamInstanceProfile",
            "ec2:DescribeIamInstanceProfileAssociations",
            "ec2:ReplaceIamInstanceProfileAssociation",
            "ec2:DisassociateIamInstanceProfile",
            "iam:PassRole",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/instance"), ec2, iam],
    },
    {
        token: "aws:ebs/volume:Volume",
        actions: [
            "ec2:CreateVolume",
            "ec2:DescribeVolumes",
            "ec2:ModifyVolume",
            "ec2:DescribeVolumesModifications",
            "ec2:DeleteVolume",
            ...ec2Tags,
        ],
        sources: [awsDocs("r/ebs_volume"), ec2],
    },
    {
        token: "aws:ec2/volumeAttachment:VolumeAttachment",
        actions: ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:DescribeVolumes", "ec2:DescribeInstances"],
        sources: [awsDocs("r/volume_attachment"), ec2],
    },
    {
        token: "aws:lb/loadBalancer:LoadBalancer",
        actions: [
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:DescribeCapacityReservation",
            "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:DeleteLoadBalancer",
            ...elbTags,
            // Deleting waits for the load balancer's network interfaces to go.
            "ec2:DescribeNetworkInterfaces",
            // The account's first load balancer creates Elastic Load Balancing's service-linked role.
            "iam:CreateServiceLinkedRole",
        ],
        sources: [awsDocs("r/lb"), elb],
    },
    {
        token: "aws:lb/targetGroup:TargetGroup",
        actions: [
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:DeleteTargetGroup",
            ...elbTags,
        ],
        sources: [awsDocs("r/lb_target_group"), elb],
    },
    {
        token: "aws:lb/listener:Listener",
        actions: [
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeListenerAttributes",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyListenerAttributes",
            "elasticloadbalancing:DeleteListener",
            ...elbTags,
        ],
        sources: [awsDocs("r/lb_listener"), elb],
    },
    {
        token: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
        actions: [
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:DeregisterTargets",
        ],
        sources: [awsDocs("r/lb_target_group_attachment"), elb],
    },
    {
        token: "aws:s3/bucket:Bucket",
        actions: [
            "s3:CreateBucket",
            "s3:ListBucket",
            "s3:DeleteBucket",
            "s3:GetBucketTagging",
            "s3:PutBucketTagging",
            // The provider reads every configuration of the bucket back (each its own call).
            "s3:GetBucketLocation",
            "s3:GetBucketPolicy",
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketWebsite",
            "s3:GetBucketVersioning",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketLogging",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:GetEncryptionConfiguration",
            "s3:GetBucketObjectLockConfiguration",
        ],
        sources: [awsDocs("r/s3_bucket"), s3],
    },
    {
        token: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        // DeletePublicAccessBlock is authorized by s3:PutBucketPublicAccessBlock.
        actions: ["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"],
        sources: [awsDocs("r/s3_bucket_public_access_block"), s3],
    },
    {
        token: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        actions: ["s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"],
        sources: [awsDocs("r/s3_bucket_server_side_encryption_configuration"), s3],
    },
    {
        token: "aws:s3/bucketVersioning:BucketVersioning",
        actions: ["s3:PutBucketVersioning", "s3:GetBucketVersioning"],
        sources: [awsDocs("r/s3_bucket_versioning"), s3],
    },
    {
        token: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        // DeleteBucketLifecycle is authorized by s3:PutLifecycleConfiguration.
        actions: ["s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"],
        sources: [awsDocs("r/s3_bucket_lifecycle_configuration"), s3],
    },
    {
        token: "aws:iam/role:Role",
        actions: [
            "iam:CreateRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy",
            "iam:DeleteRole",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
            "iam:TagRole",
            "iam:UntagRole",
        ],
        sources: [awsDocs("r/iam_role"), iam],
    },
    {
        token: "aws:iam/rolePolicy:RolePolicy",
        actions: ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
        sources: [awsDocs("r/iam_role_policy"), iam],
    },
    {
        token: "aws:iam/instanceProfile:InstanceProfile",
        actions: [
            "iam:CreateInstanceProfile",
            "iam:GetInstanceProfile",
            "iam:AddRoleToInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:DeleteInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:UntagInstanceProfile",
        ],
        sources: [awsDocs("r/iam_instance_profile"), iam],
    },
    { token: "aws:ec2/getAmi:getAmi", actions: ["ec2:DescribeImages"], sources: [awsDocs("d/ami"), ec2] },
    {
        token: "aws:ec2/getInstanceType:getInstanceType",
        actions: ["ec2:DescribeInstanceTypes"],
        sources: [awsDocs("d/ec2_instance_type"), ec2],
    },
    {
        token: "aws:index/getAvailabilityZones:getAvailabilityZones",
        actions: ["ec2:DescribeAvailabilityZones"],
        sources: [awsDocs("d/availability_zones"), ec2],
    },
];

const ecsTags = ["ecs:TagResources", "ecs:UntagResources", "ecs:ListTagResources"];
const vpcTags = ["vpc:TagResources", "vpc:UnTagResources", "vpc:ListTagResources"];
const nlbTags = ["nlb:TagResources", "nlb:UntagResources", "nlb:ListTagResources"];

export const aliyunActionTable: readonly CloudActions[] = [
    {
        token: "alicloud:vpc/network:Network",
        actions: [
            "vpc:CreateVpc",
            "vpc:DescribeVpcs",
            "vpc:DescribeVpcAttribute",
            "vpc:ModifyVpcAttribute",
            "vpc:DescribeRouteTableList",
            "vpc:DeleteVpc",
            ...vpcTags,
        ],
        sources: [aliyunDocs("r/vpc")],
    },
    {
        token: "alicloud:vpc/switch:Switch",
        actions: [
            "vpc:CreateVSwitch",
            "vpc:DescribeVSwitches",
            "vpc:DescribeVSwitchAttributes",
            "vpc:ModifyVSwitchAttribute",
            "vpc:DeleteVSwitch",
            ...vpcTags,
        ],
        sources: [aliyunDocs("r/vswitch")],
    },
    {
        token: "alicloud:vpc/natGateway:NatGateway",
        actions: [
            "vpc:CreateNatGateway",
            "vpc:DescribeNatGateways",
            "vpc:GetNatGatewayAttribute",
            "vpc:ModifyNatGatewayAttribute",
            "vpc:DeleteNatGateway",
            ...vpcTags,
            // The account's first NAT gateway creates NAT Gateway's service-linked role.
            "ram:CreateServiceLinkedRole",
        ],
        sources: [aliyunDocs("r/nat_gateway")],
    },
    {
        token: "alicloud:vpc/snatEntry:SnatEntry",
        actions: ["vpc:CreateSnatEntry", "vpc:DescribeSnatTableEntries", "vpc:ModifySnatEntry", "vpc:DeleteSnatEntry"],
        sources: [aliyunDocs("r/snat_entry")],
    },
    {
        token: "alicloud:ecs/eipAddress:EipAddress",
        actions: [
            "vpc:AllocateEipAddress",
            "vpc:DescribeEipAddresses",
            "vpc:ModifyEipAddressAttribute",
            "vpc:ReleaseEipAddress",
            ...vpcTags,
        ],
        sources: [aliyunDocs("r/eip_address")],
    },
    {
        token: "alicloud:ecs/eipAssociation:EipAssociation",
        actions: ["vpc:AssociateEipAddress", "vpc:UnassociateEipAddress", "vpc:DescribeEipAddresses"],
        sources: [aliyunDocs("r/eip_association")],
    },
    {
        token: "alicloud:ecs/securityGroup:SecurityGroup",
        actions: [
            "ecs:CreateSecurityGroup",
            "ecs:DescribeSecurityGroups",
            "ecs:DescribeSecurityGroupAttribute",
            "ecs:ModifySecurityGroupAttribute",
            "ecs:ModifySecurityGroupPolicy",
            "ecs:DeleteSecurityGroup",
            ...ecsTags,
        ],
        sources: [aliyunDocs("r/security_group")],
    },
    {
        token: "alicloud:ecs/securityGroupRule:SecurityGroupRule",
        actions: [
            "ecs:AuthorizeSecurityGroup",
            "ecs:AuthorizeSecurityGroupEgress",
            "ecs:DescribeSecurityGroupAttribute",
            "ecs:ModifySecurityGroupRule",
            "ecs:ModifySecurityGroupEgressRule",
            "ecs:RevokeSecurityGroup",
            "ecs:RevokeSecurityGroupEgress",
        ],
        sources: [aliyunDocs("r/security_group_rule")],
    },
    {
        token: "alicloud:ecs/ecsKeyPair:EcsKeyPair",
        actions: ["ecs:ImportKeyPair", "ecs:DescribeKeyPairs", "ecs:DeleteKeyPairs", ...ecsTags],
        sources: [aliyunDocs("r/ecs_key_pair")],
    },
    {
        token: "alicloud:ecs/instance:Instance",
        actions: [
            "ecs:RunInstances",
            "ecs:DescribeInstances",
            "ecs:DescribeInstanceAttribute",
            "ecs:DescribeInstanceStatus",
            "ecs:DescribeUserData",
            "ecs:DescribeDisks",
            "ecs:DescribeNetworkInterfaces",
            "ecs:DescribeInstanceRamRole",
            "ecs:ModifyInstanceAttribute",
            "ecs:ModifyInstanceMetadataOptions",
            "ecs:ModifyInstanceSpec",
            "ecs:ModifyDiskAttribute",
            "ecs:ResizeDisk",
            "ecs:JoinSecurityGroup",
            "ecs:LeaveSecurityGroup",
            "ecs:StopInstance",
            "ecs:StartInstance",
            "ecs:DeleteInstance",
            ...ecsTags,
        ],
        sources: [aliyunDocs("r/instance")],
    },
    {
        token: "alicloud:ecs/ecsDisk:EcsDisk",
        actions: [
            "ecs:CreateDisk",
            "ecs:DescribeDisks",
            "ecs:ModifyDiskAttribute",
            "ecs:ModifyDiskSpec",
            "ecs:ResizeDisk",
            "ecs:DeleteDisk",
            ...ecsTags,
        ],
        sources: [aliyunDocs("r/ecs_disk")],
    },
    {
        token: "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment",
        actions: ["ecs:AttachDisk", "ecs:DetachDisk", "ecs:DescribeDisks"],
        sources: [aliyunDocs("r/ecs_disk_attachment")],
    },
    {
        token: "alicloud:ecs/ramRoleAttachment:RamRoleAttachment",
        // Attaching a role to an instance passes it to ECS.
        actions: [
            "ecs:AttachInstanceRamRole",
            "ecs:DescribeInstanceRamRole",
            "ecs:DetachInstanceRamRole",
            "ram:PassRole",
        ],
        sources: [aliyunDocs("r/ram_role_attachment")],
    },
    {
        token: "alicloud:nlb/loadBalancer:LoadBalancer",
        actions: [
            "nlb:CreateLoadBalancer",
            "nlb:GetLoadBalancerAttribute",
            "nlb:ListLoadBalancers",
            "nlb:UpdateLoadBalancerAttribute",
            "nlb:UpdateLoadBalancerZones",
            "nlb:UpdateLoadBalancerAddressTypeConfig",
            "nlb:LoadBalancerJoinSecurityGroup",
            "nlb:LoadBalancerLeaveSecurityGroup",
            "nlb:DeleteLoadBalancer",
            ...nlbTags,
            // The account's first NLB creates NLB's service-linked role.
            "ram:CreateServiceLinkedRole",
        ],
        sources: [aliyunDocs("r/nlb_load_balancer")],
    },
    {
        token: "alicloud:nlb/serverGroup:ServerGroup",
        actions: [
            "nlb:CreateServerGroup",
            "nlb:ListServerGroups",
            "nlb:UpdateServerGroupAttribute",
            "nlb:DeleteServerGroup",
            ...nlbTags,
        ],
        sources: [aliyunDocs("r/nlb_server_group")],
    },
    {
        token: "alicloud:nlb/listener:Listener",
        actions: [
            "nlb:CreateListener",
            "nlb:GetListenerAttribute",
            "nlb:ListListeners",
            "nlb:UpdateListenerAttribute",
            "nlb:StartListener",
            "nlb:StopListener",
            "nlb:DeleteListener",
            ...nlbTags,
        ],
        sources: [aliyunDocs("r/nlb_listener")],
    },
    {
        token: "alicloud:nlb/serverGroupServerAttachment:ServerGroupServerAttachment",
        actions: [
            "nlb:AddServersToServerGroup",
            "nlb:ListServerGroupServers",
            "nlb:UpdateServerGroupServersAttribute",
            "nlb:RemoveServersFromServerGroup",
        ],
        sources: [aliyunDocs("r/nlb_server_group_server_attachment")],
    },
    {
        token: "alicloud:pvtz/zone:Zone",
        actions: [
            "pvtz:AddZone",
            "pvtz:DescribeZoneInfo",
            "pvtz:DescribeZones",
            "pvtz:UpdateZoneRemark",
            "pvtz:DeleteZone",
        ],
        sources: [aliyunDocs("r/pvtz_zone")],
    },
    {
        token: "alicloud:pvtz/zoneAttachment:ZoneAttachment",
        // Binding a zone to a VPC reads the VPC.
        actions: ["pvtz:BindZoneVpc", "pvtz:DescribeZoneInfo", "vpc:DescribeVpcs"],
        sources: [aliyunDocs("r/pvtz_zone_attachment")],
    },
    {
        token: "alicloud:pvtz/zoneRecord:ZoneRecord",
        actions: [
            "pvtz:AddZoneRecord",
            "pvtz:DescribeZoneRecords",
            "pvtz:UpdateZoneRecord",
            "pvtz:SetZoneRecordStatus",
            "pvtz:DeleteZoneRecord",
        ],
        sources: [aliyunDocs("r/pvtz_zone_record")],
    },
    {
        token: "alicloud:ram/role:Role",
        actions: ["ram:CreateRole", "ram:GetRole", "ram:UpdateRole", "ram:ListPoliciesForRole", "ram:DeleteRole"],
        sources: [aliyunDocs("r/ram_role")],
    },
    {
        token: "alicloud:ram/policy:Policy",
        actions: [
            "ram:CreatePolicy",
            "ram:GetPolicy",
            "ram:GetPolicyVersion",
            "ram:ListPolicyVersions",
            "ram:CreatePolicyVersion",
            "ram:DeletePolicyVersion",
            "ram:UpdatePolicyDescription",
            "ram:ListEntitiesForPolicy",
            "ram:DeletePolicy",
        ],
        sources: [aliyunDocs("r/ram_policy")],
    },
    {
        token: "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment",
        actions: ["ram:AttachPolicyToRole", "ram:ListPoliciesForRole", "ram:DetachPolicyFromRole"],
        sources: [aliyunDocs("r/ram_role_policy_attachment")],
    },
    {
        token: "alicloud:oss/bucket:Bucket",
        actions: [
            "oss:PutBucket",
            "oss:GetBucketInfo",
            "oss:DeleteBucket",
            "oss:PutBucketLifecycle",
            "oss:GetBucketLifecycle",
            "oss:DeleteBucketLifecycle",
            "oss:PutBucketVersioning",
            "oss:GetBucketVersioning",
            "oss:PutBucketEncryption",
            "oss:GetBucketEncryption",
            "oss:DeleteBucketEncryption",
            // The provider reads the bucket's other configurations back.
            "oss:GetBucketAcl",
            "oss:GetBucketCors",
            "oss:GetBucketWebsite",
            "oss:GetBucketLogging",
            "oss:GetBucketReferer",
            "oss:GetBucketPolicy",
            "oss:GetBucketTagging",
            "oss:GetBucketTransferAcceleration",
        ],
        sources: [aliyunDocs("r/oss_bucket")],
    },
    {
        token: "alicloud:oss/bucketAcl:BucketAcl",
        actions: ["oss:PutBucketAcl", "oss:GetBucketAcl"],
        sources: [aliyunDocs("r/oss_bucket_acl")],
    },
    {
        token: "alicloud:oss/bucketPublicAccessBlock:BucketPublicAccessBlock",
        actions: [
            "oss:PutBucketPublicAccessBlock",
            "oss:GetBucketPublicAccessBlock",
            "oss:DeleteBucketPublicAccessBlock",
        ],
        sources: [aliyunDocs("r/oss_bucket_public_access_block")],
    },
    {
        token: "alicloud:dns/alidnsRecord:AlidnsRecord",
        actions: [
            "alidns:AddDomainRecord",
            "alidns:DescribeDomainRecordInfo",
            "alidns:UpdateDomainRecord",
            "alidns:UpdateDomainRecordRemark",
            "alidns:SetDomainRecordStatus",
            "alidns:DeleteDomainRecord",
        ],
        sources: [aliyunDocs("r/alidns_record")],
    },
    {
        token: "alicloud:ecs/getImages:getImages",
        actions: ["ecs:DescribeImages"],
        sources: [aliyunDocs("d/images")],
    },
    {
        token: "alicloud:ecs/getInstanceTypes:getInstanceTypes",
        actions: ["ecs:DescribeInstanceTypes", "ecs:DescribeAvailableResource"],
        sources: [aliyunDocs("d/instance_types")],
    },
    {
        token: "alicloud:index/getZones:getZones",
        // With an instance type and a disk category, the zones come from the resources each zone offers.
        actions: ["ecs:DescribeZones", "ecs:DescribeAvailableResource"],
        sources: [aliyunDocs("d/zones")],
    },
    {
        token: "alicloud:nlb/getZones:getZones",
        actions: ["nlb:DescribeZones"],
        sources: [aliyunDocs("d/nlb_zones")],
    },
    {
        token: "alicloud:vpc/getEnhancedNatAvailableZones:getEnhancedNatAvailableZones",
        // The API's own spelling.
        actions: ["vpc:ListEnhanhcedNatGatewayAvailableZones"],
        sources: [
            aliyunDocs("d/enhanced_nat_available_zones"),
            "https://www.alibabacloud.com/help/en/vpc/api-listenhanhcednatgatewayavailablezones",
        ],
    },
];

export const actionTables: Record<Cloud, readonly CloudActions[]> = { aws: awsActionTable, aliyun: aliyunActionTable };
