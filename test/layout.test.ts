// The address plan is a contract: every host's address, zone and subnet is an input of its instance, so a
// changed layout replaces hosts of existing stacks. The expectations here are literal, not derived from
// config/layout.ts.
// And it never hands out an address the cloud reserves, whatever the VPC size and host count.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { containsAddress, parseCidr, size } from "../config/cidr";
import {
    LayoutInput,
    layoutProblems,
    natGatewayAddress,
    planHosts,
    plannedPublicRange,
    reservedAddresses,
    zoneSubnets,
} from "../config/layout";
import { clouds } from "../config/schema";
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
                "master-2 192.168.16.10 private-cn-hangzhou-j 192.168.16.0/20",
                "master-3 192.168.32.10 private-cn-hangzhou-l 192.168.32.0/20",
                "worker-1 192.168.0.32 private-cn-hangzhou-h 192.168.0.0/20",
                "worker-2 192.168.16.32 private-cn-hangzhou-j 192.168.16.0/20",
                "worker-3 192.168.32.32 private-cn-hangzhou-l 192.168.32.0/20",
            ],
            subnets: [
                "private-cn-hangzhou-h cn-hangzhou-h 192.168.0.0/20",
                "private-cn-hangzhou-j cn-hangzhou-j 192.168.16.0/20",
                "private-cn-hangzhou-l cn-hangzhou-l 192.168.32.0/20",
                "public-cn-hangzhou-h cn-hangzhou-h 192.168.128.0/20",
                "public-cn-hangzhou-j cn-hangzhou-j 192.168.144.0/20",
                "public-cn-hangzhou-l cn-hangzhou-l 192.168.160.0/20",
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
        assert.deepEqual(
            lines({ cloud: "aliyun", vpcCidr: "10.0.0.0/16", zoneCount: 3, masters: 5, workers: 4, dedicatedEtcd: 3 }),
            [
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
            ],
        );
    });

    test("a /20 VPC over two zones: /24 zone subnets, public ones from the upper half", () => {
        assert.deepEqual(
            lines({
                cloud: "aliyun",
                vpcCidr: "172.16.0.0/20",
                zoneCount: 2,
                masters: 1,
                workers: 2,
                dedicatedEtcd: 0,
            }),
            [
                "bastion bastion z0 172.16.8.4",
                "master-1 master z0 172.16.0.10 etcd",
                "worker-1 worker z0 172.16.0.32",
                "worker-2 worker z1 172.16.1.32",
            ],
        );
        assert.deepEqual(zoneSubnets("172.16.0.0/20", 1), { private: "172.16.1.0/24", public: "172.16.9.0/24" });
    });

    test("adding workers or masters moves no existing host", () => {
        const base = {
            cloud: "aliyun" as const,
            vpcCidr: "192.168.0.0/16",
            zoneCount: 3,
            masters: 3,
            workers: 3,
            dedicatedEtcd: 0,
        };
        const before = lines(base);
        const grown = lines({ ...base, masters: 5, workers: 40 });
        for (const line of before) assert.ok(grown.includes(line), `${line} moved`);
    });
});

/** The offset of an address in a CIDR, or undefined when it lies outside. */
function offsetIn(cidr: string, address: string): number | undefined {
    const block = parseCidr(cidr);
    const value = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
    const offset = value - block.base;
    return offset >= 0 && offset < size(block) ? offset : undefined;
}

/** Which of the zone's subnets holds the address, and at which offset. */
function placement(vpcCidr: string, zoneIndex: number, address: string): { subnet: string; offset: number } {
    const subnets = zoneSubnets(vpcCidr, zoneIndex);
    for (const subnet of [subnets.private, subnets.public]) {
        const offset = offsetIn(subnet, address);
        if (offset !== undefined) return { subnet, offset };
    }
    assert.fail(`${address} is in neither subnet of zone ${zoneIndex}`);
}

/** The most workers the layout accepts for this shape (it refuses one more). */
function maxWorkers(input: Omit<LayoutInput, "workers">): number {
    let workers = 0;
    while (layoutProblems({ ...input, workers: workers + 1 }).length === 0) workers++;
    return workers;
}

/** What the clouds' docs say they reserve in every subnet (vSwitch). */
const documented = { aliyun: { first: 1, last: 3 }, aws: { first: 4, last: 1 } } as const;

