// The lab cloud's security groups as nftables rules (lab/security-groups.ts): how each cloud's rule reads, and the
// order an instance's rules are tried in. test/system/lab-security-groups.test.ts checks the plans' rules on packets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { aliyunIngressRule, awsIngressRule, securityGroupsRuleset } from "../lab/security-groups";

/** The rule lines of the chain for the instance at `address`. */
function chainOf(ruleset: string, address: string): string[] {
    const lines = ruleset.split("\n").map((line) => line.trim());
    const start = lines.findIndex((line) => line.startsWith(`# ${address}:`));
    assert.ok(start > 0, ruleset);
    return lines.slice(start + 1, lines.indexOf("}", start));
}

test("Aliyun: the lowest priority number first, a drop before an accept of the same priority; egress rules ignored", () => {
    const rule = (policy: string, priority: number, cidrIp: string) =>
        aliyunIngressRule({
            type: "ingress",
            securityGroupId: "sg",
            ipProtocol: "tcp",
            portRange: "6443/6443",
            policy,
            priority,
            cidrIp,
        });
    const rules = [rule("accept", 100, "0.0.0.0/0"), rule("accept", 1, "10.0.0.0/8"), rule("drop", 1, "10.1.0.0/16")];
    assert.equal(aliyunIngressRule({ type: "egress", securityGroupId: "sg", ipProtocol: "all" }), undefined);
    const ruleset = securityGroupsRuleset(
        rules.map((r) => r!),
        [{ address: "10.0.0.5", groups: ["sg"] }],
    );
    assert.deepEqual(chainOf(ruleset, "10.0.0.5"), [
        "ip saddr 10.1.0.0/16 tcp dport 6443 drop",
        "ip saddr 10.0.0.0/8 tcp dport 6443 accept",
        "tcp dport 6443 accept",
        "drop",
    ]);
});

test("AWS: a rule from a group matches that group's members; every protocol (-1) and port ranges read as nft does", () => {
    const ruleset = securityGroupsRuleset(
        [
            awsIngressRule({
                securityGroupId: "worker",
                ipProtocol: "tcp",
                fromPort: 30000,
                toPort: 32767,
                referencedSecurityGroupId: "master",
            }),
            awsIngressRule({
                securityGroupId: "worker",
                ipProtocol: "-1",
                fromPort: -1,
                toPort: -1,
                cidrIpv4: "10.9.0.0/16",
            }),
            // A group with no instance: it matches no source, so its rule is left out.
            awsIngressRule({
                securityGroupId: "worker",
                ipProtocol: "udp",
                fromPort: 8472,
                toPort: 8472,
                referencedSecurityGroupId: "etcd",
            }),
        ],
        [
            { address: "10.0.0.10", groups: ["master"] },
            { address: "10.0.0.11", groups: ["master"] },
            { address: "10.0.0.32", groups: ["worker"] },
        ],
    );
    const members =
        /# master\n\s*set (members-\d+) \{\n\s*type ipv4_addr;\n\s*elements = \{ 10\.0\.0\.10, 10\.0\.0\.11 \}/.exec(
            ruleset,
        );
    assert.ok(members, ruleset);
    assert.deepEqual(chainOf(ruleset, "10.0.0.32"), [
        `ip saddr @${members[1]} tcp dport 30000-32767 accept`,
        "ip saddr 10.9.0.0/16 accept",
        "drop",
    ]);
    // The masters' groups open nothing: everything to them is dropped but replies.
    assert.deepEqual(chainOf(ruleset, "10.0.0.10"), ["drop"]);
    assert.match(ruleset, /ct state established,related accept/);
});
