// The disks every host gets, the same on every cloud: a system disk plus one data disk per purpose
// (seed 000: etcd and the container runtime each on their own cloud disk).
import { PlannedHost } from "./layout";
import { ClusterConfig } from "./resolve";

export type DataDiskPurpose = "etcd" | "containerd";

export interface DataDisk {
    readonly purpose: DataDiskPurpose;
    readonly sizeGb: number;
    /**
     * The disk holds state the cluster cannot rebuild (an etcd member's data): it is a cloud resource of its own,
     * protected from deletion, that a replaced or deleted instance never takes with it; the new instance gets it back.
     */
    readonly outlivesHost: boolean;
}

export interface HostDisks {
    readonly systemSizeGb: number;
    /** In attachment order: the etcd disk first (etcd members only), then containerd (Kubernetes nodes only). */
    readonly data: DataDisk[];
}

export function hostDisks(host: PlannedHost, config: ClusterConfig): HostDisks {
    if (host.role === "bastion") return { systemSizeGb: bastionSystemDiskGb, data: [] };
    // Machines bring their own disks: the preparation formats none (an etcd member's must be mounted already).
    if (config.cloud === "machines") return { systemSizeGb: 0, data: [] };
    // Dedicated etcd hosts are control-plane machines without a kubelet: master-sized system disk, no containerd disk.
    const group = host.role === "worker" ? config.workers : config.masters;
    const data: DataDisk[] = [];
    if (host.etcdMember) data.push({ purpose: "etcd", sizeGb: config.etcd.diskSizeGb, outlivesHost: true });
    // Images and container layers: a replaced host pulls them again.
    if (host.role !== "etcd") {
        data.push({ purpose: "containerd", sizeGb: group.containerdDiskSizeGb, outlivesHost: false });
    }
    return { systemSizeGb: group.diskSizeGb, data };
}

/** The bastion only forwards SSH: the smallest system disk both clouds accept for the Ubuntu image. */
const bastionSystemDiskGb = 20;
