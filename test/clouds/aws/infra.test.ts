// The AWS infrastructure as the plan of the aws-dev stack shows it: network, firewall, hosts, disks,
// the API load balancer and the private zone; and the cloud-neutral description AwsInfra hands on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { AwsInfra } from "../../../clouds/aws/infra";
import { containsAddress } from "../../../config/cidr";
import { planHosts } from "../../../config/layout";
import { resolveConfig } from "../../../config/resolve";
import { KubehaMocks } from "../../../plan/mocks";
import type { PlannedResource } from "../../../plan/run";
import { bootWaitingStep, Plan, plan } from "../../support/plan";
import { packUserData, unpackUserData } from "../../../render/cloud-init";

type Inputs = Record<string, unknown>;
const inputs = (resource: PlannedResource) => resource.inputs as Inputs;

/**
 * The resource an id in another resource's inputs refers to. The mock runtime gives every resource the
 * id `<name>-id` (plan/mocks.ts); the referring resource must also depend on it, so the reference is real.
 */
function referenced(p: Plan, from: PlannedResource, id: unknown): PlannedResource {
    assert.equal(typeof id, "string", `${from.name}: expected a resource id, got ${JSON.stringify(id)}`);
    const target = p.named(String(id).replace(/-id$/, ""));
    assert.ok(from.dependencies.includes(target.name), `${from.name} refers to ${target.name} without depending on it`);
    return target;
}

/** The private route table's default route (a resource of its own, through a NAT gateway). */
function defaultRouteOf(p: Plan, table: PlannedResource): PlannedResource {
    const routes = p
        .ofType("aws:ec2/route:Route")
        .filter(
            (route) => route.dependencies.includes(table.name) && inputs(route).destinationCidrBlock === "0.0.0.0/0",
        );
    assert.equal(routes.length, 1, `${table.name} has one default route`);
    return routes[0];
}

const instance = (p: Plan, name: string) => {
    const found = p.named(name);
    assert.equal(found.type, "aws:ec2/instance:Instance");
    return found;
};
const zoneOf = (p: Plan, host: PlannedResource) =>
    inputs(referenced(p, host, inputs(host).subnetId)).availabilityZone as string;

/** Every security-group rule as one line: `master-sg in tcp 6443 from api-nlb-sg`. */
function ruleLines(p: Plan): string[] {
    const rules = [
        ...p.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
        ...p.ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"),
    ];
    return rules
        .map((rule) => {
            const { securityGroupId, ipProtocol, fromPort, toPort, cidrIpv4, referencedSecurityGroupId } = inputs(rule);
            const group = referenced(p, rule, securityGroupId).name;
            const peer = cidrIpv4 ?? referenced(p, rule, referencedSecurityGroupId).name;
            const ports =
                ipProtocol === "-1"
                    ? "all"
                    : `${ipProtocol} ${fromPort === toPort ? fromPort : `${fromPort}-${toPort}`}`;
            const ingress = rule.type.endsWith("IngressRule");
            return `${group} ${ingress ? "in" : "out"} ${ports} ${ingress ? "from" : "to"} ${peer}`;
        })
        .sort();
}

function assertSameSet(actual: string[], expected: string[]): void {
    const extra = actual.filter((line) => !expected.includes(line));
    const missing = expected.filter((line) => !actual.includes(line));
    assert.deepEqual({ extra, missing }, { extra: [], missing: [] });
    assert.equal(actual.length, new Set(actual).size, "a rule is declared twice");
}

