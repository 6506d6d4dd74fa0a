// The Aliyun infrastructure as the offline plan of the dev stack shows it: network, firewall, hosts, DNS, API NLB.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as ipaddr from "ipaddr.js";
import type { PlannedResource } from "../../../plan/run";
import { KubehaMocks } from "../../../plan/mocks";
import { bootWaitingStep, Plan, plan, runPlanCli } from "../../support/plan";

const imagesToken = "alicloud:ecs/getImages:getImages";

const t = {
    instance: "alicloud:ecs/instance:Instance",
    switch: "alicloud:vpc/switch:Switch",
    group: "alicloud:ecs/securityGroup:SecurityGroup",
    rule: "alicloud:ecs/securityGroupRule:SecurityGroupRule",
    keyPair: "alicloud:ecs/ecsKeyPair:EcsKeyPair",
    nlb: "alicloud:nlb/loadBalancer:LoadBalancer",
    serverGroup: "alicloud:nlb/serverGroup:ServerGroup",
    backend: "alicloud:nlb/serverGroupServerAttachment:ServerGroupServerAttachment",
    listener: "alicloud:nlb/listener:Listener",
    record: "alicloud:pvtz/zoneRecord:ZoneRecord",
    eip: "alicloud:ecs/eipAddress:EipAddress",
    apiRecord: "alicloud:dns/alidnsRecord:AlidnsRecord",
    disk: "alicloud:ecs/ecsDisk:EcsDisk",
    diskAttachment: "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment",
};

/** The dev stack with etcd on its own hosts, WireGuard, restricted CIDRs and non-default sizes. */
const variant = {
    stack: "dev",
    config: {
        "kubeha:etcd": { dedicated: true, count: 3, diskSizeGb: 30 },
        "kubeha:masters": { count: 3, diskSizeGb: 45, containerdDiskSizeGb: 60 },
        "kubeha:workers": { count: 4, diskSizeGb: 50, containerdDiskSizeGb: 120 },
        "kubeha:addons": { cni: { backend: "wireguard" } },
        "kubeha:apiDns": { domain: "example.com", record: "k8s-api.prod" },
        // Listed twice: still one rule each.
        "kubeha:allowedCidrs": {
            ssh: ["198.51.100.7/32", "198.51.100.7/32"],
            api: ["198.51.100.0/24", "192.0.2.0/24", "198.51.100.0/24"],
            // Aliyun's load balancers health-check from 100.64.0.0/10.
            nodePorts: ["100.64.0.0/10", "100.64.0.0/10"],
        },
    },
};

interface LayoutHost {
    readonly role: string;
    readonly zone: string;
    readonly privateIp: string;
}

/** The address plan, as index.ts exports it (independent of the Aliyun component). */
function layoutOf(result: Plan): Record<string, LayoutHost> {
    return result.outputs.hosts as Record<string, LayoutHost>;
}

/** The mock runtime gives every resource the id `<name>-id` (plan/mocks.ts). */
function byId(result: Plan, id: unknown): PlannedResource {
    const found = result.resources.find((resource) => `${resource.name}-id` === id);
    if (!found) throw new Error(`no resource with id ${String(id)}`);
    return found;
}

function vswitchOf(result: Plan, instance: PlannedResource): PlannedResource {
    const vswitch = byId(result, instance.inputs.vswitchId);
    assert.equal(vswitch.type, t.switch);
    return vswitch;
}

/** Every security-group rule as one line: `<group> <policy> <proto> <ports> from <cidr|group> [priority]`. */
function ruleLines(result: Plan): string[] {
    return result.ofType(t.rule).map((rule) => {
        const { inputs } = rule;
        assert.equal(inputs.type, "ingress", `${rule.name}: only ingress rules (egress stays the default)`);
        assert.equal(inputs.nicType, "intranet", `${rule.name}: VPC rules are intranet rules`);
        const source =
            inputs.sourceSecurityGroupId !== undefined
                ? byId(result, inputs.sourceSecurityGroupId).name
                : String(inputs.cidrIp);
        const group = byId(result, inputs.securityGroupId).name;
        return `${group} ${inputs.policy} ${inputs.ipProtocol} ${inputs.portRange} from ${source} p${inputs.priority}`;
    });
}

