// AWS: a VPC across AZs, bastion, private masters and workers, the API NLB and a Route53 private zone.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DataDiskPurpose, hostDisks } from "../../config/disks";
import { hostFqdn, natGatewayAddress, PlannedHost, plannedPublicRange, zoneSubnets } from "../../config/layout";
import {
    apiHealthCheck,
    apiLoadBalancerIdleTimeoutSeconds,
    flannelPort,
    nodePortRange,
    PortRange,
    ports,
    tcp,
} from "../../config/ports";
import { ClusterConfig } from "../../config/resolve";
import { ApiLoadBalancer, ClusterHost, ClusterInfra, SshRoute } from "../../components/hosts";
import { InfraArgs } from "../cloud";

/** The region's first three standard availability zones (no opt-in local or wavelength zones). */
export async function discoverAwsZones(): Promise<string[]> {
    const zones = await aws.getAvailabilityZones({
        state: "available",
        filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
    });
    return [...zones.names].sort().slice(0, 3);
}

/** Canonical's account: the only publisher whose Ubuntu images the hosts boot. */
const canonicalOwner = "099720109477";
const ubuntuImageName = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
/** Ubuntu's cloud images create this login user with the key pair's key. */
const loginUser = "ubuntu";

/**
 * Device names the data volumes are attached under. Nitro instances show them as NVMe disks in no fixed
 * order, so the host finds each disk by its size (scripts/host-boot.sh), waiting for it: the volumes are
 * attached after launch.
 */
export const dataDiskDevices: Record<DataDiskPurpose, string> = { etcd: "/dev/sdf", containerd: "/dev/sdg" };

/**
 * Every DNS name an NLB of the region can get, `<name>-<id>.elb.<region>.amazonaws.com` (`.amazonaws.com.cn` in the
 * China regions), as one wildcard name.
 */
