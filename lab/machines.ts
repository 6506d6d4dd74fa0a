// One lab machine: a systemd-nspawn container booted from the base image (lab/base-image.ts) through an overlay,
// plugged into the lab router's bridge (lab/network.ts) at its planned address, with the cloud's first-boot inputs
// (a NoCloud seed: meta-data, the plan's user-data, a static network-config) and the cloud image's default user.
// Everything of a machine lives under /var/lib/kubeha-lab/<lab>/machines/<host>/: upper/ and work/ (the overlay),
// root/ (its mount point, mounted only inside the machine's own mount namespace), data/ (its data disks), pid, log.
import { spawn } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { baseRootfs } from "./base-image";
import { mustRun, runCommand } from "./command";
import type { MachineFile } from "./machine-files";
import { labNetnsPath } from "./network";
import { labBridge, labStateDir, machineName } from "./paths";

export interface LabDataDisk {
    /** etcd or containerd: the image's file name and its label kubeha-<purpose>. */
    readonly purpose: string;
    readonly sizeGb: number;
    readonly mountPoint: string;
    /** The image file when the disk lives apart from the machine (a cloud disk that outlives it); default data/. */
    readonly image?: string;
}

export interface MachineSpec {
    readonly lab: string;
    /** The planned host name (master-1): the machine's host name, its folder and, prefixed, its machine name. */
    readonly host: string;
    /** Its planned private address and the VPC's prefix length (the whole VPC is one link in the lab). */
    readonly address: string;
    readonly prefix: number;
    /** The router's address in the VPC (lab/paths.ts labGateway). */
    readonly gateway: string;
    /** The lab's DNS server, and search domains if any. */
    readonly dnsServer: string;
    readonly searchDomains?: readonly string[];
    /** The cloud image's default user (ecs-user on Aliyun, ubuntu on AWS): passwordless sudo, this key authorized. */
    readonly user: string;
    /** OpenSSH public key line (`ssh-ed25519 AAAA... comment`). */
    readonly authorizedKey: string;
    /** The user-data document exactly as the cloud would pass it (the plan's hosts/<host>/user-data). */
    readonly userData: string;
    /** A CA certificate (PEM) the machine trusts, as if its image shipped it (the lab CA). */
    readonly caCertificate?: string;
    /**
     * The host's data disks: each an ext4 image of its planned size (sparse) labelled as the host boot labels it,
     * loop-mounted at its mount point inside the machine's own mount namespace, so the boot's disk stage finds it
     * mounted and the etcd step finds its label (forced difference: no block devices in a container).
     */
    readonly dataDisks?: readonly LabDataDisk[];
    /** meta-data instance-id; defaults to `<machine name>-1`. A new id makes cloud-init run its per-instance modules. */
    readonly instanceId?: string;
    /** More addresses on its interface, CIDR notation: the bastion's public address, as the cloud's 1:1 NAT gives it. */
    readonly extraAddresses?: readonly string[];
    /** Files of the lab's own put into the machine before its first boot (lab/machine-files.ts). */
    readonly files?: readonly MachineFile[];
}

/** The folder of one machine (and its parts). */
export function machineDir(lab: string, host: string): string {
    checkHostName(host);
    return join(labStateDir(lab), "machines", host);
}

/** The cgroup path, below each hierarchy in /sys/fs/cgroup/, a machine runs in. */
export function machineCgroup(lab: string, host: string): string {
    return join("kubeha-lab", lab, checkHostName(host));
}

const machineSetupDir = join(__dirname, "machine-setup");
const launcher = join(__dirname, "machine-launch.sh");
const setupUnit = "kubeha-lab-setup.service";
/** SIGRTMIN+4: systemd as PID 1 powers off cleanly. */
const poweroffSignal = 34 + 4;

/**
 * Writes the machine's first-boot inputs into its (new) upper dir: NoCloud seed, default user, resolv.conf, the lab
 * CA, networkd settings, the lab setup unit. Runs once per machine (a machine started again keeps its disk).
 */