describe("aws-dev: default configuration", () => {
    // Pulumi.aws-dev.yaml with the project defaults: 3 zones, 3 masters (etcd on them), 3 workers,
    // VPC 192.168.0.0/16, one NAT gateway, vxlan, SSH and API open to 0.0.0.0/0 (with a warning).
    const p = () => plan({ stack: "aws-dev" });
    const masters = ["master-1", "master-2", "master-3"];
    const workers = ["worker-1", "worker-2", "worker-3"];

    test("resource counts", () => {
        const count = (type: string) => p().ofType(type).length;
        assert.equal(count("aws:ec2/vpc:Vpc"), 1);
        assert.equal(count("aws:ec2/internetGateway:InternetGateway"), 1);
        assert.equal(count("aws:ec2/subnet:Subnet"), 3 * 2);
        assert.equal(count("aws:ec2/natGateway:NatGateway"), 1);
        assert.equal(count("aws:ec2/eip:Eip"), 1 + 1, "the NAT gateway's and the bastion's");
        assert.equal(count("aws:ec2/routeTable:RouteTable"), 1 + 3, "one public, one private per zone");
        assert.equal(count("aws:ec2/routeTableAssociation:RouteTableAssociation"), 3 * 2);
        assert.equal(count("aws:ec2/securityGroup:SecurityGroup"), 5);
        assert.equal(count("aws:ec2/instance:Instance"), 1 + 3 + 3);
        assert.equal(count("aws:ec2/keyPair:KeyPair"), 1);
        assert.equal(count("aws:ebs/volume:Volume"), 3 * 2 + 3, "masters: etcd + containerd; workers: containerd");
        assert.equal(count("aws:ec2/volumeAttachment:VolumeAttachment"), 3 * 2 + 3);
        assert.equal(count("aws:lb/loadBalancer:LoadBalancer"), 1);
        assert.equal(count("aws:lb/targetGroup:TargetGroup"), 1);
        assert.equal(count("aws:lb/listener:Listener"), 1);
        assert.equal(count("aws:lb/targetGroupAttachment:TargetGroupAttachment"), 3);
        assert.equal(count("aws:route53/zone:Zone"), 1);
        assert.equal(count("aws:route53/record:Record"), 7);
    });

    test("masters are in three different AZs, every host in its planned zone at its planned address", () => {
        const planned = p().outputs.hosts as Record<string, { zone: string; privateIp: string }>;
        assert.equal(new Set(masters.map((name) => zoneOf(p(), instance(p(), name)))).size, 3);
        for (const [name, host] of Object.entries(planned)) {
            const resource = instance(p(), name);
            assert.equal(zoneOf(p(), resource), host.zone, name);
            assert.equal(inputs(resource).privateIp, host.privateIp, name);
        }
    });

    test("the security-group rules are exactly the allow-list", () => {
        assertSameSet(ruleLines(p()), [
            "bastion-sg in tcp 22 from 0.0.0.0/0",
            "master-sg in tcp 22 from bastion-sg",
            "worker-sg in tcp 22 from bastion-sg",
            "etcd-sg in tcp 22 from bastion-sg",
            "master-sg in tcp 6443 from 192.168.0.0/16",
            "master-sg in tcp 6443 from api-nlb-sg",
            "master-sg in tcp 10250 from master-sg",
            "worker-sg in tcp 10250 from master-sg",
            "master-sg in udp 8472 from master-sg",
            "master-sg in udp 8472 from worker-sg",
            "worker-sg in udp 8472 from master-sg",
            "worker-sg in udp 8472 from worker-sg",
            "master-sg in tcp 30000-32767 from master-sg",
            "master-sg in tcp 30000-32767 from worker-sg",
            "worker-sg in tcp 30000-32767 from master-sg",
            "worker-sg in tcp 30000-32767 from worker-sg",
            "etcd-sg in tcp 2379 from etcd-sg",
            "etcd-sg in tcp 2379 from master-sg",
            "etcd-sg in tcp 2380 from etcd-sg",
            "api-nlb-sg in tcp 6443 from 0.0.0.0/0",
            "api-nlb-sg out tcp 6443 to master-sg",
            "bastion-sg out all to 0.0.0.0/0",
            "master-sg out all to 0.0.0.0/0",
            "worker-sg out all to 0.0.0.0/0",
            "etcd-sg out all to 0.0.0.0/0",
        ]);
        for (const group of p().ofType("aws:ec2/securityGroup:SecurityGroup")) {
            assert.equal(inputs(group).ingress, undefined, `${group.name} has inline rules`);
            assert.equal(inputs(group).egress, undefined, `${group.name} has inline rules`);
        }
    });

    test("each host carries the groups of its role; etcd members the etcd group", () => {
        const groupsOf = (name: string) => {
            const host = instance(p(), name);
            return (inputs(host).vpcSecurityGroupIds as string[]).map((id) => referenced(p(), host, id).name).sort();
        };
        assert.deepEqual(groupsOf("bastion"), ["bastion-sg"]);
        for (const name of masters) assert.deepEqual(groupsOf(name), ["etcd-sg", "master-sg"]);
        for (const name of workers) assert.deepEqual(groupsOf(name), ["worker-sg"]);
    });

    test("IMDSv2 within one hop, encrypted gp3 root volumes and Canonical's image on every instance", () => {
        const lookups = p().invoked("aws:ec2/getAmi:getAmi");
        // Canonical's account only: an image of the same name from anyone else is never picked.
        assert.deepEqual(lookups, [
            {
                filters: [
                    { name: "name", values: ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"] },
                    { name: "architecture", values: ["x86_64"] },
                    { name: "virtualization-type", values: ["hvm"] },
                ],
                mostRecent: true,
                owners: ["099720109477"],
            },
        ]);
        const image = new KubehaMocks({ region: "eu-central-1" }).call({
            token: "aws:ec2/getAmi:getAmi",
            inputs: lookups[0],
        });
        for (const host of p().ofType("aws:ec2/instance:Instance")) {
            const { metadataOptions, rootBlockDevice, ebsBlockDevices, ami } = inputs(host) as Record<string, Inputs>;
            // One hop: a pod (one hop further) cannot reach the instance's credentials.
            assert.deepEqual(
                metadataOptions,
                { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                host.name,
            );
            const { tags: _tags, ...root } = rootBlockDevice;
            const systemGb = host.name === "bastion" ? 20 : 40;
            assert.deepEqual(
                root,
                { volumeType: "gp3", volumeSize: systemGb, encrypted: true, deleteOnTermination: true },
                host.name,
            );
            assert.equal(ebsBlockDevices, undefined, `${host.name}: data disks are separate volumes`);
            assert.equal(ami, image.id, `${host.name} boots the image the lookup found`);
            // A newer "most recent" AMI must not replace a running host, nor new user-data reboot it.
            assert.deepEqual(host.ignoreChanges, ["ami", "userDataBase64"], host.name);
            // Its fixed private address stays taken until the old instance is gone.
            assert.equal(host.deleteBeforeReplace, true, host.name);
        }
    });

    test("zones: the region's standard ones, no opt-in local or wavelength zones", () => {
        assert.deepEqual(p().invoked("aws:index/getAvailabilityZones:getAvailabilityZones"), [
            { filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }], state: "available" },
        ]);
    });

    test("encrypted data volumes: etcd on every etcd member, containerd on every node, in the host's AZ", () => {
        const disks = new Map<string, string[]>();
        for (const attachment of p().ofType("aws:ec2/volumeAttachment:VolumeAttachment")) {
            const { volumeId, instanceId, deviceName } = inputs(attachment);
            const volume = referenced(p(), attachment, volumeId);
            const host = referenced(p(), attachment, instanceId);
            const { encrypted, type, availabilityZone, size } = inputs(volume);
            assert.equal(encrypted, true, volume.name);
            assert.equal(type, "gp3", volume.name);
            assert.equal(availabilityZone, zoneOf(p(), host), `${volume.name} is not in ${host.name}'s AZ`);
            disks.set(host.name, [...(disks.get(host.name) ?? []), `${deviceName} ${size}`].sort());
        }
        assert.equal(
            p().ofType("aws:ebs/volume:Volume").length,
            [...disks.values()].flat().length,
            "a volume is unattached",
        );
        // Defaults: etcd 20 GiB, containerd 50 GiB on masters and 100 GiB on workers; etcd on /dev/sdf, containerd on /dev/sdg.
        for (const name of masters) assert.deepEqual(disks.get(name), ["/dev/sdf 20", "/dev/sdg 50"], name);
        for (const name of workers) assert.deepEqual(disks.get(name), ["/dev/sdg 100"], name);
        assert.equal(disks.get("bastion"), undefined);
    });

    test("etcd volumes outlive their hosts: protected, and never replaced with the instance", () => {
        for (const volume of p().ofType("aws:ebs/volume:Volume")) {
            const [, host, purpose] = /^(.+)-(etcd|containerd)-disk$/.exec(volume.name) ?? [];
            assert.ok(host, volume.name);
            assert.equal(volume.protect, purpose === "etcd" ? true : undefined, `${volume.name}: protect`);
            assert.ok(
                !volume.dependencies.includes(host),
                `${volume.name} must not depend on (be replaced with) ${host}`,
            );
        }
    });

    test("masters and workers have no public address and go out through NAT", () => {
        const eipTargets = p()
            .ofType("aws:ec2/eip:Eip")
            .filter((eip) => inputs(eip).instance !== undefined)
            .map((eip) => referenced(p(), eip, inputs(eip).instance).name);
        assert.deepEqual(eipTargets, ["bastion"]);
        const associations = p().ofType("aws:ec2/routeTableAssociation:RouteTableAssociation");
        for (const name of [...masters, ...workers]) {
            const host = instance(p(), name);
            assert.equal(inputs(host).associatePublicIpAddress, false, name);
            const subnet = referenced(p(), host, inputs(host).subnetId);
            assert.equal(inputs(subnet).mapPublicIpOnLaunch, false, subnet.name);
            const association = associations.filter((a) => referenced(p(), a, inputs(a).subnetId) === subnet);
            assert.equal(association.length, 1, `${subnet.name} has one route table`);
            const table = referenced(p(), association[0], inputs(association[0]).routeTableId);
            assert.equal(inputs(table).routes, undefined, `${table.name} has no inline routes`);
            const route = defaultRouteOf(p(), table);
            assert.equal(inputs(route).gatewayId, undefined, `${table.name} routes nothing to the internet gateway`);
            assert.equal(referenced(p(), route, inputs(route).natGatewayId).type, "aws:ec2/natGateway:NatGateway");
            // The host boots while the NAT gateway comes up; its boot preparation waits for the route.
            assert.ok(host.dependencies.includes(association[0].name), `${name} boots into its subnet's routes`);
            assert.ok(!host.dependencies.includes(route.name), `${name} does not wait for the NAT gateway`);
            const boot = bootWaitingStep(name);
            assert.ok(p().named(boot).dependencies.includes(route.name), `${boot} waits for NAT`);
        }
        const bastion = instance(p(), "bastion");
        assert.equal(inputs(bastion).associatePublicIpAddress, true);
        assert.match(String(inputs(referenced(p(), bastion, inputs(bastion).subnetId)).cidrBlock), /^192\.168\.128\./);
    });

    test("the API load balancer: internet-facing NLB on 6443 to every master, no client-IP preservation", () => {
        const [nlb] = p().ofType("aws:lb/loadBalancer:LoadBalancer");
        const nlbInputs = inputs(nlb);
        assert.equal(nlbInputs.loadBalancerType, "network");
        assert.equal(nlbInputs.internal, false);
        const subnets = (nlbInputs.subnets as string[]).map((id) => referenced(p(), nlb, id));
        assert.equal(new Set(subnets.map((subnet) => inputs(subnet).availabilityZone)).size, 3);
        assert.ok(subnets.every((subnet) => subnet.name.startsWith("public-")));
        assert.deepEqual(
            (nlbInputs.securityGroups as string[]).map((id) => referenced(p(), nlb, id).name),
            ["api-nlb-sg"],
        );

        const [targets] = p().ofType("aws:lb/targetGroup:TargetGroup");
        const { port, protocol, targetType, preserveClientIp, vpcId } = inputs(targets);
        assert.deepEqual({ port, protocol }, { port: 6443, protocol: "TCP" });
        assert.equal(referenced(p(), targets, vpcId).type, "aws:ec2/vpc:Vpc");
        // A master reaching the NLB must not be sent to itself with its own address as source (it hangs).
        assert.ok(
            targetType === "ip" || (targetType === "instance" && preserveClientIp === "false"),
            `targetType ${targetType} with preserveClientIp ${preserveClientIp}`,
        );

        // An apiserver that accepts connections but is not ready gets no traffic.
        assert.deepEqual(inputs(targets).healthCheck, {
            protocol: "HTTPS",
            path: "/readyz",
            matcher: "200",
            port: "traffic-port",
            interval: 5,
            timeout: 4,
            healthyThreshold: 2,
            unhealthyThreshold: 2,
        });
        // ELB refuses an internet-facing NLB until the VPC has its internet gateway. It takes addresses of the
        // public subnets, never a planned one (reserved): it waits for neither the bastion nor a NAT gateway.
        assert.ok(nlb.dependencies.includes("internet-gateway"), "the NLB waits for the internet gateway");
        assert.deepEqual(
            [...p().ancestors(nlb.name)].filter((name) => /^(bastion|nat-)/.test(name)),
            [],
            "nothing of the bastion's or the NAT gateway's comes before the NLB",
        );
        for (const reservation of p().ofType("aws:ec2/subnetCidrReservation:SubnetCidrReservation")) {
            assert.ok(nlb.dependencies.includes(reservation.name), `the NLB waits for ${reservation.name}`);
        }

        const [listener] = p().ofType("aws:lb/listener:Listener");
        const listenerInputs = inputs(listener);
        assert.deepEqual(
            { port: listenerInputs.port, protocol: listenerInputs.protocol },
            { port: 6443, protocol: "TCP" },
        );
        // Watches, exec and logs -f idle for long: like the Aliyun listener, not AWS's default 350 s.
        assert.equal(listenerInputs.tcpIdleTimeoutSeconds, 900);
        assert.ok(listener.dependencies.includes(nlb.name));
        const actions = listenerInputs.defaultActions as Inputs[];
        assert.equal(actions.length, 1);
        assert.equal(actions[0].type, "forward");
        assert.ok(listener.dependencies.includes(targets.name));

        const attached = p()
            .ofType("aws:lb/targetGroupAttachment:TargetGroupAttachment")
            .map((attachment) => {
                assert.ok(attachment.dependencies.includes(targets.name));
                assert.equal(inputs(attachment).port, 6443);
                return referenced(p(), attachment, inputs(attachment).targetId).name;
            });
        assert.deepEqual(attached.sort(), masters);
    });

    test("a private zone on the VPC with one A record per host at its planned address", () => {
        const planned = p().outputs.hosts as Record<string, { privateIp: string }>;
        const [zone] = p().ofType("aws:route53/zone:Zone");
        assert.equal(inputs(zone).name, "k8s.internal");
        const vpcs = inputs(zone).vpcs as Inputs[];
        assert.equal(vpcs.length, 1, "a zone with a VPC is private");
        assert.equal(referenced(p(), zone, vpcs[0].vpcId).type, "aws:ec2/vpc:Vpc");
        const records = p().ofType("aws:route53/record:Record");
        assert.deepEqual(
            records.map((record) => inputs(record).name).sort(),
            Object.keys(planned)
                .map((name) => `${name}.k8s.internal`)
                .sort(),
        );
        for (const record of records) {
            const host = String(inputs(record).name).split(".")[0];
            assert.equal(inputs(record).type, "A");
            assert.deepEqual(inputs(record).records, [planned[host].privateIp]);
            assert.ok(record.dependencies.includes(zone.name), `${record.name} is not in the private zone`);
        }
        // Hosts resolve what they need at boot from /etc/hosts: no instance waits for a Route53 change.
        for (const host of p().ofType("aws:ec2/instance:Instance")) {
            const waitsFor = host.dependencies.filter((name) => records.some((record) => record.name === name));
            assert.deepEqual(waitsFor, [], `${host.name} waits for DNS records`);
        }
    });
});