describe("address plan", () => {
    for (const cloud of clouds) {
        test(`${cloud}: no host and no NAT gateway ever gets a reserved address, up to the largest layout`, () => {
            const reserved = documented[cloud];
            let checked = 0;
            for (const prefix of [16, 18, 20, 21, 22]) {
                for (const zoneCount of [2, 3, 4]) {
                    const vpcCidr = `10.0.0.0/${prefix}`;
                    const shape = { cloud, vpcCidr, zoneCount, masters: 7, dedicatedEtcd: 7 };
                    const workers = Math.min(maxWorkers(shape), 1000);
                    if (workers === 0) continue;
                    const hosts = planHosts({ ...shape, workers });
                    const addresses = [
                        ...hosts.map((host) => ({
                            name: host.name,
                            zoneIndex: host.zoneIndex,
                            address: host.privateIp,
                        })),
                        ...Array.from({ length: zoneCount }, (_, zoneIndex) => ({
                            name: `nat-${zoneIndex + 1}`,
                            zoneIndex,
                            address: natGatewayAddress(vpcCidr, zoneIndex),
                        })),
                    ];
                    assert.equal(new Set(addresses.map((each) => each.address)).size, addresses.length, "distinct");
                    for (const { name, zoneIndex, address } of addresses) {
                        const { subnet, offset } = placement(vpcCidr, zoneIndex, address);
                        const last = size(parseCidr(subnet)) - 1;
                        const where = `${cloud} ${vpcCidr} ${zoneCount} zones ${workers} workers: ${name} ${address}`;
                        assert.ok(
                            offset >= reserved.first,
                            `${where} is among the first ${reserved.first} of ${subnet}`,
                        );
                        assert.ok(
                            offset <= last - reserved.last,
                            `${where} is among the last ${reserved.last} of ${subnet}`,
                        );
                        checked++;
                    }
                }
            }
            assert.ok(checked > 1000);
            assert.deepEqual(reservedAddresses[cloud], reserved);
        });
    }

    test("each public subnet's reserved planned range holds its bastion and NAT gateway addresses, past the cloud's own", () => {
        for (const vpcCidr of ["10.0.0.0/16", "192.168.0.0/16", "10.20.0.0/22"]) {
            const hosts = planHosts({ cloud: "aws", vpcCidr, zoneCount: 3, masters: 3, workers: 3, dedicatedEtcd: 0 });
            for (let zoneIndex = 0; zoneIndex < 3; zoneIndex++) {
                const range = plannedPublicRange(vpcCidr, zoneIndex);
                const subnet = parseCidr(zoneSubnets(vpcCidr, zoneIndex).public);
                const reserved = parseCidr(range);
                assert.ok(reserved.base >= subnet.base + reservedAddresses.aws.first, `${range}: past AWS's own`);
                assert.ok(reserved.base + size(reserved) <= subnet.base + size(subnet), `${range} inside its subnet`);
                assert.ok(
                    containsAddress(range, natGatewayAddress(vpcCidr, zoneIndex)),
                    `${range} holds the NAT gateway's`,
                );
                for (const host of hosts) {
                    const inside = containsAddress(range, host.privateIp);
                    const planned = host.role === "bastion" && host.zoneIndex === zoneIndex;
                    assert.equal(inside, planned, `${host.name} ${host.privateIp} and ${range}`);
                }
            }
        }
    });

    test("the largest layout fills a zone subnet up to the cloud's reserved end, not further", () => {
        // A /22 VPC: zone subnets of 64 addresses; workers from offset 32 up to 63 minus the reserved end.
        const shape = { vpcCidr: "10.0.0.0/22", zoneCount: 1, masters: 1, dedicatedEtcd: 0 };
        assert.equal(maxWorkers({ ...shape, cloud: "aws" }), 64 - 32 - 1);
        assert.equal(maxWorkers({ ...shape, cloud: "aliyun" }), 64 - 32 - 3);
        assert.match(
            layoutProblems({ ...shape, cloud: "aliyun", workers: 30 }).join("\n"),
            /^network\.vpcCidr: \/22 gives zone subnets of 64 addresses, but 30 workers per zone need 65; use a \/21 VPC or larger$/,
        );
    });
});
