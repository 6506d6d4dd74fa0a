// System test: the lab cloud's security groups (lab/security-groups.ts) on real packets. The dev (Aliyun) and aws-dev
// plans' own ingress rules and instances, read as the lab cloud reads the engine's state, become the nftables table
// the lab's router loads; here it is loaded where a bridge joins network namespaces at the hosts' planned addresses,
// and TCP connections show which ports each host reaches on another.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { addressAt, parseCidr } from "../../config/cidr";
import { aliyunIngressRule, awsIngressRule, LabIngressRule, securityGroupsRuleset } from "../../lab/security-groups";
import { plan } from "../support/plan";
import { Processes, run, runOrThrow, systemTestSkipReason, TestNetwork } from "./support/netns";

/** The plan's ingress rules and its instances' addresses and groups, as the lab cloud gets them from the engine. */
function plannedGroups(stack: string) {
    const planned = plan({ stack });
    const rules = planned.resources.flatMap((resource): LabIngressRule[] => {
        if (resource.type === "alicloud:ecs/securityGroupRule:SecurityGroupRule")
            return [aliyunIngressRule(resource.inputs)].filter((rule) => rule !== undefined);
        if (resource.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
            return [awsIngressRule(resource.inputs)];
        return [];
    });
    const instances = planned.resources.filter((resource) => /:(ecs|ec2)\/instance:Instance$/.test(resource.type));
    const members = instances.map((instance) => ({
        name: instance.name,
        address: String(instance.inputs.privateIp),
        groups: ((instance.inputs.securityGroups ?? instance.inputs.vpcSecurityGroupIds) as string[]).map(String),
    }));
    const vpc = String(
        planned.ofType(stack === "dev" ? "alicloud:vpc/network:Network" : "aws:ec2/vpc:Vpc")[0].inputs.cidrBlock,
    );
    return { rules, members, vpc };
}

for (const stack of ["dev", "aws-dev"]) {
    describe(
        `${stack}'s security groups on the lab network`,
        { skip: systemTestSkipReason(), timeout: 120_000 },
        () => {
            const network = new TestNetwork(`kh-sg-${stack === "dev" ? "ali" : "aws"}`);
            const processes = new Processes();
            const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-sg-"));
            after(async () => {
                await processes.stopAll();
                await network.destroy();
                fs.rmSync(workDir, { recursive: true, force: true });
            });

            test("each host reaches exactly the ports its groups open to it: etcd from members only, the kubelet from masters, SSH from the bastion, the API from the VPC", async () => {
                const { rules, members, vpc } = plannedGroups(stack);
                const vpcCidr = parseCidr(vpc);
                const hosts = ["master-1", "master-2", "worker-1", "bastion"].map((name) => {
                    const member = members.find((m) => m.name === name);
                    assert.ok(member, `${name} in the ${stack} plan`);
                    return { name, ip: member.address, hostsFile: "127.0.0.1 localhost\n" };
                });
                // An address of the VPC that is no instance (a load balancer's, another VPC host's).
                hosts.push({ name: "vpc-other", ip: addressAt(vpcCidr, 250), hostsFile: "127.0.0.1 localhost\n" });
                await network.create(hosts, vpcCidr.prefix);
                const ruleset = securityGroupsRuleset(rules, members);
                fs.writeFileSync(path.join(workDir, "ruleset.nft"), ruleset);
                await runOrThrow(network.bridgeCommand(["nft", "-f", path.join(workDir, "ruleset.nft")]));

                const listened = [22, 2379, 6443, 10250];
                for (const host of ["master-1", "worker-1"])
                    for (const port of listened)
                        processes.start(
                            `${host}:${port}`,
                            network.command(host, ["socat", `TCP-LISTEN:${port},fork,reuseaddr`, "SYSTEM:true"]),
                            path.join(workDir, `${host}-${port}.log`),
                        );
                const ip = (name: string) => hosts.find((h) => h.name === name)!.ip;
                /** Whether `from` completes a TCP handshake with `to`:`port` (a dropped SYN times out). */
                const reaches = async (from: string, to: string, port: number) => {
                    const probe = `exec 3<>/dev/tcp/${ip(to)}/${port}`;
                    for (let attempt = 0; attempt < 20; attempt++) {
                        const result = await run(network.command(from, ["timeout", "2", "bash", "-c", probe]));
                        if (result.status === 0) return true;
                        // Refused: the listener is not up yet (a dropped SYN times out instead, status 124).
                        if (result.status !== 124 && /refused/.test(result.stderr)) {
                            await new Promise((resolve) => setTimeout(resolve, 250));
                            continue;
                        }
                        return false;
                    }
                    return false;
                };
                const expected: [string, string, number, boolean][] = [
                    ["master-2", "master-1", 2379, true],
                    ["worker-1", "master-1", 2379, false],
                    ["bastion", "master-1", 2379, false],
                    ["master-1", "worker-1", 10250, true],
                    ["worker-1", "master-1", 10250, false],
                    ["vpc-other", "worker-1", 10250, false],
                    ["bastion", "worker-1", 22, true],
                    ["bastion", "master-1", 22, true],
                    ["worker-1", "master-1", 22, false],
                    ["vpc-other", "master-1", 22, false],
                    ["vpc-other", "master-1", 6443, true],
                    ["worker-1", "master-1", 6443, true],
                    ["master-1", "worker-1", 6443, false],
                ];
                const actual: string[] = [];
                for (const [from, to, port] of expected)
                    actual.push(`${from} -> ${to}:${port} ${(await reaches(from, to, port)) ? "open" : "closed"}`);
                assert.deepEqual(
                    actual,
                    expected.map(([from, to, port, open]) => `${from} -> ${to}:${port} ${open ? "open" : "closed"}`),
                    ruleset,
                );
            });
        },
    );
}
