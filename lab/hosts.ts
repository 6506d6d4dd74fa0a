// What the lab reads off a plan to stand in for the cloud: the hosts (name, private address, the user-data the
// instance receives, its data disks), the network (VPC range, private zone), the addresses clients use from outside
// (the bastion's and the API load balancer's public addresses) and the SSH identity the cloud would install.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { hostFactsOf } from "../clouds/host-facts";
import type { ClusterConfig } from "../config/resolve";
import { Plan } from "../plan/read";
import type { LabDataDisk } from "./machines";
import { labServices } from "./paths";

export interface LabHost {
    readonly name: string;
    readonly role: "bastion" | "master" | "worker" | "etcd";
    readonly privateIp: string;
    readonly userData: string;
    /** The host's data disks (KUBEHA_DATA_DISKS in its user-data). */
    readonly dataDisks: LabDataDisk[];
}

export interface LabCloudView {
    readonly hosts: LabHost[];
    readonly vpcCidr: string;
    readonly privateDomain: string;
    readonly bastionPublicIp: string;
    /** The API load balancer: its address, and the name clients use when the cloud gives it one (AWS's NLB). */
    readonly api: { readonly address: string; readonly name?: string; readonly port: number };
    /** The user the cloud image lets in, and the key the cloud installs for it. */
    readonly sshUser: string;
    readonly sshPublicKey: string;
    /** The metadata service's address inside instances (the pod firewall's target). */
    readonly metadataAddress: string;
}

/** The metadata service's address inside each cloud's instances (stack output `cloud` -> address). */
export const cloudMetadataAddress = (cloud: ClusterConfig["cloud"]) => hostFactsOf({ cloud }).metadataAddress;

/** The instance and network resource types of each cloud, and the metadata address of its instances. */
const clouds = {
    aliyun: {
        instance: "alicloud:ecs/instance:Instance",
        vpc: "alicloud:vpc/network:Network",
        zone: "alicloud:pvtz/zone:Zone",
        zoneName: "zoneName",
        metadataAddress: cloudMetadataAddress("aliyun"),
    },
    aws: {
        instance: "aws:ec2/instance:Instance",
        vpc: "aws:ec2/vpc:Vpc",
        zone: "aws:route53/zone:Zone",
        zoneName: "name",
        metadataAddress: cloudMetadataAddress("aws"),
    },
} as const;

export function readLabCloudView(plan: Plan): LabCloudView {
    const cloud = Object.values(clouds).find((candidate) => plan.ofType(candidate.instance).length > 0);
    if (!cloud) throw new Error("lab: the plan has no instances of a cloud the lab stands in for");
    const hosts = plan.ofType(cloud.instance).map((instance) => {
        const userData = plan.file(`hosts/${instance.name}/user-data`);
        return {
            name: instance.name,
            role: roleOf(instance.name),
            privateIp: String(instance.inputs.privateIp),
            userData,
            dataDisks: dataDisksOf(userData),
        };
    });
    const [vpc] = plan.ofType(cloud.vpc);
    const [zone] = plan.ofType(cloud.zone);
    const api = new URL(String(plan.outputs.apiEndpoint));
    const connection = firstRemoteConnection(plan);
    return {
        hosts,
        vpcCidr: String(vpc.inputs.cidrBlock),
        privateDomain: String(zone.inputs[cloud.zoneName]).replace(/\.$/, ""),
        bastionPublicIp: String(plan.outputs.bastionAddress),
        api: /^\d+\.\d+\.\d+\.\d+$/.test(api.hostname)
            ? { address: api.hostname, port: Number(api.port || 443) }
            : { address: labServices.apiLoadBalancer, name: api.hostname, port: Number(api.port || 443) },
        sshUser: connection.user,
        sshPublicKey: publicKeyOf(connection.privateKey),
        metadataAddress: cloud.metadataAddress,
    };
}

function roleOf(name: string): LabHost["role"] {
    const role = name === "bastion" ? "bastion" : name.replace(/-\d+$/, "");
    if (role !== "bastion" && role !== "master" && role !== "worker" && role !== "etcd")
        throw new Error(`lab: cannot tell the role of host ${name}`);
    return role;
}

/** `KUBEHA_DATA_DISKS=etcd:20:/var/lib/etcd containerd:50:/var/lib/containerd` in the boot's runcmd. */
export function dataDisksOf(userData: string): LabDataDisk[] {
    const document = parseYaml(userData) as { runcmd?: string[][] };
    const argument = (document.runcmd ?? []).flat().find((arg) => arg.startsWith("KUBEHA_DATA_DISKS="));
    if (!argument) return [];
    return argument
        .slice("KUBEHA_DATA_DISKS=".length)
        .split(" ")
        .filter(Boolean)
        .map((disk) => {
            const [purpose, sizeGb, mountPoint] = disk.split(":");
            return { purpose, sizeGb: Number(sizeGb), mountPoint };
        });
}

function firstRemoteConnection(plan: Plan): { user: string; privateKey: string } {
    const [step] = plan.ofType("command:remote:Command");
    const connection = step?.inputs.connection as { user?: string; privateKey?: string } | undefined;
    if (!connection?.privateKey || connection.privateKey === "[secret]")
        throw new Error("lab: the plan must be written with --show-secrets (the SSH key the cloud would install)");
    return { user: connection.user ?? "root", privateKey: connection.privateKey };
}

/** The OpenSSH public key of a private key (PEM or OpenSSH format), by ssh-keygen. */
export function publicKeyOf(privateKey: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-key-"));
    try {
        const file = path.join(dir, "key");
        fs.writeFileSync(file, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
        return execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
