// The lab's machine layer on this host: two systemd-nspawn machines booted from the base image (built or reused)
// on a router network of their own. cloud-init runs the user-data given (write_files, runcmd, the SSH host key),
// sshd presents that key to the default user's key, the machines reach each other over the bridge, a kubelet's
// prerequisites hold inside without reaching the host's kernel settings, and stop + remove leave nothing behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { ensureBaseImage } from "../../lab/base-image";
import { haveCommand, runCommand } from "../../lab/command";
import {
    machineCommand,
    machineDir,
    machineLeftovers,
    MachineSpec,
    removeMachine,
    startMachine,
    stopMachine,
} from "../../lab/machines";
import { createLabNetwork, destroyLabNetwork, inRouter, labNetworkExists, routerSysctl } from "../../lab/network";
import { labGateway, labServices, labStateDir } from "../../lab/paths";
import { waitFor } from "../system/support/netns";

const skip =
    process.getuid?.() !== 0
        ? "needs root (network namespaces, mounts, systemd-nspawn)"
        : !haveCommand("systemd-nspawn") || !haveCommand("debootstrap")
          ? "needs systemd-nspawn and debootstrap (apt-get install systemd-container debootstrap)"
          : false;

const lab = `mt${process.pid % 100000}`;
const vpc = "192.168.0.0/16";
const gateway = labGateway(vpc);
const hosts = [
    { host: "node-a", address: "192.168.0.10" },
    { host: "node-b", address: "192.168.0.11" },
];
const work = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-machines-"));
const hostSettings = ["vm/overcommit_memory", "vm/swappiness", "kernel/panic", "kernel/panic_on_oops", "fs/file-max"];

function keyPair(name: string): { privateKey: string; publicKey: string; file: string } {
    const file = path.join(work, name);
    const made = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
    assert.equal(made.status, 0, String(made.stderr));
    return {
        privateKey: fs.readFileSync(file, "utf8"),
        publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim(),
        file,
    };
}

function userData(hostKey: { privateKey: string; publicKey: string }): string {
    const lines = [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_keys:",
        "  ed25519_private: |",
        ...hostKey.privateKey
            .trimEnd()
            .split("\n")
            .map((line) => `    ${line}`),
        `  ed25519_public: ${hostKey.publicKey}`,
        "write_files:",
        "- path: /etc/kubeha-lab-test",
        "  content: written by cloud-init\n",
        // As the host boot's own sysctl file: keys outside net.* and per-namespace net.* keys.
        "- path: /etc/sysctl.d/90-kubeha.conf",
        "  content: |",
        "    vm.swappiness = 0",
        "    fs.file-max = 52706963",
        "    net.ipv4.ip_forward = 1",
        "runcmd:",
        "- [sh, -c, 'cat /etc/kubeha-lab-test > /var/lib/kubeha-lab-test-ran']",
    ];
    return `${lines.join("\n")}\n`;
}

/** Runs a command in a machine; returns its result (status, stdout, stderr). */
function inMachine(host: string, ...argv: string[]) {
    return runCommand(machineCommand(lab, host, argv), { timeoutMs: 60_000 });
}

