// Aliyun: a VPC across zones, NAT, security groups, ECS hosts, PrivateZone and the API load balancer.
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { ApiLoadBalancer, ClusterHost, ClusterInfra, SshRoute } from "../../components/hosts";
import { InfraArgs } from "../cloud";
import { hostDisks } from "../../config/disks";
import { hostFqdn, HostRole, PlannedHost, zoneSubnets } from "../../config/layout";
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

/**
 * A new stack's zones: the first three (sorted) offering every instance type the stack uses with ESSD disks (the
 * bastion's too), the NLB and the enhanced NAT gateway.
 */
export async function discoverAliyunZones(config: ClusterConfig): Promise<string[]> {
    return (await offeringZones(config)).slice(0, 3);
}

/** Every zone (sorted) offering every instance type the stack uses with ESSD disks, the NLB and the enhanced NAT gateway. */
export async function offeringZones(config: ClusterConfig): Promise<string[]> {
    const types = [config.masters, config.workers, config.bastion, ...(config.etcd.dedicated ? [config.etcd] : [])];
    const offers = await Promise.all([
        ...[...new Set(types.map((group) => group.instanceType))].map((instanceType) =>
            alicloud
                .getZones({
                    availableResourceCreation: "Instance",
                    availableInstanceType: instanceType,
                    availableDiskCategory: diskCategory,
                })
                .then((offer) => offer.ids),
        ),
        alicloud.nlb.getZones().then((offer) => offer.zones.map((zone) => zone.zoneId)),
        alicloud.vpc.getEnhancedNatAvailableZones().then((offer) => offer.zones.map((zone) => zone.zoneId)),
    ]);
    const [first, ...rest] = offers;
    return first.filter((zone) => rest.every((ids) => ids.includes(zone))).sort();
}

const diskCategory = "cloud_essd";

/** Login user on every host: Aliyun's sudo-capable ecs-user instead of root. */
const loginUser = "ecs-user";

/** Public images of Ubuntu 24.04 for x86_64 (ubuntu_24_04_x64_20G_alibase_<date>.vhd). */
const ubuntuImageName = "^ubuntu_24_04_x64";

/** Who may connect to a security group's port: an address range, or the members of another group. */
type Source = { readonly cidr: string } | { readonly group: alicloud.ecs.SecurityGroup };

interface IngressRule {
    /** Suffix of the rule's resource name: `<group>-<name>`. */
    readonly name: string;
    readonly ports: PortRange;
    readonly source: Source;
    readonly description: string;
    /** Drop rules deny what no accept rule of higher priority (lower number) lets in. */
    readonly policy?: "accept" | "drop";
    readonly priority?: number;
}

export class AliyunInfra extends pulumi.ComponentResource implements ClusterInfra {
    readonly zones: string[];
    readonly hosts: ClusterHost[];
    readonly ssh: SshRoute;
    readonly egress: pulumi.Resource[];
    readonly apiLoadBalancer: ApiLoadBalancer;