describe("aws-dev: per-zone NAT, dedicated etcd, wireguard, restricted CIDRs", () => {
    const p = () =>
        plan({
            stack: "aws-dev",
            config: {
                "kubeha:network": { natGateways: "per-zone", vpcCidr: "10.20.0.0/16" },
                "kubeha:etcd": { dedicated: true, count: 3, diskSizeGb: 30 },
                "kubeha:workers": { count: 4, containerdDiskSizeGb: 80 },
                "kubeha:addons": { cni: { backend: "wireguard" } },
                "kubeha:allowedCidrs": {
                    ssh: ["198.51.100.0/24"],
                    api: ["198.51.100.0/24", "203.0.113.7/32", "203.0.113.7/32"],
                    // e.g. the public subnets, where a load balancer of the operator's own would sit.
                    nodePorts: ["10.20.128.0/17", "10.20.128.0/17"],
                },
            },
        });

    test("one NAT gateway per zone, each private subnet routed through its own zone's", () => {
        assert.equal(p().ofType("aws:ec2/natGateway:NatGateway").length, 3);
        assert.equal(p().ofType("aws:ec2/eip:Eip").length, 3 + 1);
        for (const association of p().ofType("aws:ec2/routeTableAssociation:RouteTableAssociation")) {
            const subnet = referenced(p(), association, inputs(association).subnetId);
            if (!subnet.name.startsWith("private-")) continue;
            const table = referenced(p(), association, inputs(association).routeTableId);
            const route = defaultRouteOf(p(), table);
            const nat = referenced(p(), route, inputs(route).natGatewayId);
            const natSubnet = referenced(p(), nat, inputs(nat).subnetId);
            assert.equal(inputs(natSubnet).availabilityZone, inputs(subnet).availabilityZone, subnet.name);
        }
        // Each NAT gateway has a planned address in its public subnet, never the bastion's, inside the subnet's
        // explicit reservation (which AWS assigns nothing of by itself), created before it.
        const bastion = instance(p(), "bastion");
        const reservations = p().ofType("aws:ec2/subnetCidrReservation:SubnetCidrReservation");
        assert.equal(reservations.length, 3);
        const reservationOf = (subnet: string) => {
            const found = reservations.filter((r) => referenced(p(), r, inputs(r).subnetId).name === subnet);
            assert.equal(found.length, 1, `one reservation in ${subnet}`);
            assert.equal(inputs(found[0]).reservationType, "explicit");
            return found[0];
        };
        const bastionSubnet = referenced(p(), bastion, inputs(bastion).subnetId).name;
        const bastionReservation = reservationOf(bastionSubnet);
        assert.ok(containsAddress(String(inputs(bastionReservation).cidrBlock), String(inputs(bastion).privateIp)));
        assert.ok(bastion.dependencies.includes(bastionReservation.name), "the bastion comes after its reservation");
        p()
            .ofType("aws:ec2/natGateway:NatGateway")
            .forEach((nat, zoneIndex) => {
                assert.equal(nat.name, `nat-gateway-${zoneIndex + 1}`);
                assert.equal(inputs(nat).privateIp, `10.20.${128 + zoneIndex * 16}.5`);
                assert.notEqual(inputs(nat).privateIp, inputs(bastion).privateIp);
                const natSubnet = referenced(p(), nat, inputs(nat).subnetId);
                assert.equal(inputs(natSubnet).cidrBlock, `10.20.${128 + zoneIndex * 16}.0/20`);
                const reservation = reservationOf(natSubnet.name);
                assert.equal(inputs(reservation).cidrBlock, `10.20.${128 + zoneIndex * 16}.4/30`);
                assert.ok(containsAddress(String(inputs(reservation).cidrBlock), String(inputs(nat).privateIp)));
                assert.ok(nat.dependencies.includes(reservation.name), `${nat.name} comes after its reservation`);
            });
    });

    test("the rules follow the CNI backend, the VPC and the allowed CIDRs", () => {
        assertSameSet(ruleLines(p()), [
            "bastion-sg in tcp 22 from 198.51.100.0/24",
            "master-sg in tcp 22 from bastion-sg",
            "worker-sg in tcp 22 from bastion-sg",
            "etcd-sg in tcp 22 from bastion-sg",
            "master-sg in tcp 6443 from 10.20.0.0/16",
            "master-sg in tcp 6443 from api-nlb-sg",
            "master-sg in tcp 10250 from master-sg",
            "worker-sg in tcp 10250 from master-sg",
            "master-sg in udp 51820 from master-sg",
            "master-sg in udp 51820 from worker-sg",
            "worker-sg in udp 51820 from master-sg",
            "worker-sg in udp 51820 from worker-sg",
            "master-sg in tcp 30000-32767 from master-sg",
            "master-sg in tcp 30000-32767 from worker-sg",
            "master-sg in tcp 30000-32767 from 10.20.128.0/17",
            "worker-sg in tcp 30000-32767 from master-sg",
            "worker-sg in tcp 30000-32767 from worker-sg",
            "worker-sg in tcp 30000-32767 from 10.20.128.0/17",
            "etcd-sg in tcp 2379 from etcd-sg",
            "etcd-sg in tcp 2379 from master-sg",
            "etcd-sg in tcp 2380 from etcd-sg",
            "api-nlb-sg in tcp 6443 from 198.51.100.0/24",
            "api-nlb-sg in tcp 6443 from 203.0.113.7/32",
            "api-nlb-sg out tcp 6443 to master-sg",
            "bastion-sg out all to 0.0.0.0/0",
            "master-sg out all to 0.0.0.0/0",
            "worker-sg out all to 0.0.0.0/0",
            "etcd-sg out all to 0.0.0.0/0",
        ]);
    });

    test("dedicated etcd hosts carry the etcd group and disk; masters neither", () => {
        assert.equal(p().ofType("aws:ec2/instance:Instance").length, 1 + 3 + 3 + 4);
        const groupsOf = (name: string) => {
            const host = instance(p(), name);
            return (inputs(host).vpcSecurityGroupIds as string[]).map((id) => referenced(p(), host, id).name);
        };
        const disksOf = (name: string) =>
            p()
                .ofType("aws:ec2/volumeAttachment:VolumeAttachment")
                .filter((attachment) => referenced(p(), attachment, inputs(attachment).instanceId).name === name)
                .map((attachment) => {
                    const volume = referenced(p(), attachment, inputs(attachment).volumeId);
                    return `${inputs(attachment).deviceName} ${inputs(volume).size}`;
                })
                .sort();
        for (const i of [1, 2, 3]) {
            assert.deepEqual(groupsOf(`master-${i}`), ["master-sg"]);
            assert.deepEqual(disksOf(`master-${i}`), ["/dev/sdg 50"]);
            assert.deepEqual(groupsOf(`etcd-${i}`), ["etcd-sg"]);
            assert.deepEqual(disksOf(`etcd-${i}`), ["/dev/sdf 30"]);
        }
        assert.equal(new Set([1, 2, 3].map((i) => zoneOf(p(), instance(p(), `etcd-${i}`)))).size, 3);
        for (const i of [1, 2, 3, 4]) assert.deepEqual(disksOf(`worker-${i}`), ["/dev/sdg 80"]);
        assert.equal(p().ofType("aws:route53/record:Record").length, 1 + 3 + 3 + 4);
    });
});