describe("lab machines (systemd-nspawn on the router network)", { skip }, () => {
    const hostKeys = new Map<string, { privateKey: string; publicKey: string }>();
    const bootSeconds = new Map<string, number>();
    let userKey: { publicKey: string; file: string };
    let hostValuesBefore: string[];

    before(async () => {
        const started = Date.now();
        const lower = ensureBaseImage();
        console.log(`base image ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${lower}`);
        hostValuesBefore = hostSettings.map((key) => fs.readFileSync(`/proc/sys/${key}`, "utf8"));
        userKey = keyPair("user");
        createLabNetwork({
            lab,
            addresses: [`${gateway.address}/${gateway.prefix}`, `${labServices.dns}/24`],
        });
        // Idempotent: a second call changes nothing and does not fail.
        createLabNetwork({ lab, addresses: [`${gateway.address}/${gateway.prefix}`, `${labServices.dns}/24`] });
        const bootStarted = Date.now();
        for (const { host, address } of hosts) {
            const hostKey = keyPair(`host-${host}`);
            hostKeys.set(host, hostKey);
            const spec: MachineSpec = {
                lab,
                host,
                address,
                prefix: gateway.prefix,
                gateway: gateway.address,
                dnsServer: labServices.dns,
                user: "ecs-user",
                authorizedKey: userKey.publicKey,
                userData: userData(hostKey),
                dataDisks: [{ purpose: "containerd", sizeGb: 1, mountPoint: "/var/lib/containerd" }],
            };
            startMachine(spec, lower);
        }
        await Promise.all(
            hosts.map(async ({ host }) => {
                try {
                    await waitFor(`${host}'s runcmd`, 120_000, async () =>
                        inMachine(host, "cat", "/var/lib/kubeha-lab-test-ran").status === 0 ? true : undefined,
                    );
                } catch (error) {
                    const log = path.join(machineDir(lab, host), "log");
                    const tail = fs.existsSync(log)
                        ? fs.readFileSync(log, "utf8").split("\n").slice(-40).join("\n")
                        : "";
                    throw new Error(`${(error as Error).message}\n${host}'s console, last lines:\n${tail}`);
                }
                bootSeconds.set(host, (Date.now() - bootStarted) / 1000);
            }),
        );
        console.log(`boot to runcmd done (two at once): ${JSON.stringify(Object.fromEntries(bootSeconds))} s`);
    });

    after(async () => {
        for (const { host } of hosts) await removeMachine(lab, host).catch((error) => console.error(error));
        try {
            destroyLabNetwork(lab);
        } catch (error) {
            console.error(error);
        }
        fs.rmSync(labStateDir(lab), { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });
    });

    test("cloud-init ran the user-data: write_files, runcmd, status done", () => {
        for (const { host } of hosts) {
            assert.equal(inMachine(host, "cat", "/var/lib/kubeha-lab-test-ran").stdout, "written by cloud-init");
            const status = inMachine(host, "cloud-init", "status", "--wait");
            assert.match(status.stdout, /status: done/, `${host}: ${status.stdout}${status.stderr}`);
            assert.equal(inMachine(host, "hostname").stdout.trim(), host);
        }
    });

    test("sshd presents the user-data's host key; the default user logs in with the key and has sudo", () => {
        for (const { host, address } of hosts) {
            const knownHosts = path.join(work, `known-${host}`);
            fs.writeFileSync(knownHosts, `${address} ${hostKeys.get(host)!.publicKey}\n`);
            const ssh = runCommand(
                inRouter(lab, [
                    "ssh",
                    "-i",
                    userKey.file,
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    `UserKnownHostsFile=${knownHosts}`,
                    "-o",
                    "HostKeyAlgorithms=ssh-ed25519",
                    "-o",
                    "ConnectTimeout=10",
                    `ecs-user@${address}`,
                    "sudo -n id -u && hostname",
                ]),
            );
            assert.equal(ssh.status, 0, `${host}: ${ssh.stderr}`);
            assert.equal(ssh.stdout, `0\n${host}\n`);
        }
    });

    test("the machines reach each other and the router over the bridge", () => {
        const [a, b] = hosts;
        for (const [from, to] of [
            [a.host, b.address],
            [b.host, a.address],
            [a.host, gateway.address],
            [a.host, labServices.dns],
        ]) {
            const ping = inMachine(from, "ping", "-c", "1", "-W", "3", to);
            assert.equal(ping.status, 0, `${from} -> ${to}: ${ping.stdout}${ping.stderr}`);
        }
    });

    test("a kubelet's prerequisites hold inside, and the host's kernel settings stay as they were", () => {
        const host = hosts[0].host;
        assert.equal(inMachine(host, "systemctl", "is-active", "kubeha-lab-setup.service").stdout.trim(), "active");
        const again = inMachine(host, "systemctl", "restart", "kubeha-lab-setup.service");
        assert.equal(again.status, 0, `the setup runs again: ${again.stderr}`);
        assert.equal(inMachine(host, "test", "-c", "/dev/kmsg").status, 0, "/dev/kmsg");
        const swaps = inMachine(host, "sh", "-c", "swapoff -a && wc -l </proc/swaps");
        assert.equal(swaps.stdout.trim(), "1", `no swap area of the host listed: ${swaps.stderr}`);
        const cgroup = inMachine(
            host,
            "sh",
            "-c",
            "mkdir /sys/fs/cgroup/memory/probe && rmdir /sys/fs/cgroup/memory/probe",
        );
        assert.equal(cgroup.status, 0, `memory cgroup writable: ${cgroup.stderr}`);
        // The data mount is a bind of the machine's own directory, not the overlay.
        const fstype = inMachine(host, "findmnt", "-no", "FSTYPE", "--mountpoint", "/var/lib/containerd");
        assert.notEqual(fstype.stdout.trim(), "", "/var/lib/containerd is a mount point");
        assert.notEqual(fstype.stdout.trim(), "overlay");
        // What the kubelet writes, and what the host boot's kernel stage runs.
        const writes = inMachine(
            host,
            "sh",
            "-c",
            "echo 1 >/proc/sys/vm/overcommit_memory && echo 10 >/proc/sys/kernel/panic && " +
                "echo 1 >/proc/sys/kernel/panic_on_oops && sysctl --system >/dev/null && " +
                "systemctl restart systemd-modules-load.service && cat /proc/sys/vm/overcommit_memory /proc/sys/vm/swappiness",
        );
        assert.equal(writes.status, 0, `writes in the machine: ${writes.stderr}`);
        assert.equal(writes.stdout, "1\n0\n", "the machine sees what it wrote");
        assert.equal(
            inMachine(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout,
            "1\n",
            "net.* applies per machine",
        );
        assert.deepEqual(
            hostSettings.map((key) => fs.readFileSync(`/proc/sys/${key}`, "utf8")),
            hostValuesBefore,
            "the host's kernel settings are unchanged",
        );
        assert.equal(routerSysctl(lab, "net/ipv4/ip_forward"), "0", "the router does not forward");
    });

    test("stop and remove leave nothing behind: no process, mount, cgroup, veth, folder or namespace", async () => {
        for (const { host } of hosts) {
            const started = Date.now();
            await stopMachine(lab, host);
            console.log(`${host} stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
            assert.ok(
                fs.existsSync(path.join(machineDir(lab, host), "upper", "etc")),
                "a stopped machine keeps its disk",
            );
            await removeMachine(lab, host);
            assert.deepEqual(machineLeftovers(lab, host), []);
            assert.equal(fs.existsSync(machineDir(lab, host)), false);
        }
        const links = runCommand(["ip", "-n", `kubeha-lab-${lab}`, "-o", "link", "show"]).stdout;
        assert.deepEqual(
            links
                .split("\n")
                .filter(Boolean)
                .map((line) => line.split(":")[1].trim().split("@")[0])
                .sort(),
            ["labbr0", "lo"],
            "no veth left on the bridge",
        );
        for (const hierarchy of fs.readdirSync("/sys/fs/cgroup")) {
            assert.equal(fs.existsSync(path.join("/sys/fs/cgroup", hierarchy, "kubeha-lab", lab)), false, hierarchy);
        }
        destroyLabNetwork(lab);
        assert.equal(labNetworkExists(lab), false);
        const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
        assert.equal(mounts.includes(labStateDir(lab)), false, "no mount under the lab's state");
    });
});
