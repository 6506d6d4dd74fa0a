// Aliyun: the RAM roles of the cloud integration's controllers (policies.ts). The masters run the
// cloud controller manager and the CSI disk controller; every node runs the CSI disk plugin, which asks ECS about
// its own disks, so workers get a role with the plugin's policy only. An instance holds one role: masters that run
// etcd members already hold the backup role, which then carries the masters' policies too.
import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { aliyunCloudControllerPolicy, aliyunCsiDiskControllerPolicy, aliyunCsiDiskNodePolicy } from "./policies";
import { ClusterHost } from "../../components/hosts";

export interface AliyunControllerRolesArgs {
    /** `<project>-<stack>`: names the roles and policies. */
    readonly clusterName: string;
    /** The cluster's region: every grant is limited to it. */
    readonly region: string;
    readonly masters: readonly ClusterHost[];
    readonly workers: readonly ClusterHost[];
    /** The RAM role the masters hold already (attached elsewhere), if any. */
    readonly mastersRole?: pulumi.Input<string>;
}

export class AliyunControllerRoles extends pulumi.ComponentResource {
    constructor(name: string, args: AliyunControllerRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:aliyun:ControllerRoles", name, {}, opts);
        const safe = args.clusterName
            .toLowerCase()
            .replace(/[^a-z0-9-]+/g, "-")
            .slice(0, 40);
        const role = (group: string, hosts: readonly ClusterHost[], description: string) => {
            const created = new alicloud.ram.Role(
                `${name}-${group}`,
                {
                    roleName: `${safe}-${group}`,
                    description,
                    assumeRolePolicyDocument: JSON.stringify({
                        Version: "1",
                        Statement: [
                            { Effect: "Allow", Principal: { Service: ["ecs.aliyuncs.com"] }, Action: "sts:AssumeRole" },
                        ],
                    }),
                },
                { parent: this },
            );
            for (const host of hosts) {
                new alicloud.ecs.RamRoleAttachment(
                    `${host.name}-controller-role`,
                    { instanceId: host.instance.id, ramRoleName: created.roleName },
                    { parent: this, deletedWith: host.instance },
                );
            }
            return created.roleName;
        };
        const grant = (roleName: pulumi.Input<string>, purpose: string, document: object, description: string) => {
            const policy = new alicloud.ram.Policy(
                `${name}-${purpose}`,
                { policyName: `${safe}-${purpose}`, description, policyDocument: JSON.stringify(document) },
                { parent: this },
            );
            new alicloud.ram.RolePolicyAttachment(
                `${name}-${purpose}-attachment`,
                { roleName, policyName: policy.policyName, policyType: "Custom" },
                { parent: this },
            );
        };
        const masters =
            args.mastersRole ??
            role(
                "masters",
                args.masters,
                "masters of this cluster: its cloud controller manager and CSI disk controller",
            );
        grant(
            masters,
            "cloud-controller-manager",
            aliyunCloudControllerPolicy(args.region),
            "load balancers and node lifecycle",
        );
        grant(
            masters,
            "csi-disk-controller",
            aliyunCsiDiskControllerPolicy(args.region),
            "create, attach and resize ECS disks",
        );
        if (args.workers.length > 0) {
            const workers = role("workers", args.workers, "workers of this cluster: the CSI disk plugin");
            grant(
                workers,
                "csi-disk-node",
                aliyunCsiDiskNodePolicy(args.region),
                "the CSI disk plugin's questions about its disks",
            );
        }
        this.registerOutputs({});
    }
}
