// What a stack that already has hosts allows a new configuration to change. The stack's own last outputs
// (`zones`, `hosts`: index.ts exports both) say where its hosts and its etcd members are; a configuration that
// would move them is refused before any resource is declared, because moving them deletes etcd data.
import { clusterLayout } from "./layout";
import { ClusterConfig } from "./resolve";

/** The outputs of the stack's last deployment that this check reads (absent on a new stack). */
export interface DeployedStack {
    readonly zones?: readonly string[];
    readonly hosts?: Readonly<Record<string, { readonly role: string }>>;
}

export interface DeploymentCheck {
    /** The zones the deployed hosts are in: the stack keeps them. Absent when the stack has no hosts yet. */
    readonly zones?: string[];
    /** Every change the deployed stack cannot take, one line each, naming the key. */
    readonly problems: string[];
}

export function checkAgainstDeployment(config: ClusterConfig, deployed: DeployedStack): DeploymentCheck {
    const hosts = Object.entries(deployed.hosts ?? {});
    if (hosts.length === 0 || !deployed.zones?.length) return { problems: [] };
    // Cloud machines: zones are the machines' labels, which move nothing; the list's own labels hold.
    const zones = config.cloud === "machines" && config.zones ? [...config.zones] : [...deployed.zones];
    const problems: string[] = [];

    // A host's zone (AWS: its subnet's and its volumes'; Aliyun: its vSwitch's and its disks') follows its place
    // in this list: another list replaces subnets, hosts and etcd disks.
    if (config.zones && config.zones.join(",") !== zones.join(",")) {
        problems.push(
            `kubeha:zones: the stack's hosts are in ${zones.join(", ")}; ${config.zones.join(", ")} would move hosts ` +
                `and their etcd disks to other zones (replacing them). Set it to ${zones.join(", ")} or remove it: ` +
                `a stack keeps the zones it was created with`,
        );
    }

    const deployedDedicated = hosts.some(([, host]) => host.role === "etcd");
    const deployedMembers = hosts
        .filter(([, host]) => host.role === (deployedDedicated ? "etcd" : "master"))
        .map(([name]) => name);
    if (config.etcd.dedicated !== deployedDedicated) {
        problems.push(
            `kubeha:${config.cloud === "machines" ? "machines" : "etcd.dedicated"}: the stack's etcd cluster runs on ` +
                `${deployedDedicated ? "dedicated hosts" : "the masters"} ` +
                `(${deployedMembers.join(", ")}); switching it to ${config.etcd.dedicated} would start an empty etcd ` +
                `cluster on other hosts and lose the running one's data. Keep it ${deployedDedicated}; moving etcd ` +
                `takes a snapshot restored into a new stack (etcdctl snapshot save / etcdutl snapshot restore)`,
        );
    } else {
        const planned = new Set(
            clusterLayout(config, zones.length)
                .filter((host) => host.etcdMember)
                .map((host) => host.name),
        );
        const dropped = deployedMembers.filter((name) => !planned.has(name));
        if (dropped.length > 0) {
            problems.push(
                `kubeha:${config.cloud === "machines" ? "machines" : deployedDedicated ? "etcd.count" : "masters.count"}: ` +
                    `${dropped.join(", ")} run etcd members ` +
                    `(${deployedMembers.length} in all); deleting their hosts and disks without removing the members ` +
                    `from the cluster risks its quorum and data. Keep the count at ${deployedMembers.length}: ` +
                    `kubeha does not shrink an etcd cluster`,
            );
        }
    }
    return { zones, problems };
}