export function prepareMachine(spec: MachineSpec): void {
    const dir = machineDir(spec.lab, spec.host);
    const upper = join(dir, "upper");
    const put = (path: string, content: string, mode = 0o644) => {
        const file = join(upper, path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, content);
        chmodSync(file, mode);
    };
    const seed = "var/lib/cloud/seed/nocloud";
    put(
        `${seed}/meta-data`,
        stringify({
            "instance-id": spec.instanceId ?? `${machineName(spec.lab, spec.host)}-1`,
            "local-hostname": spec.host,
            "public-keys": [spec.authorizedKey],
        }),
    );
    put(`${seed}/user-data`, spec.userData, 0o600);
    put(
        `${seed}/network-config`,
        stringify({
            version: 2,
            ethernets: {
                host0: {
                    addresses: [`${spec.address}/${spec.prefix}`, ...(spec.extraAddresses ?? [])],
                    routes: [{ to: "0.0.0.0/0", via: spec.gateway }],
                    nameservers: {
                        addresses: [spec.dnsServer],
                        ...(spec.searchDomains?.length ? { search: [...spec.searchDomains] } : {}),
                    },
                },
            },
        }),
    );
    put(
        "etc/cloud/cloud.cfg.d/10-kubeha-lab-user.cfg",
        "# kubeha lab: the cloud image's default user.\n" +
            stringify({
                system_info: {
                    default_user: {
                        name: spec.user,
                        lock_passwd: true,
                        gecos: spec.user,
                        groups: ["adm", "sudo"],
                        sudo: ["ALL=(ALL) NOPASSWD:ALL"],
                        shell: "/bin/bash",
                    },
                },
            }),
    );
    const search = spec.searchDomains?.length ? `search ${spec.searchDomains.join(" ")}\n` : "";
    put("etc/resolv.conf", `# kubeha lab: the lab's DNS server.\nnameserver ${spec.dnsServer}\n${search}`);
    if (spec.caCertificate) put("usr/local/share/ca-certificates/kubeha-lab-ca.crt", spec.caCertificate);
    // Without these, systemd-networkd-wait-online waits ~13 s for an IPv6 link-local address nobody uses.
    put(
        "etc/systemd/network/10-cloud-init-host0.network.d/kubeha-lab.conf",
        "# kubeha lab: IPv4 only.\n[Network]\nIPv6AcceptRA=no\nLinkLocalAddressing=no\n",
    );
    put(
        "usr/local/lib/kubeha-lab/kubeha-lab-setup.sh",
        readFileSync(join(machineSetupDir, "kubeha-lab-setup.sh"), "utf8"),
        0o755,
    );
    for (const file of spec.files ?? []) put(file.path.replace(/^\/+/, ""), file.content, file.mode);
    put(`etc/systemd/system/${setupUnit}`, readFileSync(join(machineSetupDir, setupUnit), "utf8"));
    const wants = join(upper, "etc/systemd/system/multi-user.target.wants", setupUnit);
    mkdirSync(dirname(wants), { recursive: true });
    rmSync(wants, { force: true });
    symlinkSync(`/etc/systemd/system/${setupUnit}`, wants);
}