export function loadBalancerNames(region: string): string {
    return `*.elb.${region}.${region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

/** One security group per role; the API load balancer has its own. */
type GroupRole = "bastion" | "master" | "worker" | "etcd" | "api-nlb";
const groupRoles: readonly GroupRole[] = ["bastion", "master", "worker", "etcd", "api-nlb"];

type Peer = { readonly cidr: string } | { readonly group: GroupRole };

/** One ingress or egress rule of a role's security group. */
interface GroupRule {
    readonly group: GroupRole;
    readonly direction: "in" | "out";
    /** What the rule is for: part of the resource name and its description. */
    readonly purpose: string;
    readonly ports: PortRange | "all";
    readonly peer: Peer;
}

/** Every security-group rule of the cluster: nothing is open that is not listed here. */
function securityGroupRules(config: ClusterConfig): GroupRule[] {
    const vpc: Peer = { cidr: config.network.vpcCidr };
    const anywhere: Peer = { cidr: "0.0.0.0/0" };
    const from = (group: GroupRole): Peer => ({ group });
    const rule = (group: GroupRole, purpose: string, portRange: PortRange | "all", peer: Peer): GroupRule => ({
        group,
        direction: "in",
        purpose,
        ports: portRange,
        peer,
    });
    const hosts = ["master", "worker", "etcd"] as const;
    const nodes = ["master", "worker"] as const;
    const cidrs = (list: string[]) => list.map((cidr): Peer => ({ cidr }));
    return [
        ...cidrs(config.allowedCidrs.ssh).map((peer) => rule("bastion", "ssh", tcp(ports.ssh), peer)),
        ...hosts.map((group) => rule(group, "ssh", tcp(ports.ssh), from("bastion"))),
        rule("master", "apiserver", tcp(ports.apiserver), vpc),
        rule("master", "apiserver", tcp(ports.apiserver), from("api-nlb")),
        ...nodes.map((group) => rule(group, "kubelet", tcp(ports.kubelet), from("master"))),
        // The pod network's tunnel and the NodePorts, from the nodes only: a pod's traffic to another node's
        // address leaves its node masqueraded as that node. The bastion and the load balancer's subnets stay out.
        ...nodes.flatMap((group) =>
            nodes.map((peer) => rule(group, "flannel", flannelPort(config.addons.cni.backend), from(peer))),
        ),
        ...nodes.flatMap((group) => nodes.map((peer) => rule(group, "nodeports", nodePortRange, from(peer)))),
        ...nodes.flatMap((group) =>
            cidrs(config.allowedCidrs.nodePorts).map((peer) => rule(group, "nodeports", nodePortRange, peer)),
        ),
        rule("etcd", "etcd-client", tcp(ports.etcdClient), from("etcd")),
        rule("etcd", "etcd-client", tcp(ports.etcdClient), from("master")),
        rule("etcd", "etcd-peer", tcp(ports.etcdPeer), from("etcd")),
        ...cidrs(config.allowedCidrs.api).map((peer) => rule("api-nlb", "apiserver", tcp(ports.apiserver), peer)),
        // The load balancer forwards to and health-checks the apiservers, nothing else.
        { ...rule("api-nlb", "apiserver", tcp(ports.apiserver), from("master")), direction: "out" },
        // Hosts reach package mirrors and image registries (through NAT) and each other.
        ...(["bastion", ...hosts] as const).map((group): GroupRule => ({
            ...rule(group, "all", "all", anywhere),
            direction: "out",
        })),
    ];
}

/** `master-sg-in-apiserver-from-api-nlb`, `bastion-sg-in-ssh-from-203-0-113-0-24`. */
function ruleName(rule: GroupRule): string {
    const peer = "group" in rule.peer ? rule.peer.group : rule.peer.cidr.replace(/[./]/g, "-");
    return `${rule.group}-sg-${rule.direction}-${rule.purpose}-${rule.direction === "in" ? "from" : "to"}-${peer}`;
}

/** Security groups by host role; etcd members (masters unless etcd is dedicated) carry the etcd group too. */
function hostGroups(host: PlannedHost): GroupRole[] {
    const role: GroupRole = host.role;
    return host.etcdMember && role !== "etcd" ? [role, "etcd"] : [role];
}

/** Instance type by host role. */
function instanceType(host: PlannedHost, config: ClusterConfig): string {
    const group = { master: config.masters, worker: config.workers, etcd: config.etcd, bastion: config.bastion };
    return group[host.role].instanceType;
}

export interface AwsInfraArgs extends InfraArgs {
    /** The instance profile of the etcd members (etcd backups), when backups are on. */
    readonly etcdInstanceProfile?: pulumi.Input<string>;
    /** The masters' instance profile (the cloud integration's controllers), when the integration is on. */
    readonly masterInstanceProfile?: pulumi.Input<string>;
}

export class AwsInfra extends pulumi.ComponentResource implements ClusterInfra {
    readonly zones: string[];
    readonly hosts: ClusterHost[];
    readonly ssh: SshRoute;
    readonly egress: pulumi.Resource[];
    readonly apiLoadBalancer: ApiLoadBalancer;

    constructor(name: string, args: AwsInfraArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:infra:AwsInfra", name, {}, opts);
        const { config, zones, layout } = args;
        const parent = { parent: this };
        const prefix = `${pulumi.getProject()}-${pulumi.getStack()}`;
        const tags = (resource: string) => ({ Name: `${prefix}-${resource}` });
        // What the cloud controller manager looks for: on its own instance (a master), the tag that names the
        // cluster (without it the controller refuses to start); on the nodes' instances, which it registers with load
        // balancers; on the cluster's subnets, public ones for internet-facing load balancers and private ones for
        // internal ones; on the one security group of each node it opens to its load balancers (an instance must not
        // have two with the tag). The masters' role changes only resources carrying it (policies.ts),
        // so the VPC carries it too: the controller creates its load balancers' security groups there.
        const clusterTag = config.cloudIntegration ? { [`kubernetes.io/cluster/${prefix}`]: "owned" } : {};
        const subnetRoleTag = (kind: "public" | "private") =>
            config.cloudIntegration
                ? { [kind === "public" ? "kubernetes.io/role/elb" : "kubernetes.io/role/internal-elb"]: "1" }
                : {};
        const nodeGroups: readonly GroupRole[] = ["master", "worker"];

        // Network: a public and a private subnet per zone; private hosts go out through NAT.
        const vpc = new aws.ec2.Vpc(
            "vpc",
            {
                cidrBlock: config.network.vpcCidr,
                // Both are needed for the Route53 private zone to resolve inside the VPC.
                enableDnsSupport: true,
                enableDnsHostnames: true,
                tags: { ...tags("vpc"), ...clusterTag },
            },
            parent,
        );
        const internetGateway = new aws.ec2.InternetGateway(
            "internet-gateway",
            { vpcId: vpc.id, tags: tags("internet-gateway") },
            parent,
        );
        const subnets = zones.map((zone, zoneIndex) => {
            const cidrs = zoneSubnets(config.network.vpcCidr, zoneIndex);
            const subnet = (kind: "public" | "private") =>
                new aws.ec2.Subnet(
                    `${kind}-subnet-${zoneIndex + 1}`,
                    {
                        vpcId: vpc.id,
                        availabilityZone: zone,
                        cidrBlock: cidrs[kind],
                        // Nothing gets a public address by accident; the bastion asks for one.
                        mapPublicIpOnLaunch: false,
                        tags: { ...tags(`${kind}-subnet-${zoneIndex + 1}`), ...clusterTag, ...subnetRoleTag(kind) },
                    },
                    parent,
                );
            return { public: subnet("public"), private: subnet("private") };
        });
        // The bastion's and the NAT gateways' planned addresses: AWS assigns nothing in an explicit reservation by
        // itself, so the API load balancer, which takes addresses of the public subnets on its own, cannot take them,
        // and need not wait for them (it would wait for the NAT gateways, minutes).
        const plannedRanges = subnets.map(
            (subnet, zoneIndex) =>
                new aws.ec2.SubnetCidrReservation(
                    `public-subnet-${zoneIndex + 1}-planned`,
                    {
                        subnetId: subnet.public.id,
                        cidrBlock: plannedPublicRange(config.network.vpcCidr, zoneIndex),
                        reservationType: "explicit",
                        description: "kubeha: the bastion's and the NAT gateway's planned addresses",
                    },
                    parent,
                ),
        );

        const publicRoutes = new aws.ec2.RouteTable(
            "public-routes",
            {
                vpcId: vpc.id,
                routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: internetGateway.id }],
                tags: tags("public-routes"),
            },
            parent,
        );
        const publicAssociations = subnets.map(
            (subnet, zoneIndex) =>
                new aws.ec2.RouteTableAssociation(
                    `public-subnet-${zoneIndex + 1}-routes`,
                    { subnetId: subnet.public.id, routeTableId: publicRoutes.id },
                    parent,
                ),
        );

        // One NAT gateway is cheaper; one per zone keeps the other zones online when a zone fails.
        const natZones = config.network.natGateways === "per-zone" ? zones.length : 1;
        const natGateways = Array.from({ length: natZones }, (_, zoneIndex) => {
            const eip = new aws.ec2.Eip(
                `nat-eip-${zoneIndex + 1}`,
                { domain: "vpc", tags: tags(`nat-eip-${zoneIndex + 1}`) },
                { parent: this, dependsOn: [internetGateway] },
            );
            return new aws.ec2.NatGateway(
                `nat-gateway-${zoneIndex + 1}`,
                {
                    allocationId: eip.allocationId,
                    subnetId: subnets[zoneIndex].public.id,
                    // Planned, like the bastion's in the same subnet: neither can take the other's, in any order.
                    privateIp: natGatewayAddress(config.network.vpcCidr, zoneIndex),
                    tags: tags(`nat-gateway-${zoneIndex + 1}`),
                },
                { parent: this, dependsOn: [internetGateway, plannedRanges[zoneIndex]] },
            );
        });
        // The default route through NAT is its own resource: hosts wait for their subnet's route table, not
        // for the NAT gateway (1-2 min); their boot waits for outbound access itself (scripts/host-boot.sh).
        const egress: pulumi.Resource[] = [];
        const privateAssociations = subnets.map((subnet, zoneIndex) => {
            const routes = new aws.ec2.RouteTable(
                `private-routes-${zoneIndex + 1}`,
                { vpcId: vpc.id, tags: tags(`private-routes-${zoneIndex + 1}`) },
                parent,
            );
            const defaultRoute = new aws.ec2.Route(
                `private-default-route-${zoneIndex + 1}`,
                {
                    routeTableId: routes.id,
                    destinationCidrBlock: "0.0.0.0/0",
                    natGatewayId: natGateways[zoneIndex % natZones].id,
                },
                parent,
            );
            egress.push(defaultRoute);
            return new aws.ec2.RouteTableAssociation(
                `private-subnet-${zoneIndex + 1}-routes`,
                { subnetId: subnet.private.id, routeTableId: routes.id },
                parent,
            );
        });

        // Security groups hold no inline rules: every rule is its own resource (the two styles must not mix).
        const groups = Object.fromEntries(
            groupRoles.map((role) => [
                role,
                new aws.ec2.SecurityGroup(
                    `${role}-sg`,
                    {
                        vpcId: vpc.id,
                        description: `kubeha ${role}`,
                        tags: { ...tags(`${role}-sg`), ...(nodeGroups.includes(role) ? clusterTag : {}) },
                    },
                    parent,
                ),
            ]),
        ) as Record<GroupRole, aws.ec2.SecurityGroup>;
        for (const rule of securityGroupRules(config)) {
            const ruleArgs = {
                securityGroupId: groups[rule.group].id,
                description: `${rule.purpose} ${rule.direction === "in" ? "from" : "to"} ${"group" in rule.peer ? `${rule.peer.group}-sg` : rule.peer.cidr}`,
                ...(rule.ports === "all"
                    ? { ipProtocol: "-1" }
                    : { ipProtocol: rule.ports.protocol, fromPort: rule.ports.from, toPort: rule.ports.to }),
                ...("group" in rule.peer
                    ? { referencedSecurityGroupId: groups[rule.peer.group].id }
                    : { cidrIpv4: rule.peer.cidr }),
                tags: tags(ruleName(rule)),
            };
            if (rule.direction === "in") new aws.vpc.SecurityGroupIngressRule(ruleName(rule), ruleArgs, parent);
            else new aws.vpc.SecurityGroupEgressRule(ruleName(rule), ruleArgs, parent);
        }

        // Private DNS: every host by name (seed rule: names, not IPs), from the fixed addresses of the plan.
        const privateZone = new aws.route53.Zone(
            "private-zone",
            {
                name: config.network.privateDomain,
                comment: `kubeha ${pulumi.getStack()}: host names`,
                vpcs: [{ vpcId: vpc.id }],
                tags: tags("private-zone"),
            },
            parent,
        );
        for (const host of layout) {
            new aws.route53.Record(
                `${host.name}-dns`,
                {
                    zoneId: privateZone.zoneId,
                    name: hostFqdn(host.name, config.network.privateDomain),
                    type: "A",
                    ttl: 300,
                    records: [host.privateIp],
                },
                parent,
            );
        }

        // Hosts.
        const keyPair = new aws.ec2.KeyPair(
            "ssh-key-pair",
            { publicKey: args.sshPublicKey, tags: tags("ssh-key-pair") },
            parent,
        );
        const ami = aws.ec2.getAmiOutput(
            {
                owners: [canonicalOwner],
                mostRecent: true,
                filters: [
                    { name: "name", values: [ubuntuImageName] },
                    { name: "architecture", values: ["x86_64"] },
                    { name: "virtualization-type", values: ["hvm"] },
                ],
            },
            parent,
        );
        const instances = layout.map((host) => {
            const disks = hostDisks(host, config);
            const isBastion = host.role === "bastion";
            const subnet = isBastion ? subnets[host.zoneIndex].public : subnets[host.zoneIndex].private;
            const instance = new aws.ec2.Instance(
                host.name,
                {
                    ami: ami.id,
                    instanceType: instanceType(host, config),
                    subnetId: subnet.id,
                    privateIp: host.privateIp,
                    // The bastion gets a public address at launch so its first boot can reach the
                    // internet before the Elastic IP is associated (which then replaces it).
                    associatePublicIpAddress: isBastion,
                    vpcSecurityGroupIds: hostGroups(host).map((role) => groups[role].id),
                    keyName: keyPair.keyName,
                    userDataBase64: args.userData[host.name],
                    // The masters' role runs the cloud integration's controllers; the etcd members' role puts their
                    // snapshots in the backup bucket (one role, when both apply: controller-role.ts).
                    iamInstanceProfile:
                        host.role === "master" && args.masterInstanceProfile
                            ? args.masterInstanceProfile
                            : host.etcdMember
                              ? args.etcdInstanceProfile
                              : undefined,
                    // IMDSv2 only, and one hop: pods (one hop further) cannot reach the metadata service.
                    metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                    rootBlockDevice: {
                        volumeType: "gp3",
                        volumeSize: disks.systemSizeGb,
                        encrypted: true,
                        deleteOnTermination: true,
                        // Not volumeTags: with separately managed data volumes it makes every up plan changes.
                        tags: tags(`${host.name}-root`),
                    },
                    tags: {
                        ...tags(host.name),
                        ...(host.role === "master" || host.role === "worker" ? clusterTag : {}),
                    },
                },
                {
                    parent: this,
                    // A newer Ubuntu image must not replace running hosts (new hosts get it), and user-data
                    // is read once, at first boot: changing it on a running host would only stop and start it.
                    // Roll a host onto a new image deliberately: `pulumi up --replace <its URN>`.
                    ignoreChanges: ["ami", "userDataBase64"],
                    // The fixed private address is still taken while the old instance exists.
                    deleteBeforeReplace: true,
                    // First boot uses its subnet's routes: they exist before any host starts. The NAT gateway may
                    // still be coming up; the boot script waits for it. No DNS record: what a host resolves at boot
                    // (masters, etcd members, itself) is in its /etc/hosts.
                    dependsOn: isBastion
                        ? [publicAssociations[host.zoneIndex], plannedRanges[host.zoneIndex]]
                        : [privateAssociations[host.zoneIndex]],
                },
            );
            // Separate volumes, not ebsBlockDevices: a new size is applied in place (ModifyVolume) instead
            // of replacing the instance, and the data outlives an instance replacement.
            // A volume whose data the cluster cannot rebuild (etcd) is protected: no replacement or deletion in a
            // routine `pulumi up` can take it (README, "Masters and etcd").
            for (const { purpose: disk, sizeGb, outlivesHost } of disks.data) {
                const volume = new aws.ebs.Volume(
                    `${host.name}-${disk}-disk`,
                    {
                        availabilityZone: zones[host.zoneIndex],
                        size: sizeGb,
                        type: "gp3",
                        encrypted: true,
                        tags: tags(`${host.name}-${disk}-disk`),
                    },
                    { parent: this, protect: outlivesHost },
                );
                new aws.ec2.VolumeAttachment(
                    `${host.name}-${disk}-disk-attachment`,
                    {
                        volumeId: volume.id,
                        instanceId: instance.id,
                        deviceName: dataDiskDevices[disk],
                        // Detaching a mounted disk from a running host can hang or lose writes.
                        stopInstanceBeforeDetaching: true,
                    },
                    parent,
                );
            }
            return { host, instance };
        });

        const bastion = instances.find(({ host }) => host.role === "bastion");
        if (!bastion) throw new Error("the address plan has no bastion");
        const bastionIp = new aws.ec2.Eip(
            "bastion-eip",
            { domain: "vpc", instance: bastion.instance.id, tags: tags("bastion-eip") },
            parent,
        );

        // The API load balancer, for clients outside the VPC only: hosts reach the apiservers through
        // their local proxy, never through it.
        const nlb = new aws.lb.LoadBalancer(
            "api-nlb",
            {
                loadBalancerType: "network",
                internal: false,
                subnets: subnets.map((subnet) => subnet.public.id),
                securityGroups: [groups["api-nlb"].id],
                enableCrossZoneLoadBalancing: true,
                tags: tags("api-nlb"),
            },
            {
                parent: this,
                // ELB refuses an internet-facing load balancer (InvalidSubnet) while the VPC has no internet
                // gateway. Its addresses come from the public subnets, outside their reserved planned ranges.
                dependsOn: [internetGateway, ...plannedRanges],
            },
        );
        const masterTargets = new aws.lb.TargetGroup(
            "api-nlb-masters",
            {
                vpcId: vpc.id,
                port: ports.apiserver,
                protocol: "TCP",
                targetType: "instance",
                // With the client address preserved, a master calling the NLB can be sent to itself and the
                // connection hangs; without it the NLB connects from its own address (allowed by api-nlb-sg).
                preserveClientIp: "false",
                // An apiserver that accepts connections but is not ready (etcd unreachable, still starting) gets
                // no traffic. /readyz is open to anonymous requests (system:public-info-viewer).
                healthCheck: {
                    protocol: "HTTPS",
                    path: "/readyz",
                    matcher: "200",
                    port: "traffic-port",
                    interval: apiHealthCheck.intervalSeconds,
                    timeout: apiHealthCheck.timeoutSeconds,
                    healthyThreshold: apiHealthCheck.healthyThreshold,
                    unhealthyThreshold: apiHealthCheck.unhealthyThreshold,
                },
                tags: tags("api-nlb-masters"),
            },
            parent,
        );
        new aws.lb.Listener(
            "api-nlb-listener",
            {
                loadBalancerArn: nlb.arn,
                port: ports.apiserver,
                protocol: "TCP",
                tcpIdleTimeoutSeconds: apiLoadBalancerIdleTimeoutSeconds,
                defaultActions: [{ type: "forward", targetGroupArn: masterTargets.arn }],
                tags: tags("api-nlb-listener"),
            },
            parent,
        );
        for (const { host, instance } of instances.filter(({ host }) => host.role === "master")) {
            new aws.lb.TargetGroupAttachment(
                `${host.name}-api-nlb-target`,
                { targetGroupArn: masterTargets.arn, targetId: instance.id, port: ports.apiserver },
                parent,
            );
        }

        this.zones = zones;
        this.hosts = instances
            .filter(({ host }) => host.role !== "bastion")
            .map(({ host, instance }) => ({
                ...host,
                fqdn: hostFqdn(host.name, config.network.privateDomain),
                instance,
                // The AWS cloud controller manager finds a node by this id, whatever the node's name.
                ...(config.cloudIntegration
                    ? { providerId: pulumi.interpolate`aws:///${zones[host.zoneIndex]}/${instance.id}` }
                    : {}),
            }));
        this.ssh = {
            bastionAddress: bastionIp.publicIp,
            bastionUser: loginUser,
            hostUser: loginUser,
            privateKey: pulumi.secret(args.sshPrivateKey),
        };
        this.egress = egress;
        // The NLB's own name works on AWS (a newcomer's first `kubectl` may wait a few minutes for it to resolve).
        // It exists only once the NLB does (minutes): the apiserver certificate names every name of the region's
        // load balancers instead, so that it, and the bootstrap behind it, do not wait for the NLB. Only this
        // cluster's CA signs that certificate and only its apiservers hold the key: no other load balancer can
        // present it.
        const apiName = nlb.dnsName.apply((dnsName) => dnsName.toLowerCase());
        this.apiLoadBalancer = {
            endpoint: apiName,
            names: apiName.apply((name) => [name]),
            certificateNames: pulumi.output([loadBalancerNames(config.region)]),
        };
        this.registerOutputs({ bastionAddress: this.ssh.bastionAddress, apiEndpoint: this.apiLoadBalancer.endpoint });
    }
}