describe("what AwsInfra hands to the bootstrap", () => {
    const valueOf = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

    test("hosts in layout order without the bastion, SSH through the bastion's Elastic IP, a lower-case API name", async () => {
        const mocks = new KubehaMocks({ region: "eu-central-1" });
        const eips: string[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: async (args) => {
                    const result = await mocks.newResource(args);
                    if (args.type === "aws:ec2/eip:Eip") eips.push(`${args.name} ${result.state.publicIp}`);
                    // AWS keeps the case of the load balancer's name in its DNS name; certificates and
                    // kubeconfigs compare names in lower case.
                    if (args.type !== "aws:lb/loadBalancer:LoadBalancer") return result;
                    return {
                        ...result,
                        state: { ...result.state, dnsName: "Api-Nlb-0123.elb.eu-central-1.amazonaws.com" },
                    };
                },
                call: (args) => mocks.call(args),
            },
            "kubeha",
            "aws-unit",
            false,
        );
        const resolved = resolveConfig({ values: { cloud: "aws" }, regions: { aws: "eu-central-1" } });
        assert.ok(resolved.ok);
        const zones = ["eu-central-1a", "eu-central-1b", "eu-central-1c"];
        const layout = planHosts({
            cloud: "aws",
            vpcCidr: resolved.config.network.vpcCidr,
            zoneCount: 3,
            masters: 3,
            workers: 2,
            dedicatedEtcd: 0,
        });
        const infra = new AwsInfra("aws", {
            config: resolved.config,
            zones,
            layout,
            sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample kubeha",
            sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nexample\n-----END OPENSSH PRIVATE KEY-----\n",
            userData: { "master-1": packUserData("master-1", "#cloud-config\nhostname: master-1\n") },
        });

        assert.deepEqual(infra.zones, zones);
        assert.deepEqual(
            infra.hosts.map((host) => `${host.name} ${host.fqdn} ${host.privateIp}`),
            layout
                .filter((host) => host.role !== "bastion")
                .map((host) => `${host.name} ${host.name}.k8s.internal ${host.privateIp}`),
        );
        for (const host of infra.hosts) {
            const urn = await valueOf(host.instance.urn);
            assert.ok(urn.endsWith(`aws:ec2/instance:Instance::${host.name}`), urn);
        }
        const master = infra.hosts[0].instance as unknown as { userDataBase64: pulumi.Output<string> };
        assert.equal(unpackUserData(await valueOf(master.userDataBase64)), "#cloud-config\nhostname: master-1\n");

        assert.equal(infra.ssh.bastionUser, "ubuntu");
        assert.equal(infra.ssh.hostUser, "ubuntu");
        const bastionAddress = await valueOf(infra.ssh.bastionAddress!);
        assert.ok(eips.includes(`bastion-eip ${bastionAddress}`), `${bastionAddress} is not the bastion's Elastic IP`);
        assert.equal(await pulumi.isSecret(infra.ssh.privateKey), true, "the private key must stay a secret");
        assert.equal(await valueOf(infra.apiLoadBalancer.endpoint), "api-nlb-0123.elb.eu-central-1.amazonaws.com");
        assert.deepEqual(await valueOf(infra.apiLoadBalancer.names), ["api-nlb-0123.elb.eu-central-1.amazonaws.com"]);
        // Known before the NLB exists, and covering its name: the region's load balancer names as one wildcard.
        assert.deepEqual(await valueOf(infra.apiLoadBalancer.certificateNames!), ["*.elb.eu-central-1.amazonaws.com"]);
    });
});