/** Boots the machine (preparing it first if it is new). Returns the pid of its systemd-nspawn. */
export function startMachine(spec: MachineSpec, lower = baseRootfs()): number {
    const { lab, host } = spec;
    if (machineRunning(lab, host)) throw new Error(`lab ${lab}: machine ${host} is already running`);
    if (!existsSync(join(lower, "sbin", "init"))) throw new Error(`lab: no base image at ${lower}`);
    if (!existsSync(labNetnsPath(lab))) throw new Error(`lab ${lab}: the router network does not exist`);
    const dir = machineDir(lab, host);
    const fresh = !existsSync(join(dir, "upper"));
    for (const sub of ["upper", "work", "root", "data"]) mkdirSync(join(dir, sub), { recursive: true });
    if (fresh) prepareMachine(spec);
    const disks = (spec.dataDisks ?? []).map((disk) => {
        const image = disk.image ?? join(dir, "data", `${disk.purpose}.img`);
        // Formatted once, as the boot formats an empty disk; a restarted machine keeps its data, like a cloud disk.
        if (!existsSync(image)) {
            mustRun(["truncate", "-s", `${disk.sizeGb}G`, image]);
            mustRun(["mkfs.ext4", "-q", "-L", `kubeha-${disk.purpose}`, image]);
        }
        return `--kubeha-disk=${image}:${disk.mountPoint}`;
    });
    const log = openSync(join(dir, "log"), "a");
    const child = spawn(
        "bash",
        [
            launcher,
            machineCgroup(lab, host),
            labNetnsPath(lab),
            lower,
            dir,
            machineName(lab, host),
            labBridge,
            ...disks,
        ],
        { detached: true, stdio: ["ignore", log, log] },
    );
    closeSync(log);
    child.unref();
    if (child.pid === undefined) throw new Error(`lab ${lab}: could not start machine ${host}`);
    writeFileSync(join(dir, "pid"), `${child.pid}\n`);
    return child.pid;
}

/** The pid of the machine's systemd-nspawn (or its launcher, for the moment before it execs nspawn), if alive. */
export function machinePid(lab: string, host: string): number | undefined {
    const file = join(machineDir(lab, host), "pid");
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, "utf8").trim());
    const cmdline = readProc(pid, "cmdline")?.split("\0") ?? [];
    // The pid file outlives the process: a reused pid belongs to someone else unless it names this machine.
    const ours =
        cmdline.includes(machineName(lab, host)) &&
        cmdline.some((arg) => /machine-launch\.sh$|systemd-nspawn$/.test(arg));
    return ours && !isZombie(pid) ? pid : undefined;
}

export function machineRunning(lab: string, host: string): boolean {
    return machinePid(lab, host) !== undefined;
}

/** The machine's PID 1 (systemd) as this host sees it, once nspawn started it. */
export function machineLeaderPid(lab: string, host: string): number | undefined {
    const nspawn = machinePid(lab, host);
    if (nspawn === undefined) return undefined;
    for (const child of childrenOf(nspawn)) {
        const nspid = /^NSpid:\s+(.*)$/m.exec(readProc(child, "status") ?? "")?.[1].split(/\s+/);
        if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return child;
    }
    return undefined;
}

/** argv that runs a command inside a running machine (all its namespaces, as root). */
export function machineCommand(lab: string, host: string, argv: readonly string[]): string[] {
    const leader = machineLeaderPid(lab, host);
    if (leader === undefined) throw new Error(`lab ${lab}: machine ${host} is not running`);
    return ["nsenter", `--target=${leader}`, "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--", ...argv];
}

/**
 * Powers the machine off (SIGRTMIN+4 to its systemd), waits for nspawn to exit (killing it after timeoutMs), then
 * removes its cgroups. Its disk (upper dir, data) stays for a later start. A stopped machine is a no-op.
 */
export async function stopMachine(lab: string, host: string, timeoutMs = 30_000): Promise<void> {
    const nspawn = machinePid(lab, host);
    if (nspawn !== undefined) {
        const leader = machineLeaderPid(lab, host);
        signal(leader ?? nspawn, leader !== undefined ? poweroffSignal : "SIGTERM");
        if (!(await exited(nspawn, timeoutMs))) {
            // A machine that does not power off: its PID 1 killed takes every process of the machine with it.
            const stuck = machineLeaderPid(lab, host);
            signal(stuck ?? nspawn, "SIGKILL");
            if (!(await exited(nspawn, 10_000))) signal(nspawn, "SIGKILL");
            if (!(await exited(nspawn, 10_000)))
                throw new Error(`lab ${lab}: machine ${host} (pid ${nspawn}) does not exit`);
        }
    }
    removeMachineCgroups(lab, host);
}

