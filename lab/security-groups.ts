// The cloud's security groups, enforced on the lab network: the ingress rules the engine created, as one nftables
// table in the lab's router namespace. Every machine hangs off the router's bridge, and the bridge hands its IPv4
// packets to the router's netfilter hooks (bridge-nf-call-iptables, on by default in a namespace), so one table sees
// machine to machine, the internet (operator) to a machine, and the router's own services (the load balancer) to a
// machine. Like the clouds' groups it is stateful (replies pass) and filters what reaches an instance only:
// egress is left open, as the program's groups leave it for hosts.
// Semantics, both clouds: a packet to an instance passes if a rule of one of its groups matches (protocol,
// destination port, source: an address range or the members of a group); Aliyun's priorities and drop rules are
// kept (the lowest priority number wins, a drop before an accept of the same priority). Nothing else reaches it.
// Not modelled: Aliyun's innerAccessPolicy Accept (a group's members reach each other); the program's groups set Drop.

/** One ingress rule of a group, as either cloud states it. */
export interface LabIngressRule {
    /** The group the rule belongs to (its id). */
    readonly group: string;
    readonly protocol: "tcp" | "udp" | "icmp" | "all";
    /** Destination ports, inclusive; undefined for every port. */
    readonly ports?: { readonly from: number; readonly to: number };
    readonly source: { readonly cidr: string } | { readonly group: string };
    readonly policy: "accept" | "drop";
    /** Aliyun's 1 (first) to 100; AWS's rules all accept and have none (1). */
    readonly priority: number;
}

/** An instance's private address and the groups it is in. */
export interface LabGroupMember {
    readonly address: string;
    readonly groups: readonly string[];
}

export const securityGroupsTable = "kubeha-lab-security-groups";

/** The table's nft script: it replaces the whole table at once (an empty lab gets an empty one). */
export function securityGroupsRuleset(rules: readonly LabIngressRule[], members: readonly LabGroupMember[]): string {
    const groupIds = [...new Set(members.flatMap((member) => member.groups))].sort();
    const setName = (group: string) => `members-${groupIds.indexOf(group)}`;
    const sourceMatch = (source: LabIngressRule["source"]): string | undefined => {
        if ("cidr" in source) return source.cidr === "0.0.0.0/0" ? "" : `ip saddr ${source.cidr} `;
        // A group without members matches no source.
        return groupIds.includes(source.group) ? `ip saddr @${setName(source.group)} ` : undefined;
    };
    const ruleLine = (rule: LabIngressRule): string | undefined => {
        const source = sourceMatch(rule.source);
        if (source === undefined) return undefined;
        const ports = rule.ports
            ? rule.ports.from === rule.ports.to
                ? `${rule.ports.from}`
                : `${rule.ports.from}-${rule.ports.to}`
            : "";
        const protocol =
            rule.protocol === "all"
                ? ""
                : rule.protocol === "icmp" || !ports
                  ? `ip protocol ${rule.protocol} `
                  : `${rule.protocol} dport ${ports} `;
        return `${source}${protocol}${rule.policy}`;
    };
    const ordered = [...rules].sort(
        (a, b) => a.priority - b.priority || Number(a.policy === "accept") - Number(b.policy === "accept"),
    );
    const instances = [...members].sort((a, b) => a.address.localeCompare(b.address));
    const chainOf = (index: number) => `to-instance-${index}`;
    const dispatch = instances.length
        ? [`        ip daddr vmap { ${instances.map((m, i) => `${m.address} : jump ${chainOf(i)}`).join(", ")} }`]
        : [];
    const hook = (name: string) => [
        `    chain ${name} {`,
        `        type filter hook ${name} priority filter; policy accept;`,
        "        ct state established,related accept",
        ...dispatch,
        "    }",
    ];
    return [
        `table inet ${securityGroupsTable} {}`,
        `delete table inet ${securityGroupsTable}`,
        `table inet ${securityGroupsTable} {`,
        ...groupIds.flatMap((group) => {
            const addresses = members.filter((m) => m.groups.includes(group)).map((m) => m.address);
            return [
                `    # ${group}`,
                `    set ${setName(group)} {`,
                "        type ipv4_addr;",
                `        elements = { ${addresses.sort().join(", ")} }`,
                "    }",
            ];
        }),
        ...hook("forward"),
        // The router's own connections to a machine (the load balancer, a probe from outside the VPC).
        ...hook("output"),
        ...instances.flatMap((member, index) => [
            `    chain ${chainOf(index)} {`,
            `        # ${member.address}: ${member.groups.join(", ")}`,
            ...ordered
                .filter((rule) => member.groups.includes(rule.group))
                .map(ruleLine)
                .filter((line): line is string => line !== undefined)
                .map((line) => `        ${line}`),
            "        drop",
            "    }",
        ]),
        "}",
        "",
    ].join("\n");
}

const protocolOf = (value: unknown): LabIngressRule["protocol"] => {
    const protocol = String(value).toLowerCase();
    if (protocol === "tcp" || protocol === "udp" || protocol === "icmp") return protocol;
    if (protocol === "all" || protocol === "-1") return "all";
    throw new Error(`lab cloud: security group rule protocol ${protocol} is not modelled`);
};

const portsOf = (from: number, to: number): LabIngressRule["ports"] => (from < 0 ? undefined : { from, to });

/** An Aliyun `ecs.SecurityGroupRule`'s state; undefined for an egress rule. */
export function aliyunIngressRule(state: Record<string, unknown>): LabIngressRule | undefined {
    if (state.type !== "ingress") return undefined;
    const [from, to] = String(state.portRange ?? "-1/-1")
        .split("/")
        .map(Number);
    return {
        group: String(state.securityGroupId),
        protocol: protocolOf(state.ipProtocol),
        ports: portsOf(from, to),
        source: state.sourceSecurityGroupId
            ? { group: String(state.sourceSecurityGroupId) }
            : { cidr: String(state.cidrIp) },
        policy: state.policy === "drop" ? "drop" : "accept",
        priority: Number(state.priority ?? 1),
    };
}

/** An AWS `vpc.SecurityGroupIngressRule`'s state. */
export function awsIngressRule(state: Record<string, unknown>): LabIngressRule {
    return {
        group: String(state.securityGroupId),
        protocol: protocolOf(state.ipProtocol),
        ports: portsOf(Number(state.fromPort ?? -1), Number(state.toPort ?? -1)),
        source: state.referencedSecurityGroupId
            ? { group: String(state.referencedSecurityGroupId) }
            : { cidr: String(state.cidrIpv4) },
        policy: "accept",
        priority: 1,
    };
}