    constructor(name: string, args: InfraArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:infra:AliyunInfra", name, {}, opts);
        const { config, zones, layout } = args;
        const parent = { parent: this };
        const prefix = `${pulumi.getProject()}-${pulumi.getStack()}`;
        const vpcCidr = config.network.vpcCidr;
        this.zones = zones;

        // Network: one private vSwitch per zone for the cluster hosts, one public vSwitch per zone for the
        // bastion, the NAT gateway and the NLB, so nothing the cloud places takes a host's planned address.
        const vpc = new alicloud.vpc.Network("vpc", { vpcName: prefix, cidrBlock: vpcCidr }, parent);
        const vswitch = (kind: "private" | "public", zoneId: string, cidrBlock: string) =>
            new alicloud.vpc.Switch(
                `${kind}-${zoneId}`,
                { vswitchName: `${prefix}-${kind}-${zoneId}`, vpcId: vpc.id, zoneId, cidrBlock },
                parent,
            );
        const privateSwitches = zones.map((zone, i) => vswitch("private", zone, zoneSubnets(vpcCidr, i).private));
        const publicSwitches = zones.map((zone, i) => vswitch("public", zone, zoneSubnets(vpcCidr, i).public));

        // Security groups per role. Members of a group do not reach each other unless a rule says so
        // (innerAccessPolicy Drop); outbound traffic stays open, the default of a normal security group.
        const securityGroup = (role: string) =>
            new alicloud.ecs.SecurityGroup(
                `${role}-sg`,
                {
                    securityGroupName: `${prefix}-${role}`,
                    vpcId: vpc.id,
                    securityGroupType: "normal",
                    innerAccessPolicy: "Drop",
                },
                parent,
            );
        const bastionSg = securityGroup("bastion");
        const masterSg = securityGroup("master");
        const workerSg = securityGroup("worker");
        const etcdSg = config.etcd.dedicated ? securityGroup("etcd") : masterSg;
        const apiSg = securityGroup("api-nlb");

        const fromCidrs = (name: string, cidrs: string[], rule: Omit<IngressRule, "name" | "source">) =>
            cidrs.map((cidr, i): IngressRule => ({ ...rule, name: `${name}-${i + 1}`, source: { cidr } }));
        const vpcSource: Source = { cidr: vpcCidr };
        const sshFromBastion: IngressRule = {
            name: "ssh-from-bastion",
            ports: tcp(ports.ssh),
            source: { group: bastionSg },
            description: "SSH only through the bastion",
        };
        const nodeRules: IngressRule[] = [
            sshFromBastion,
            {
                name: "kubelet-from-masters",
                ports: tcp(ports.kubelet),
                source: { group: masterSg },
                description: "kubelet API for the apiservers (logs, exec, port-forward)",
            },
            // The pod network's tunnel and the NodePorts, from the nodes only: a pod's traffic to another node's
            // address leaves its node masqueraded as that node. The bastion and the NLB's vSwitches stay out.
            ...(
                [
                    ["masters", masterSg],
                    ["workers", workerSg],
                ] as const
            ).flatMap(([peers, group]): IngressRule[] => [
                {
                    name: `flannel-from-${peers}`,
                    ports: flannelPort(config.addons.cni.backend),
                    source: { group },
                    description: `flannel ${config.addons.cni.backend} between nodes`,
                },
                {
                    name: `nodeports-from-${peers}`,
                    ports: nodePortRange,
                    source: { group },
                    description: "Service NodePorts between nodes",
                },
            ]),
            ...fromCidrs("nodeports", config.allowedCidrs.nodePorts, {
                ports: nodePortRange,
                description: "Service NodePorts from allowedCidrs.nodePorts",
            }),
        ];
        const etcdRules: IngressRule[] = [
            {
                name: "etcd-from-members",
                ports: { protocol: "tcp", from: ports.etcdClient, to: ports.etcdPeer },
                source: { group: etcdSg },
                description: "etcd clients and peers among the members",
            },
            ...(config.etcd.dedicated
                ? [
                      {
                          name: "etcd-client-from-masters",
                          ports: tcp(ports.etcdClient),
                          source: { group: masterSg },
                          description: "etcd clients: the apiservers",
                      },
                  ]
                : []),
        ];
        type GroupRules = [role: string, group: alicloud.ecs.SecurityGroup, rules: IngressRule[]];
        const rules: GroupRules[] = [
            [
                "bastion",
                bastionSg,
                fromCidrs("ssh", config.allowedCidrs.ssh, {
                    ports: tcp(ports.ssh),
                    description: "SSH from allowedCidrs.ssh",
                }),
            ],
            [
                "master",
                masterSg,
                [
                    ...nodeRules,
                    {
                        name: "apiserver-from-vpc",
                        ports: tcp(ports.apiserver),
                        source: vpcSource,
                        description:
                            "kube-apiserver for the nodes' API proxies and the NLB (its local addresses are in the VPC)",
                    },
                    ...(config.etcd.dedicated ? [] : etcdRules),
                ],
            ],
            ["worker", workerSg, nodeRules],
            ...(config.etcd.dedicated ? [["etcd", etcdSg, [sshFromBastion, ...etcdRules]] satisfies GroupRules] : []),
            // NLB security groups filter clients, not backends; a listener accepts everyone unless a drop rule
            // of lower priority (higher number) catches what the accept rules do not.
            [
                "api-nlb",
                apiSg,
                [
                    ...fromCidrs("apiserver", config.allowedCidrs.api, {
                        ports: tcp(ports.apiserver),
                        priority: 1,
                        description: "Kubernetes API from allowedCidrs.api",
                    }),
                    {
                        name: "apiserver-deny-others",
                        ports: tcp(ports.apiserver),
                        source: { cidr: "0.0.0.0/0" },
                        policy: "drop",
                        priority: 100,
                        description: "Kubernetes API from anywhere else",
                    },
                ],
            ],
        ];
        for (const [role, group, groupRules] of rules) {
            for (const rule of groupRules) this.ingressRule(role, group, rule);
        }
        const groupOf: Record<HostRole, alicloud.ecs.SecurityGroup> = {
            bastion: bastionSg,
            master: masterSg,
            worker: workerSg,
            etcd: etcdSg,
        };

        // Hosts. The image is resolved once per run; running hosts ignore a newer one (see instance()).
        const keyPair = new alicloud.ecs.EcsKeyPair(
            "ssh-key-pair",
            { keyPairName: prefix, publicKey: args.sshPublicKey },
            parent,
        );
        const image = alicloud.ecs.getImagesOutput(
            { nameRegex: ubuntuImageName, owners: "system", mostRecent: true, architecture: "x86_64" },
            parent,
        );
        const instance = (host: PlannedHost, dependsOn: pulumi.Resource[]) =>
            this.instance(host, {
                config,
                zoneId: zones[host.zoneIndex],
                imageId: image.images[0].id,
                keyName: keyPair.keyPairName,
                vswitchId: (host.role === "bastion" ? publicSwitches : privateSwitches)[host.zoneIndex].id,
                securityGroupId: groupOf[host.role].id,
                userData: args.userData[host.name],
                dependsOn,
            });
        const [bastionHost, ...clusterHosts] = layout;
        if (bastionHost.role !== "bastion") throw new Error("the layout lists the bastion first");
        const bastion = instance(bastionHost, []);

        // Outbound internet for the private hosts (packages, images): an enhanced NAT gateway with one EIP.
        // It sits in the last zone's public vSwitch (an NLB stack has at least two zones), so its address
        // cannot take the bastion's planned one in zone 0 and it need not wait for the bastion. Hosts do not
        // wait for it either: their boot waits for outbound access itself (scripts/host-boot.sh).
        const nat = new alicloud.vpc.NatGateway(
            "nat",
            {
                natGatewayName: prefix,
                vpcId: vpc.id,
                vswitchId: publicSwitches[publicSwitches.length - 1].id,
                natType: "Enhanced",
                networkType: "internet",
                paymentType: "PayAsYouGo",
                internetChargeType: "PayByLcu",
            },
            parent,
        );
        const natEip = new alicloud.ecs.EipAddress(
            "nat-eip",
            {
                addressName: `${prefix}-nat`,
                paymentType: "PayAsYouGo",
                internetChargeType: "PayByTraffic",
                bandwidth: "100",
            },
            parent,
        );
        const natEipAssociation = new alicloud.ecs.EipAssociation(
            "nat-eip-association",
            { allocationId: natEip.id, instanceId: nat.id, instanceType: "Nat" },
            parent,
        );
        this.egress = zones.map(
            (zone, i) =>
                new alicloud.vpc.SnatEntry(
                    `snat-${zone}`,
                    {
                        snatEntryName: `${prefix}-${zone}`,
                        snatTableId: nat.snatTableIds,
                        sourceVswitchId: privateSwitches[i].id,
                        snatIp: natEip.ipAddress,
                    },
                    { parent: this, dependsOn: [natEipAssociation] },
                ),
        );
        const instances = clusterHosts.map((host) => instance(host, []));
        this.hosts = clusterHosts.map((host, i) => ({
            ...host,
            fqdn: hostFqdn(host.name, config.network.privateDomain),
            instance: instances[i],
            // cloud-provider-alibaba-cloud's provider id: <region>.<instance id>.
            ...(config.cloudIntegration ? { providerId: pulumi.interpolate`${config.region}.${instances[i].id}` } : {}),
        }));

        // Names, not IPs (seed 000): every host's name resolves to its planned address inside the VPC.
        const privateZone = new alicloud.pvtz.Zone(
            "private-zone",
            { zoneName: config.network.privateDomain, remark: `${prefix} host names` },
            parent,
        );
        new alicloud.pvtz.ZoneAttachment("private-zone-vpc", { zoneId: privateZone.id, vpcIds: [vpc.id] }, parent);
        for (const host of layout) {
            new alicloud.pvtz.ZoneRecord(
                `${host.name}-dns`,
                { zoneId: privateZone.id, rr: host.name, type: "A", value: host.privateIp, ttl: 60 },
                parent,
            );
        }

        // The API load balancer, for clients outside the VPC only (nodes use their local API proxy).
        // Client IP preservation is off: the masters then see the NLB's local addresses, inside the VPC.
        // Its public address in each zone is an EIP of its own (pay-by-traffic, the kind NLB accepts), so the
        // addresses are known before the NLB exists and outlive a replaced NLB: the apiserver certificate names them.
        const apiEips = zones.map(
            (zone) =>
                new alicloud.ecs.EipAddress(
                    `api-eip-${zone}`,
                    {
                        addressName: `${prefix}-api-${zone}`,
                        paymentType: "PayAsYouGo",
                        internetChargeType: "PayByTraffic",
                        bandwidth: "100",
                    },
                    parent,
                ),
        );
        const apiNlb = new alicloud.nlb.LoadBalancer(
            "api-nlb",
            {
                loadBalancerName: `${prefix}-api`,
                loadBalancerType: "Network",
                addressType: "Internet",
                vpcId: vpc.id,
                zoneMappings: zones.map((zoneId, i) => ({
                    zoneId,
                    vswitchId: publicSwitches[i].id,
                    allocationId: apiEips[i].id,
                })),
                securityGroupIds: [apiSg.id],
            },
            // Its local addresses come from the public vSwitches, one of which holds the bastion's planned address.
            { parent: this, dependsOn: [bastion] },
        );
        const apiServers = new alicloud.nlb.ServerGroup(
            "api-servers",
            {
                serverGroupName: `${prefix}-apiservers`,
                serverGroupType: "Instance",
                protocol: "TCP",
                vpcId: vpc.id,
                scheduler: "Wrr",
                preserveClientIpEnabled: false,
                connectionDrainEnabled: true,
                connectionDrainTimeout: 10,
                // NLB checks TCP or HTTP only, and the apiserver speaks HTTPS alone: a TCP connect is the best
                // check here (AWS's target group checks HTTPS /readyz).
                healthCheck: {
                    healthCheckEnabled: true,
                    healthCheckType: "TCP",
                    healthCheckConnectPort: 0,
                    healthCheckConnectTimeout: apiHealthCheck.timeoutSeconds,
                    healthCheckInterval: apiHealthCheck.intervalSeconds,
                    healthyThreshold: apiHealthCheck.healthyThreshold,
                    unhealthyThreshold: apiHealthCheck.unhealthyThreshold,
                },
            },
            parent,
        );
        clusterHosts.forEach((host, i) => {
            if (host.role !== "master") return;
            new alicloud.nlb.ServerGroupServerAttachment(
                `${host.name}-api-backend`,
                {
                    serverGroupId: apiServers.id,
                    serverId: instances[i].id,
                    serverType: "Ecs",
                    port: ports.apiserver,
                    weight: 100,
                },
                parent,
            );
        });
        new alicloud.nlb.Listener(
            "api-listener",
            {
                loadBalancerId: apiNlb.id,
                serverGroupId: apiServers.id,
                listenerProtocol: "TCP",
                listenerPort: ports.apiserver,
                // The API allows letters, digits and `,.;/@_-` here, no spaces.
                listenerDescription: `${prefix}-kubernetes-api`,
                idleTimeout: apiLoadBalancerIdleTimeoutSeconds,
            },
            parent,
        );
        this.apiLoadBalancer = apiEndpoint(config, apiNlb, apiEips, parent);

        this.ssh = {
            bastionAddress: bastion.publicIp,
            bastionUser: loginUser,
            hostUser: loginUser,
            privateKey: pulumi.secret(args.sshPrivateKey),
        };
        this.registerOutputs({
            vpcId: vpc.id,
            bastionAddress: this.ssh.bastionAddress,
            apiEndpoint: this.apiLoadBalancer.endpoint,
        });
    }

