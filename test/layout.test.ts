// The address plan is a contract: every host's address, zone and subnet is an input of its instance, so a
// changed layout replaces hosts of existing stacks. The expectations here are literal, not derived from
// config/layout.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LayoutInput, planHosts, zoneSubnets } from "../config/layout";
import { Plan, plan } from "./support/plan";

/** `<host> <address> <subnet> <subnet CIDR>` for every instance of a plan, and every subnet with its CIDR. */
function addressPlan(result: Plan): { hosts: string[]; subnets: string[] } {
    const instances = result.resources.filter((resource) => resource.type.endsWith("/instance:Instance"));
    const subnetTypes = ["alicloud:vpc/switch:Switch", "aws:ec2/subnet:Subnet"];
    const subnets = result.resources.filter((resource) => subnetTypes.includes(resource.type));
    return {
        hosts: instances.map((instance) => {
            const subnetId = String(instance.inputs.vswitchId ?? instance.inputs.subnetId);
            const subnet = result.named(subnetId.replace(/-id$/, ""));
            return `${instance.name} ${instance.inputs.privateIp} ${subnet.name} ${subnet.inputs.cidrBlock}`;
        }),
        subnets: subnets.map((subnet) => {
            const zone = subnet.inputs.zoneId ?? subnet.inputs.availabilityZone;
            return `${subnet.name} ${zone} ${subnet.inputs.cidrBlock}`;
        }),
    };
}

describe("the default layouts, literally", () => {
    test("Aliyun (dev stack): VPC 192.168.0.0/16 over three zones", () => {
        const result = plan({ stack: "dev" });
        assert.equal(result.named("vpc").inputs.cidrBlock, "192.168.0.0/16");
        assert.deepEqual(addressPlan(result), {
            hosts: [
                "bastion 192.168.128.4 public-cn-hangzhou-h 192.168.128.0/20",
                "master-1 192.168.0.10 private-cn-hangzhou-h 192.168.0.0/20",
                "master-2 192.168.16.10 private-cn-hangzhou-i 192.168.16.0/20",
                "master-3 192.168.32.10 private-cn-hangzhou-j 192.168.32.0/20",
                "worker-1 192.168.0.32 private-cn-hangzhou-h 192.168.0.0/20",
                "worker-2 192.168.16.32 private-cn-hangzhou-i 192.168.16.0/20",
                "worker-3 192.168.32.32 private-cn-hangzhou-j 192.168.32.0/20",
            ],
            subnets: [
                "private-cn-hangzhou-h cn-hangzhou-h 192.168.0.0/20",
                "private-cn-hangzhou-i cn-hangzhou-i 192.168.16.0/20",
                "private-cn-hangzhou-j cn-hangzhou-j 192.168.32.0/20",
                "public-cn-hangzhou-h cn-hangzhou-h 192.168.128.0/20",
                "public-cn-hangzhou-i cn-hangzhou-i 192.168.144.0/20",
                "public-cn-hangzhou-j cn-hangzhou-j 192.168.160.0/20",
            ],
        });
    });

    test("AWS (aws-dev stack): VPC 192.168.0.0/16 over three zones", () => {
        const result = plan({ stack: "aws-dev" });
        const [vpc] = result.ofType("aws:ec2/vpc:Vpc");
        assert.equal(vpc.inputs.cidrBlock, "192.168.0.0/16");
        assert.deepEqual(addressPlan(result), {
            hosts: [
                "bastion 192.168.128.4 public-subnet-1 192.168.128.0/20",
                "master-1 192.168.0.10 private-subnet-1 192.168.0.0/20",
                "master-2 192.168.16.10 private-subnet-2 192.168.16.0/20",
                "master-3 192.168.32.10 private-subnet-3 192.168.32.0/20",
                "worker-1 192.168.0.32 private-subnet-1 192.168.0.0/20",
                "worker-2 192.168.16.32 private-subnet-2 192.168.16.0/20",
                "worker-3 192.168.32.32 private-subnet-3 192.168.32.0/20",
            ],
            subnets: [
                "private-subnet-1 eu-central-1a 192.168.0.0/20",
                "private-subnet-2 eu-central-1b 192.168.16.0/20",
                "private-subnet-3 eu-central-1c 192.168.32.0/20",
                "public-subnet-1 eu-central-1a 192.168.128.0/20",
                "public-subnet-2 eu-central-1b 192.168.144.0/20",
                "public-subnet-3 eu-central-1c 192.168.160.0/20",
            ],
        });
    });
});

describe("the address plan for other shapes, literally", () => {
    const lines = (input: LayoutInput) =>
        planHosts(input).map(
            (host) => `${host.name} ${host.role} z${host.zoneIndex} ${host.privateIp}${host.etcdMember ? " etcd" : ""}`,
        );

    test("5 masters, 3 dedicated etcd hosts, 4 workers over 3 zones: each role keeps its own range", () => {
        assert.deepEqual(lines({ vpcCidr: "10.0.0.0/16", zoneCount: 3, masters: 5, workers: 4, dedicatedEtcd: 3 }), [
            "bastion bastion z0 10.0.128.4",
            "master-1 master z0 10.0.0.10",
            "master-2 master z1 10.0.16.10",
            "master-3 master z2 10.0.32.10",
            "master-4 master z0 10.0.0.11",
            "master-5 master z1 10.0.16.11",
            "etcd-1 etcd z0 10.0.0.20 etcd",
            "etcd-2 etcd z1 10.0.16.20 etcd",
            "etcd-3 etcd z2 10.0.32.20 etcd",
            "worker-1 worker z0 10.0.0.32",
            "worker-2 worker z1 10.0.16.32",
            "worker-3 worker z2 10.0.32.32",
            "worker-4 worker z0 10.0.0.33",
        ]);
    });

    test("a /20 VPC over two zones: /24 zone subnets, public ones from the upper half", () => {
        assert.deepEqual(lines({ vpcCidr: "172.16.0.0/20", zoneCount: 2, masters: 1, workers: 2, dedicatedEtcd: 0 }), [
            "bastion bastion z0 172.16.8.4",
            "master-1 master z0 172.16.0.10 etcd",
            "worker-1 worker z0 172.16.0.32",
            "worker-2 worker z1 172.16.1.32",
        ]);
        assert.deepEqual(zoneSubnets("172.16.0.0/20", 1), { private: "172.16.1.0/24", public: "172.16.9.0/24" });
    });

    test("adding workers or masters moves no existing host", () => {
        const base = { vpcCidr: "192.168.0.0/16", zoneCount: 3, masters: 3, workers: 3, dedicatedEtcd: 0 };
        const before = lines(base);
        const grown = lines({ ...base, masters: 5, workers: 40 });
        for (const line of before) assert.ok(grown.includes(line), `${line} moved`);
    });
});