/** Stops the machine if it runs, then deletes everything it had: mounts, cgroups, its folder. */
export async function removeMachine(lab: string, host: string): Promise<void> {
    await stopMachine(lab, host);
    const dir = machineDir(lab, host);
    // The overlay lives in the machine's own mount namespace; anything mounted under its folder here is a leftover.
    for (const target of mountsUnder(dir).reverse()) mustRun(["umount", "--lazy", target]);
    rmSync(dir, { recursive: true, force: true });
    const machines = dirname(dir);
    if (existsSync(machines) && readdirSync(machines).length === 0) rmdirSync(machines);
}

/** What a machine would leave behind (for `lab down` checks and tests): mounts, cgroups, processes, one per line. */
export function machineLeftovers(lab: string, host: string): string[] {
    const left = mountsUnder(machineDir(lab, host)).map((target) => `mount ${target}`);
    left.push(...machineCgroupDirs(lab, host).map((dir) => `cgroup ${dir}`));
    const pid = machinePid(lab, host);
    if (pid !== undefined) left.push(`process ${pid}`);
    const name = machineName(lab, host);
    for (const entry of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
        const cmdline = readProc(Number(entry), "cmdline")?.split("\0") ?? [];
        if (Number(entry) !== pid && cmdline.some((arg) => /systemd-nspawn$/.test(arg)) && cmdline.includes(name)) {
            left.push(`process ${entry}`);
        }
    }
    return left;
}

/** Mount points at or below dir in this host's mount namespace, outermost first. */
function mountsUnder(dir: string): string[] {
    const out = runCommand(["findmnt", "-rn", "-o", "TARGET"]).stdout;
    return out
        .split("\n")
        .map((line) => line.replace(/\\x20/g, " "))
        .filter((target) => target === dir || target.startsWith(`${dir}/`))
        .sort((a, b) => a.length - b.length);
}

/** The machine's cgroup directories in every hierarchy, innermost first. */
function machineCgroupDirs(lab: string, host: string): string[] {
    const found: string[] = [];
    const walk = (dir: string) => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
            if (entry.isDirectory()) walk(join(dir, entry.name));
        }
        found.push(dir);
    };
    for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
        const dir = join("/sys/fs/cgroup", hierarchy, machineCgroup(lab, host));
        if (existsSync(dir)) walk(dir);
    }
    return found;
}

function removeMachineCgroups(lab: string, host: string): void {
    const failed: string[] = [];
    for (const dir of machineCgroupDirs(lab, host)) {
        try {
            rmdirSync(dir);
        } catch (error) {
            failed.push(`${dir}: ${(error as Error).message}`);
        }
    }
    if (failed.length > 0) throw new Error(`lab ${lab}: cgroups of ${host} left behind:\n${failed.join("\n")}`);
    // The lab's and the labs' parents go once empty (another machine or lab may still use them).
    for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
        for (const parent of [join("kubeha-lab", lab), "kubeha-lab"]) {
            try {
                rmdirSync(join("/sys/fs/cgroup", hierarchy, parent));
            } catch {
                // Not there, or still in use.
            }
        }
    }
}

function checkHostName(host: string): string {
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(host)) throw new Error(`lab: bad host name ${JSON.stringify(host)}`);
    return host;
}

function readProc(pid: number, file: string): string | undefined {
    try {
        return readFileSync(`/proc/${pid}/${file}`, "utf8");
    } catch {
        return undefined;
    }
}

function isZombie(pid: number): boolean {
    const stat = readProc(pid, "stat");
    return stat === undefined || / [ZX] /.test(stat.slice(stat.lastIndexOf(")")));
}

function childrenOf(pid: number): number[] {
    const children: number[] = [];
    for (const task of readdirSync(`/proc/${pid}/task`, { withFileTypes: true })) {
        const list = readProc(pid, `task/${task.name}/children`);
        if (list) children.push(...list.trim().split(/\s+/).filter(Boolean).map(Number));
    }
    return children;
}

function signal(pid: number, sig: NodeJS.Signals | number): void {
    try {
        process.kill(pid, sig);
    } catch {
        // Gone already.
    }
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (isZombie(pid)) return true;
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return isZombie(pid);
}