    private ingressRule(role: string, group: alicloud.ecs.SecurityGroup, rule: IngressRule): void {
        new alicloud.ecs.SecurityGroupRule(
            `${role}-${rule.name}`,
            {
                securityGroupId: group.id,
                type: "ingress",
                ipProtocol: rule.ports.protocol,
                portRange: `${rule.ports.from}/${rule.ports.to}`,
                nicType: "intranet",
                policy: rule.policy ?? "accept",
                priority: rule.priority ?? 1,
                description: rule.description,
                ...("cidr" in rule.source
                    ? { cidrIp: rule.source.cidr }
                    : { sourceSecurityGroupId: rule.source.group.id }),
            },
            { parent: this },
        );
    }

    private instance(host: PlannedHost, placement: InstancePlacement): alicloud.ecs.Instance {
        const { config } = placement;
        const group = { master: config.masters, worker: config.workers, etcd: config.etcd, bastion: config.bastion }[
            host.role
        ];
        const disks = hostDisks(host, config);
        const isBastion = host.role === "bastion";
        const instance = new alicloud.ecs.Instance(
            host.name,
            {
                instanceName: host.name,
                hostName: host.name,
                instanceType: group.instanceType,
                instanceChargeType: "PostPaid",
                imageId: placement.imageId,
                imageOptions: { loginAsNonRoot: true },
                keyName: placement.keyName,
                vswitchId: placement.vswitchId,
                privateIp: host.privateIp,
                securityGroups: [placement.securityGroupId],
                // Only the bastion gets a public address; everything else goes out through the NAT gateway.
                internetMaxBandwidthOut: isBastion ? bastionBandwidthMbps : 0,
                ...(isBastion ? { internetChargeType: "PayByTraffic" } : {}),
                // Security-hardened metadata (tokens only, like IMDSv2); cloud-init's AliYun datasource uses tokens.
                httpTokens: "required",
                systemDiskCategory: diskCategory,
                systemDiskSize: disks.systemSizeGb,
                systemDiskEncrypted: true,
                dataDisks: disks.data
                    .filter((disk) => !disk.outlivesHost)
                    .map((disk) => ({
                        name: `${host.name}-${disk.purpose}`,
                        description: `${disk.purpose} data`,
                        category: diskCategory,
                        size: disk.sizeGb,
                        encrypted: true,
                        deleteWithInstance: true,
                    })),
                userData: placement.userData,
            },
            {
                parent: this,
                dependsOn: placement.dependsOn,
                // Settings read only when a host is created apply to hosts created later: a newer image must not
                // re-image a running host, and a changed user-data or disk list would reboot or replace it
                // (cloud-init does not run its per-instance steps again anyway). Resize disks as an operation.
                ignoreChanges: ["imageId", "userData", "dataDisks"],
                // A replacement cannot exist next to the original: both would hold the same fixed private address.
                deleteBeforeReplace: true,
            },
        );
        // A disk whose data the cluster cannot rebuild (etcd) is not an inline data disk, which would be released
        // with the instance: it is its own protected resource, and a replaced host gets it back (its boot finds
        // the filesystem and mounts it; etcd restarts as the same member with its data).
        for (const disk of disks.data.filter((data) => data.outlivesHost)) {
            const name = `${host.name}-${disk.purpose}-disk`;
            const cloudDisk = new alicloud.ecs.EcsDisk(
                name,
                {
                    diskName: name,
                    description: `${disk.purpose} data of ${host.name}`,
                    zoneId: placement.zoneId,
                    category: diskCategory,
                    size: disk.sizeGb,
                    encrypted: true,
                    deleteWithInstance: false,
                },
                { parent: this, protect: true },
            );
            new alicloud.ecs.EcsDiskAttachment(
                `${name}-attachment`,
                { diskId: cloudDisk.id, instanceId: instance.id, deleteWithInstance: false },
                { parent: this },
            );
        }
        return instance;
    }
}

