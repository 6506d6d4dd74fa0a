// Plain machines for the machines target's test:up (kubeha:cloud machines): lab machines booted from the lab's base
// image with nothing of kubeha, as a user's own servers are: a login user with sudo, an authorized key and an Ed25519
// host key (given through the NoCloud seed: cloud-init's ssh_keys), plus the lab's own forced differences
// (lab/machine-files.ts) and data disks where a user must bring them (etcd's; containerd's, which the lab needs off
// the overlay root). The harness boots them before `pulumi up`, then writes the stack file a user would: the machine
// list with addresses and host keys, the bastion, the API endpoint (the first master), the lab's mirrors.
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { sysctlSettings } from "../render/cloud-init";
import { etcdDiskMountPoint } from "../render/etcd";
import { mustRun } from "./command";
import { LabDataDisk } from "./machines";
import { labMachineFiles } from "./machine-files";
import { startMachine } from "./machines";
import { LabMirrors, labStackMirrors } from "./mirrors";
import { createLabNetwork } from "./network";
import { labGateway, labServices } from "./paths";
import { labSettings } from "./stack";

/** The stack test:up runs on plain machines (there is no Pulumi.<stack>.yaml: the harness writes it). */
export const plainMachinesStack = "machines-lab";

/** The machines' network: clear of the default pod (10.244.0.0/16) and service (10.96.0.0/12) ranges. */
const network = "10.77.0.0/24";
/** The login user every machine has (cloud-init's default user: passwordless sudo). */
const loginUser = "ops";

export interface PlainMachine {
    readonly name: string;
    readonly role: "bastion" | "master" | "worker";
    readonly address: string;
}

/**
 * 1 master and 1 worker in the list from the start, a second worker booted but listed only later (the add), and the
 * bastion. One master keeps the run within CI's budget: three would triple the control plane's start and memory,
 * and adding or removing a worker does not depend on how many masters there are.
 */
export const plainMachines: readonly PlainMachine[] = [
    { name: "bastion", role: "bastion", address: "10.77.0.5" },
    { name: "master-1", role: "master", address: "10.77.0.11" },
    { name: "worker-1", role: "worker", address: "10.77.0.21" },
    { name: "worker-2", role: "worker", address: "10.77.0.22" },
];

/** The worker the test adds to the list (and removes again). */
export const addedWorker = "worker-2";

export interface PlainMachinesLab {
    /** The stack file's `config:` (without the private key, which the test sets as a secret). */
    readonly config: Record<string, unknown>;
    /** The list entry of the added worker, as the test appends it. */
    readonly addedEntry: Record<string, unknown>;
    /** The operator's private key (OpenSSH), authorized on every machine. */
    readonly privateKeyFile: string;
}

/** `ssh-keygen` of an Ed25519 pair at `file` (and `file`.pub); returns the public line. */
function keyPair(file: string, comment: string): string {
    mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    return fs.readFileSync(`${file}.pub`, "utf8").trim();
}

/** Boots every plain machine in the lab's network and returns the stack config that lists them. */
export function bootPlainMachines(lab: string, mirrors: LabMirrors, dir: string): PlainMachinesLab {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const gateway = labGateway(network);
    createLabNetwork({ lab, addresses: [`${gateway.address}/${gateway.prefix}`] });
    const privateKeyFile = path.join(dir, "operator");
    const authorizedKey = keyPair(privateKeyFile, "kubeha-lab-operator");
    const caCertificate = fs.readFileSync(mirrors.caCertificate, "utf8");
    const files = [
        ...labMachineFiles({ aptKey: fs.readFileSync(mirrors.aptKeyFile, "utf8") }),
        // The boot's kernel settings arrive with the preparation, after the machine booted: the lab's setup binds
        // their keys at boot from this list (lab/machine-setup/kubeha-lab-setup.sh).
        {
            path: "/etc/kubeha-lab/sysctl-keys.conf",
            content: sysctlSettings.map(([key, value]) => `${key} = ${value}\n`).join(""),
        },
    ];
    const hostKeys: Record<string, string> = {};
    for (const machine of plainMachines) {
        const hostKeyFile = path.join(dir, `${machine.name}-host`);
        const hostKey = keyPair(hostKeyFile, machine.name);
        hostKeys[machine.name] = hostKey.split(" ").slice(0, 2).join(" ");
        const userData =
            "#cloud-config\n" +
            toYaml({
                ssh_deletekeys: true,
                ssh_keys: {
                    ed25519_private: fs.readFileSync(hostKeyFile, "utf8"),
                    ed25519_public: hostKey,
                },
            });
        const disks: LabDataDisk[] =
            machine.role === "bastion"
                ? []
                : [
                      { purpose: "containerd", sizeGb: 20, mountPoint: "/var/lib/containerd" },
                      ...(machine.role === "master"
                          ? [{ purpose: "etcd", sizeGb: 4, mountPoint: etcdDiskMountPoint }]
                          : []),
                  ];
        startMachine({
            lab,
            host: machine.name,
            address: machine.address,
            prefix: gateway.prefix,
            gateway: gateway.address,
            dnsServer: labServices.dns,
            user: loginUser,
            authorizedKey,
            userData,
            caCertificate,
            dataDisks: disks,
            files,
        });
    }
    const entry = (machine: PlainMachine) => ({
        name: machine.name,
        role: machine.role,
        address: machine.address,
        user: loginUser,
        hostKey: hostKeys[machine.name],
    });
    const listed = plainMachines.filter((machine) => machine.role !== "bastion" && machine.name !== addedWorker);
    const bastion = plainMachines.find((machine) => machine.role === "bastion")!;
    const master = plainMachines.find((machine) => machine.role === "master")!;
    // ubuntuApt does not apply to machines (they keep their own apt sources; the lab's have none).
    const { ubuntuApt: _ubuntuApt, ...labMirrors } = labStackMirrors(mirrors);
    const config = {
        "kubeha:cloud": "machines",
        "kubeha:apiEndpoint": master.address,
        "kubeha:bastion": { address: bastion.address, user: loginUser, hostKey: hostKeys[bastion.name] },
        "kubeha:machines": listed.map(entry),
        ...labSettings({}, labMirrors),
    };
    return {
        config,
        addedEntry: entry(plainMachines.find((machine) => machine.name === addedWorker)!),
        privateKeyFile,
    };
}
