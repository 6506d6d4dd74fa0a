// Files every cluster machine of a lab gets before its first boot, beyond the cloud's own inputs (lab/machines.ts
// writes the NoCloud seed, user, CA and the setup unit): each is one of the differences lab/forced-differences.ts
// lists. The rendered files of the plan are never edited: the kubelet and containerd read the lab's settings beside
// them.
import * as fs from "node:fs";
import * as path from "node:path";

export interface MachineFile {
    /** Absolute path inside the machine. */
    readonly path: string;
    readonly content: string;
    readonly mode?: number;
}

const setupDir = path.join(__dirname, "machine-setup");
const setupFile = (name: string) => fs.readFileSync(path.join(setupDir, name), "utf8");

export function labMachineFiles(options: { aptKey: string }): MachineFile[] {
    return [
        // The lab's OS archive mirror is signed with the lab's key, which the image trusts as a cloud image trusts
        // its distribution's archive key.
        { path: "/etc/apt/trusted.gpg.d/kubeha-lab.asc", content: options.aptKey },
        { path: "/etc/systemd/system/kubelet.service.d/90-kubeha-lab.conf", content: setupFile("kubelet-lab.conf") },
        {
            path: "/etc/kubeha-lab/kubelet.conf.d/10-cgroup-v1.conf",
            content: setupFile("kubelet-cgroup-v1.conf"),
        },
        {
            path: "/etc/systemd/system/containerd.service.d/90-kubeha-lab.conf",
            content: setupFile("containerd-lab.conf"),
        },
        {
            path: "/usr/local/lib/kubeha-lab/containerd-config.sh",
            content: setupFile("containerd-config.sh"),
            mode: 0o755,
        },
    ];
}