/**
 * Where clients reach the API. A new NLB cannot be reached by its own DNS name (Aliyun's NLB docs, since
 * 2024-11): with kubeha:apiDns, a CNAME in the operator's Alibaba Cloud DNS domain points at it, and the
 * kubeconfig uses that name; without, the kubeconfig uses the first zone's address. Every address and the
 * name are in the apiserver certificate, so any of them works.
 */
function apiEndpoint(
    config: ClusterConfig,
    nlb: alicloud.nlb.LoadBalancer,
    eips: alicloud.ecs.EipAddress[],
    opts: pulumi.CustomResourceOptions,
): ApiLoadBalancer {
    const addresses = pulumi.all(eips.map((eip) => eip.ipAddress));
    if (!config.apiDns) return { endpoint: eips[0].ipAddress, names: addresses };
    const record = new alicloud.dns.AlidnsRecord(
        "api-dns",
        {
            domainName: config.apiDns.domain,
            rr: config.apiDns.record,
            type: "CNAME",
            value: nlb.dnsName,
            remark: `${pulumi.getProject()}-${pulumi.getStack()} Kubernetes API`,
        },
        opts,
    );
    // Through the record's outputs, so that whatever connects to the name waits for the record.
    const name = pulumi.interpolate`${record.rr}.${record.domainName}`.apply((fqdn) => fqdn.toLowerCase());
    return { endpoint: name, names: pulumi.all([name, addresses]).apply(([fqdn, ips]) => [fqdn, ...ips]) };
}

interface InstancePlacement {
    readonly config: ClusterConfig;
    readonly zoneId: string;
    readonly imageId: pulumi.Input<string>;
    readonly keyName: pulumi.Input<string>;
    readonly vswitchId: pulumi.Input<string>;
    readonly securityGroupId: pulumi.Input<string>;
    readonly userData: pulumi.Input<string> | undefined;
    readonly dependsOn: pulumi.Resource[];
}

/** The bastion only carries SSH sessions. */
const bastionBandwidthMbps = 5;