describe("Aliyun infrastructure (dev stack)", () => {
    test("resource counts follow the config", () => {
        const counts = (hosts: number, groups: number, rules: number, apiRecords: number) => ({
            "alicloud:vpc/network:Network": 1,
            [t.switch]: 6,
            "alicloud:vpc/natGateway:NatGateway": 1,
            // The NAT gateway's, and one per zone for the API load balancer (a new NLB's own name does not answer).
            [t.eip]: 1 + 3,
            "alicloud:ecs/eipAssociation:EipAssociation": 1,
            "alicloud:vpc/snatEntry:SnatEntry": 3,
            [t.group]: groups,
            [t.rule]: rules,
            [t.keyPair]: 1,
            [t.instance]: hosts,
            "alicloud:pvtz/zone:Zone": 1,
            "alicloud:pvtz/zoneAttachment:ZoneAttachment": 1,
            [t.record]: hosts,
            [t.nlb]: 1,
            [t.serverGroup]: 1,
            [t.backend]: 3,
            [t.listener]: 1,
            // etcd data disks are resources of their own, attached to the etcd members (masters or etcd hosts).
            [t.disk]: 3,
            [t.diskAttachment]: 3,
            ...(apiRecords ? { [t.apiRecord]: apiRecords } : {}),
        });
        // dev: bastion, 3 masters, 3 workers; the variant adds 3 etcd hosts (and their group) and a worker.
        for (const [request, expected] of [
            [{ stack: "dev" }, counts(7, 4, 17, 0)],
            [variant, counts(11, 5, 22, 1)],
        ] as const) {
            const result = plan(request);
            const actual: Record<string, number> = {};
            // The etcd backups' bucket and role are their own component's (test/etcd-backups.test.ts), the cloud
            // integration's roles theirs (test/cloud-integration.test.ts).
            const infraResources = result.resources.filter(
                (r) => r.type.startsWith("alicloud:") && r.parent !== "backup-store" && r.parent !== "controller-roles",
            );
            for (const resource of infraResources) {
                actual[resource.type] = (actual[resource.type] ?? 0) + 1;
                assert.equal(resource.parent, "aliyun", `${resource.name} belongs to the AliyunInfra component`);
            }
            assert.deepEqual(actual, expected);
        }
    });

    test("one private and one public vSwitch per zone, carved from the VPC", () => {
        const result = plan({ stack: "dev" });
        const vpcCidr = ipaddr.parseCIDR(String(result.named("vpc").inputs.cidrBlock));
        const zones = result.outputs.zones as string[];
        for (const zone of zones) {
            for (const kind of ["private", "public"]) {
                const vswitch = result.named(`${kind}-${zone}`);
                assert.equal(vswitch.inputs.zoneId, zone);
                assert.equal(vswitch.inputs.vpcId, "vpc-id");
                const [network] = ipaddr.parseCIDR(String(vswitch.inputs.cidrBlock));
                assert.ok((network as ipaddr.IPv4).match(vpcCidr as [ipaddr.IPv4, number]));
            }
        }
    });

    test("masters sit in 3 different zones at their planned addresses; workers spread too", () => {
        const result = plan({ stack: "dev" });
        const layout = layoutOf(result);
        const zones = result.outputs.zones as string[];
        assert.equal(zones.length, 3, "the mock region offers more than 3 zones; the dev stack uses 3");
        for (const role of ["master", "worker"]) {
            const names = Object.keys(layout).filter((name) => layout[name].role === role);
            const usedZones = new Set<string>();
            for (const name of names) {
                const instance = result.named(name);
                const vswitch = vswitchOf(result, instance);
                assert.equal(vswitch.name, `private-${vswitch.inputs.zoneId}`, `${name} is in a private vSwitch`);
                assert.equal(vswitch.inputs.zoneId, layout[name].zone);
                assert.equal(instance.inputs.privateIp, layout[name].privateIp);
                const [address, prefix] = ipaddr.parseCIDR(String(vswitch.inputs.cidrBlock));
                assert.ok(ipaddr.IPv4.parse(layout[name].privateIp).match(address as ipaddr.IPv4, prefix));
                usedZones.add(String(vswitch.inputs.zoneId));
            }
            assert.deepEqual([...usedZones].sort(), [...zones].sort(), `${role}s cover every zone`);
        }
    });

    test("no public address on masters, workers or etcd hosts; the bastion has one in a public vSwitch", () => {
        for (const request of [{ stack: "dev" }, variant]) {
            const result = plan(request);
            for (const instance of result.ofType(t.instance)) {
                const role = layoutOf(result)[instance.name].role;
                const vswitch = vswitchOf(result, instance);
                if (role === "bastion") {
                    assert.ok(Number(instance.inputs.internetMaxBandwidthOut) > 0);
                    assert.match(vswitch.name, /^public-/);
                } else {
                    assert.equal(instance.inputs.internetMaxBandwidthOut, 0, `${instance.name} has no public IP`);
                    assert.match(vswitch.name, /^private-/);
                }
            }
            // The only EIP goes to the NAT gateway.
            const associations = result.ofType("alicloud:ecs/eipAssociation:EipAssociation");
            assert.deepEqual(
                associations.map((a) => [byId(result, a.inputs.instanceId).name, a.inputs.instanceType]),
                [["nat", "Nat"]],
            );
        }
    });

    test("private hosts reach the internet through an enhanced NAT gateway, one SNAT entry per private vSwitch", () => {
        const result = plan({ stack: "dev" });
        assert.equal(result.named("nat").inputs.natType, "Enhanced");
        const snat = result.ofType("alicloud:vpc/snatEntry:SnatEntry");
        const sources = snat.map((entry) => byId(result, entry.inputs.sourceVswitchId).name).sort();
        const zones = result.outputs.zones as string[];
        assert.deepEqual(sources, zones.map((zone) => `private-${zone}`).sort());
        for (const entry of snat) {
            assert.ok(entry.dependencies.includes("nat-eip-association"), "SNAT waits for the EIP to be bound");
        }
        // Hosts boot while the NAT gateway comes up; their boot preparation waits for their way out.
        for (const instance of result.ofType(t.instance).filter((i) => i.name !== "bastion")) {
            const zone = vswitchOf(result, instance).inputs.zoneId;
            assert.ok(!instance.dependencies.some((d) => d.startsWith("snat-")), `${instance.name} boots at once`);
            const ready = result.named(bootWaitingStep(instance.name));
            assert.ok(ready.dependencies.includes(`snat-${zone}`), `${ready.name} waits for its way out`);
        }
    });

    test("mirrors inside the VPC: the hosts' boot waits for no NAT; the addons, whose images may need it, do", () => {
        const result = plan({ stack: "dev", config: { "kubeha:mirrors": { insideVpc: true } } });
        const snat = result.ofType("alicloud:vpc/snatEntry:SnatEntry").map((entry) => entry.name);
        assert.ok(snat.length > 0, "the NAT gateway is still there, for everything else");
        // The whole chain before each host's first steps: nothing of NAT's in it.
        for (const instance of result.ofType(t.instance).filter((i) => i.name !== "bastion")) {
            for (const step of [bootWaitingStep(instance.name), `${instance.name}-files`, `${instance.name}-keys`]) {
                const before = result.ancestors(step);
                assert.deepEqual(
                    [...before].filter((name) => /^(snat-|nat)/.test(name)),
                    [],
                    step,
                );
            }
        }
        // Every addon goes through the kubernetes provider, which waits for the API and for NAT.
        for (const entry of snat)
            assert.ok(result.ancestors("k8s").has(entry), `the addons' provider comes after ${entry}`);
    });

    test("security-group rules are exactly the allow-list (dev stack)", () => {
        const result = plan({ stack: "dev" });
        const vpc = "192.168.0.0/16";
        assert.equal(result.named("vpc").inputs.cidrBlock, vpc);
        const allowList = [
            "bastion-sg accept tcp 22/22 from 0.0.0.0/0 p1",
            "master-sg accept tcp 22/22 from bastion-sg p1",
            `master-sg accept tcp 6443/6443 from ${vpc} p1`,
            "master-sg accept tcp 2379/2380 from master-sg p1",
            "master-sg accept tcp 10250/10250 from master-sg p1",
            "master-sg accept udp 8472/8472 from master-sg p1",
            "master-sg accept udp 8472/8472 from worker-sg p1",
            "master-sg accept tcp 30000/32767 from master-sg p1",
            "master-sg accept tcp 30000/32767 from worker-sg p1",
            "worker-sg accept tcp 22/22 from bastion-sg p1",
            "worker-sg accept tcp 10250/10250 from master-sg p1",
            "worker-sg accept udp 8472/8472 from master-sg p1",
            "worker-sg accept udp 8472/8472 from worker-sg p1",
            "worker-sg accept tcp 30000/32767 from master-sg p1",
            "worker-sg accept tcp 30000/32767 from worker-sg p1",
            "api-nlb-sg accept tcp 6443/6443 from 0.0.0.0/0 p1",
            "api-nlb-sg drop tcp 6443/6443 from 0.0.0.0/0 p100",
        ];
        assert.deepEqual(ruleLines(result).sort(), allowList.sort());
    });

    test("security-group rules are exactly the allow-list (dedicated etcd, WireGuard, restricted CIDRs)", () => {
        const result = plan(variant);
        const vpc = "192.168.0.0/16";
        const allowList = [
            "bastion-sg accept tcp 22/22 from 198.51.100.7/32 p1",
            "master-sg accept tcp 22/22 from bastion-sg p1",
            `master-sg accept tcp 6443/6443 from ${vpc} p1`,
            "master-sg accept tcp 10250/10250 from master-sg p1",
            "master-sg accept udp 51820/51820 from master-sg p1",
            "master-sg accept udp 51820/51820 from worker-sg p1",
            "master-sg accept tcp 30000/32767 from master-sg p1",
            "master-sg accept tcp 30000/32767 from worker-sg p1",
            "master-sg accept tcp 30000/32767 from 100.64.0.0/10 p1",
            "worker-sg accept tcp 22/22 from bastion-sg p1",
            "worker-sg accept tcp 10250/10250 from master-sg p1",
            "worker-sg accept udp 51820/51820 from master-sg p1",
            "worker-sg accept udp 51820/51820 from worker-sg p1",
            "worker-sg accept tcp 30000/32767 from master-sg p1",
            "worker-sg accept tcp 30000/32767 from worker-sg p1",
            "worker-sg accept tcp 30000/32767 from 100.64.0.0/10 p1",
            "etcd-sg accept tcp 22/22 from bastion-sg p1",
            "etcd-sg accept tcp 2379/2380 from etcd-sg p1",
            "etcd-sg accept tcp 2379/2379 from master-sg p1",
            "api-nlb-sg accept tcp 6443/6443 from 198.51.100.0/24 p1",
            "api-nlb-sg accept tcp 6443/6443 from 192.0.2.0/24 p1",
            "api-nlb-sg drop tcp 6443/6443 from 0.0.0.0/0 p100",
        ];
        const lines = ruleLines(result);
        assert.deepEqual(lines.sort(), allowList.sort());
        assert.ok(
            !lines.some((line) => line.includes(" accept ") && line.includes("from 0.0.0.0/0")),
            "nothing accepts the whole internet",
        );
    });

    test("each host is in its role's group; no group lets its members talk freely", () => {
        for (const request of [{ stack: "dev" }, variant]) {
            const result = plan(request);
            const layout = layoutOf(result);
            for (const group of result.ofType(t.group)) assert.equal(group.inputs.innerAccessPolicy, "Drop");
            for (const instance of result.ofType(t.instance)) {
                const groups = (instance.inputs.securityGroups as string[]).map((id) => byId(result, id).name);
                assert.deepEqual(groups, [`${layout[instance.name].role}-sg`]);
            }
        }
    });

    test("disks: encrypted ESSD system disk, etcd disk on etcd members, containerd disk on nodes, sizes from config", () => {
        const sizes = variant.config;
        const expected: Record<string, { system: number; data: [string, number][] }> = {
            bastion: { system: 20, data: [] },
            master: { system: sizes["kubeha:masters"].diskSizeGb, data: [["containerd", 60]] },
            etcd: { system: sizes["kubeha:masters"].diskSizeGb, data: [["etcd", 30]] },
            worker: { system: 50, data: [["containerd", 120]] },
        };
        /** Inline data disks (released with the instance) and the etcd disk attached to it, per host. */
        const checkDisks = (result: Plan, want: typeof expected) => {
            for (const instance of result.ofType(t.instance)) {
                const role = layoutOf(result)[instance.name].role;
                const { inputs } = instance;
                assert.equal(inputs.systemDiskCategory, "cloud_essd");
                assert.equal(inputs.systemDiskEncrypted, true);
                assert.equal(inputs.systemDiskSize, want[role].system, `${instance.name} system disk`);
                const inline = inputs.dataDisks as Record<string, unknown>[];
                for (const disk of inline) {
                    assert.equal(disk.category, "cloud_essd");
                    assert.equal(disk.encrypted, true);
                    assert.equal(disk.deleteWithInstance, true);
                }
                const attached = result
                    .ofType(t.diskAttachment)
                    .filter((attachment) => byId(result, attachment.inputs.instanceId) === instance)
                    .map((attachment) => byId(result, attachment.inputs.diskId));
                assert.deepEqual(
                    [
                        ...attached.map((disk): [string, unknown] => [
                            disk.name.replace(`${instance.name}-`, "").replace(/-disk$/, ""),
                            disk.inputs.size,
                        ]),
                        ...inline.map((disk): [string, unknown] => [
                            String(disk.name).replace(`${instance.name}-`, ""),
                            disk.size,
                        ]),
                    ],
                    want[role].data,
                    `${instance.name} data disks: the etcd disk attached, then the inline ones`,
                );
            }
        };
        checkDisks(plan(variant), expected);
        // etcd on the masters (schema defaults: 20, 50, 100 GiB).
        checkDisks(plan({ stack: "dev" }), {
            bastion: { system: 20, data: [] },
            master: {
                system: 40,
                data: [
                    ["etcd", 20],
                    ["containerd", 50],
                ],
            },
            etcd: { system: 0, data: [] },
            worker: { system: 40, data: [["containerd", 100]] },
        });
    });

    test("etcd disks outlive their hosts: own resources, protected, never released with the instance", () => {
        for (const request of [{ stack: "dev" }, variant]) {
            const result = plan(request);
            const members = Object.entries(layoutOf(result))
                .filter(([, host]) => host.role === (request === variant ? "etcd" : "master"))
                .map(([name]) => name);
            const disks = result.ofType(t.disk);
            assert.deepEqual(disks.map((disk) => disk.name).sort(), members.map((name) => `${name}-etcd-disk`).sort());
            for (const disk of disks) {
                const host = disk.name.replace(/-etcd-disk$/, "");
                assert.equal(disk.protect, true, `${disk.name}: no routine pulumi up may delete or replace it`);
                assert.equal(disk.inputs.deleteWithInstance, false, `${disk.name} is not released with ${host}`);
                assert.equal(disk.inputs.encrypted, true);
                assert.equal(disk.inputs.category, "cloud_essd");
                assert.equal(disk.inputs.zoneId, layoutOf(result)[host].zone, `${disk.name} lies in ${host}'s zone`);
                assert.ok(
                    !disk.dependencies.includes(host),
                    `${disk.name} must not depend on (be replaced with) ${host}`,
                );
                const [attachment] = result
                    .ofType(t.diskAttachment)
                    .filter((candidate) => byId(result, candidate.inputs.diskId) === disk);
                assert.equal(byId(result, attachment.inputs.instanceId).name, host);
                assert.equal(attachment.inputs.deleteWithInstance, false);
            }
            for (const instance of result.ofType(t.instance)) {
                const inline = (instance.inputs.dataDisks ?? []) as { name: string }[];
                assert.ok(
                    !inline.some((disk) => disk.name.endsWith("-etcd")),
                    `${instance.name} has no inline etcd disk`,
                );
            }
        }
    });

    test("every host: Aliyun's own Ubuntu 24.04 x86_64 image, token-only metadata, non-root login", () => {
        const result = plan({ stack: "dev" });
        // The lookup: system images only (Aliyun's own, not the marketplace's or another account's).
        const lookups = result.invoked("alicloud:ecs/getImages:getImages");
        assert.deepEqual(lookups, [
            { architecture: "x86_64", mostRecent: true, nameRegex: "^ubuntu_24_04_x64", owners: "system" },
        ]);
        const [image] = new KubehaMocks({ region: "cn-hangzhou" }).call({ token: imagesToken, inputs: lookups[0] })
            .images as { id: string }[];
        for (const instance of result.ofType(t.instance)) {
            assert.equal(instance.inputs.imageId, image.id, `${instance.name} boots the image the lookup found`);
            // Every metadata option, so that a loosened one fails here (the hop limit stays Aliyun's default, 1).
            const metadata = Object.entries(instance.inputs).filter(([key]) => key.startsWith("http"));
            assert.deepEqual(Object.fromEntries(metadata), { httpTokens: "required" }, instance.name);
            assert.deepEqual(instance.inputs.imageOptions, { loginAsNonRoot: true });
            assert.equal(instance.inputs.instanceChargeType, "PostPaid");
        }
    });

    test("zones: only those offering the instance types on ESSD", () => {
        assert.deepEqual(plan({ stack: "dev" }).invoked("alicloud:index/getZones:getZones"), [
            {
                availableDiskCategory: "cloud_essd",
                availableInstanceType: "ecs.g7.large",
                availableResourceCreation: "Instance",
            },
            {
                availableDiskCategory: "cloud_essd",
                availableInstanceType: "ecs.t6-c1m2.large",
                availableResourceCreation: "Instance",
            },
        ]);
    });

    test("a newer image, user-data or disk list never touches a running host; a replacement frees its address first", () => {
        const result = plan({ stack: "dev" });
        for (const instance of result.ofType(t.instance)) {
            assert.deepEqual([...(instance.ignoreChanges ?? [])].sort(), ["dataDisks", "imageId", "userData"]);
            assert.equal(instance.deleteBeforeReplace, true, `${instance.name} keeps a fixed private address`);
        }
    });

    test("the key pair holds the generated 4096-bit RSA public key and every host uses it", () => {
        const result = plan({ stack: "dev" });
        const [keyPair] = result.ofType(t.keyPair);
        assert.ok(keyPair.dependencies.includes("ssh-key"), "the key comes from the program's tls.PrivateKey");
        const keyFile = path.join(result.dir, "key-pair.pub");
        fs.writeFileSync(keyFile, String(keyPair.inputs.publicKey));
        const fingerprint = spawnSync("ssh-keygen", ["-l", "-f", keyFile], { encoding: "utf8" });
        assert.equal(fingerprint.status, 0, fingerprint.stderr);
        assert.match(fingerprint.stdout, /^4096 SHA256:\S+ .*\(RSA\)$/m);
        for (const instance of result.ofType(t.instance)) {
            assert.equal(instance.inputs.keyName, keyPair.inputs.keyPairName);
            assert.ok(instance.dependencies.includes(keyPair.name));
        }
        assert.doesNotMatch(result.file("resources.json"), /PRIVATE KEY/, "no private key in any input");
    });

    test("API load balancer: internet NLB over every zone, TCP 6443 to all masters, behind its security group", () => {
        for (const request of [{ stack: "dev" }, variant]) {
            const result = plan(request);
            const [nlb] = result.ofType(t.nlb);
            assert.equal(nlb.inputs.addressType, "Internet");
            const zones = result.outputs.zones as string[];
            const mappings = nlb.inputs.zoneMappings as { zoneId: string; vswitchId: string; allocationId: string }[];
            assert.deepEqual(
                mappings.map((m) => [m.zoneId, byId(result, m.vswitchId).name]),
                zones.map((zone) => [zone, `public-${zone}`]),
            );
            assert.deepEqual(
                (nlb.inputs.securityGroupIds as string[]).map((id) => byId(result, id).name),
                ["api-nlb-sg"],
            );

            // One EIP of the program's per zone: pay-by-traffic, the only kind NLB takes.
            for (const mapping of mappings) {
                const eip = byId(result, mapping.allocationId);
                assert.equal(eip.name, `api-eip-${mapping.zoneId}`);
                assert.equal(eip.inputs.internetChargeType, "PayByTraffic");
                assert.equal(eip.inputs.paymentType, "PayAsYouGo");
            }

            const [listener] = result.ofType(t.listener);
            assert.equal(listener.inputs.listenerProtocol, "TCP");
            // The API allows letters, digits and `,.;/@_-` in a listener description (no spaces).
            assert.match(String(listener.inputs.listenerDescription), /^[A-Za-z0-9,.;/@_-]{2,256}$/);
            assert.equal(listener.inputs.idleTimeout, 900);
            assert.equal(listener.inputs.listenerPort, 6443);
            assert.equal(byId(result, listener.inputs.loadBalancerId).name, nlb.name);
            const serverGroup = byId(result, listener.inputs.serverGroupId);
            assert.equal(serverGroup.type, t.serverGroup);
            assert.equal(serverGroup.inputs.protocol, "TCP");
            assert.equal(serverGroup.inputs.preserveClientIpEnabled, false, "masters see the NLB inside the VPC");

            const backends = result.ofType(t.backend);
            for (const backend of backends) {
                assert.equal(byId(result, backend.inputs.serverGroupId).name, serverGroup.name);
                assert.equal(backend.inputs.serverType, "Ecs");
                assert.equal(backend.inputs.port, 6443);
            }
            const layout = layoutOf(result);
            const masters = Object.keys(layout).filter((name) => layout[name].role === "master");
            assert.deepEqual(backends.map((backend) => byId(result, backend.inputs.serverId).name).sort(), masters);
        }
        // The CIDR restriction: the accept rules come first (priority 1), the drop rule catches the rest.
        const lines = ruleLines(plan(variant)).filter((line) => line.startsWith("api-nlb-sg"));
        assert.deepEqual(lines.sort(), [
            "api-nlb-sg accept tcp 6443/6443 from 192.0.2.0/24 p1",
            "api-nlb-sg accept tcp 6443/6443 from 198.51.100.0/24 p1",
            "api-nlb-sg drop tcp 6443/6443 from 0.0.0.0/0 p100",
        ]);
    });

    test("PrivateZone: attached to the VPC, one A record per host, name -> planned address", () => {
        for (const request of [{ stack: "dev" }, variant]) {
            const result = plan(request);
            const [zone] = result.ofType("alicloud:pvtz/zone:Zone");
            assert.equal(zone.inputs.zoneName, "k8s.internal");
            const [attachment] = result.ofType("alicloud:pvtz/zoneAttachment:ZoneAttachment");
            assert.equal(byId(result, attachment.inputs.zoneId).name, zone.name);
            assert.deepEqual(attachment.inputs.vpcIds, ["vpc-id"]);
            const records = result
                .ofType(t.record)
                .map((record) => {
                    assert.equal(byId(result, record.inputs.zoneId).name, zone.name);
                    assert.equal(record.inputs.type, "A");
                    return [record.inputs.rr, record.inputs.value];
                })
                .sort();
            const layout = layoutOf(result);
            assert.deepEqual(
                records,
                Object.keys(layout)
                    .map((name) => [name, layout[name].privateIp])
                    .sort(),
            );
        }
    });

    test("the API endpoint: a new NLB's own DNS name does not answer, so its addresses, or a name of the operator's", () => {
        // Without kubeha:apiDns: the kubeconfig uses the first zone's address; every zone's is in the certificate.
        const dev = plan({ stack: "dev" });
        const zones = dev.outputs.zones as string[];
        const names = dev.outputs.apiNames as string[];
        assert.equal(names.length, zones.length);
        assert.equal(new Set(names).size, names.length);
        for (const name of names) assert.ok(ipaddr.IPv4.isValidFourPartDecimal(name), name);
        assert.equal(dev.outputs.apiEndpoint, `https://${names[0]}:6443`);
        assert.equal(dev.ofType(t.apiRecord).length, 0);
        assert.ok(!names.some((name) => /aliyuncsslb/.test(name)), "never the NLB's own name");

        // With it: a CNAME in the operator's Alibaba Cloud DNS domain, first in the names, used by the kubeconfig.
        const named = plan(variant);
        const [record] = named.ofType(t.apiRecord);
        assert.deepEqual(
            { domainName: record.inputs.domainName, rr: record.inputs.rr, type: record.inputs.type },
            { domainName: "example.com", rr: "k8s-api.prod", type: "CNAME" },
        );
        const [nlb] = named.ofType(t.nlb);
        assert.ok(record.dependencies.includes(nlb.name), "the record points at the NLB");
        assert.match(String(record.inputs.value), /\.nlb\.aliyuncsslb\.com$/);
        const namedNames = named.outputs.apiNames as string[];
        assert.equal(namedNames[0], "k8s-api.prod.example.com");
        assert.equal(namedNames.length, 1 + zones.length);
        assert.equal(named.outputs.apiEndpoint, "https://k8s-api.prod.example.com:6443");
        // api-ready connects to the name, so it waits for the record.
        const apiReady = named.named("api-ready");
        assert.ok(apiReady.dependencies.includes(record.name), "api-ready waits for the DNS record");
    });

    test("zones are discovered where the instance types, the NLB and the enhanced NAT gateway are all offered", () => {
        // The mock region offers instances in -h to -l, the NLB everywhere but -i, the NAT gateway everywhere but -k.
        assert.deepEqual(plan({ stack: "dev" }).outputs.zones, ["cn-hangzhou-h", "cn-hangzhou-j", "cn-hangzhou-l"]);
    });

    test("a single zone is refused in the problem list: NLB needs two", () => {
        const run = runPlanCli({ stack: "dev", config: { "kubeha:zones": ["cn-hangzhou-h"] } });
        assert.notEqual(run.status, 0);
        assert.match(
            run.stderr,
            /The stack configuration has 1 problem\(s\):\n {2}kubeha:zones: must list at least two zones/,
        );
    });
});
