// A lab: a stack's cluster built on this machine. `up` makes the lab's network and mirrors, plans the lab's stack,
// boots one machine per planned host from its own user-data, stands in for the API load balancer, runs the plan's
// steps and addons, and writes a kubeconfig that reaches the API from here; `down` removes all of it.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { Plan } from "../plan/read";
import { nodefsEvictionPercent } from "../render/kubeadm";
import { freeLoopbackPort, labKubeconfig, startForwarder, startLoadBalancer } from "./api-access";
import { ensureBaseImage } from "./base-image";
import { BootstrapResult, runBootstrap } from "./bootstrap";
import { haveCommand, runCommand } from "./command";
import { forcedDifferences } from "./forced-differences";
import { LabCloudView, readLabCloudView } from "./hosts";
import { labMachineFiles } from "./machine-files";
import { machineRunning, removeMachine, startMachine } from "./machines";
import { buildMirrorContent, LabMirrors, labStackMirrors, setDnsRecords, startMirrors, stopMirrors } from "./mirrors";
import {
    createLabNetwork,
    destroyLabNetwork,
    inRouter,
    labNetnsPath,
    processesInLabNetwork,
    routeInLabNetwork,
} from "./network";
import { labBridge, labGateway, labServices, labStateDir } from "./paths";
import { describeLabStackChanges, labStackChanges, writeLabStackFile } from "./stack";

const projectDir = path.resolve(__dirname, "..");

export interface LabUpOptions {
    readonly stack: string;
    /** Workers instead of the stack's count. */
    readonly workers?: number;
    readonly say: (line: string) => void;
}

export interface LabUpResult {
    readonly kubeconfig: string;
    readonly view: LabCloudView;
    readonly bootstrap: BootstrapResult;
    /** Seconds each phase of `up` took. */
    readonly timings: Record<string, number>;
}

/** Files of a lab's state dir other commands read. */
export function labFiles(stack: string) {
    const state = labStateDir(stack);
    return {
        state,
        plan: path.join(state, "plan"),
        mirrors: path.join(state, "mirrors"),
        run: path.join(state, "run"),
        logs: path.join(state, "logs"),
        kubeconfig: path.join(state, "kubeconfig"),
        /** The admin kubeconfig as the plan wrote it, for use inside the lab's namespace. */
        innerKubeconfig: path.join(state, "plan", "kubeconfig"),
        binDir: path.join(state, "bin-dir"),
    };
}

/** Root, Linux and the system tools the lab drives: refused at once with what is missing. */
export function checkLabHost(): void {
    const problems: string[] = [];
    if (process.platform !== "linux") problems.push(`the lab runs on Linux only (this is ${process.platform})`);
    else if (process.getuid?.() !== 0) problems.push("the lab needs root (network namespaces, mounts, containers)");
    const tools = ["systemd-nspawn", "nsenter", "unshare", "ip", "nginx", "socat", "ssh", "ssh-keygen", "openssl"];
    tools.push("gpg", "debootstrap", "dpkg-deb", "apt-ftparchive");
    const missing = process.platform === "linux" ? tools.filter((tool) => !haveCommand(tool)) : [];
    if (missing.length > 0) problems.push(`missing commands: ${missing.join(", ")} (.ci/run lists their packages)`);
    const disk = process.platform === "linux" ? labDiskProblem(fs.statfsSync("/var/lib")) : undefined;
    if (disk) problems.push(disk);
    if (problems.length > 0) throw new Error(`lab: ${problems.join("; ")}`);
}

/** What a lab (or two at once, test:up's beside scope) writes on the host: machines' files, images, lab disks. */
const labDiskUse = 8 * 2 ** 30;

/**
 * Refused when the lab would leave its machines' filesystem, which is the host's, under the kubelet's eviction
 * threshold (nodefs.available, render/kubeadm.ts): every node would be tainted with disk pressure and no pod
 * scheduled, while the nodes still report Ready.
 */
export function labDiskProblem(stats: Pick<fs.StatsFs, "bsize" | "blocks" | "bavail">): string | undefined {
    const size = stats.blocks * stats.bsize;
    const free = stats.bavail * stats.bsize;
    const needed = (size * nodefsEvictionPercent) / 100 + labDiskUse;
    if (free >= needed) return undefined;
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
    return (
        `/var/lib has ${gib(free)} free of ${gib(size)}; the lab needs ${gib(needed)} (its machines' kubelets taint ` +
        `every node with disk pressure below ${nodefsEvictionPercent} % free, and the lab writes up to ${gib(labDiskUse)}): free some space`
    );
}

/**
 * The toolchain's bin directory (built or reused): its last line of output. With a version, the bin directory of that
 * whole Kubernetes release (`--kubernetes-release`, outside the default set).
 */
export function toolchainBinDir(kubernetesRelease?: string): string {
    const args = ["--require", "ts-node/register/transpile-only", "toolchain/build.ts"];
    if (kubernetesRelease) args.push("--kubernetes-release", kubernetesRelease);
    const out = execFileSync(process.execPath, args, {
        cwd: projectDir,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    return out.trim().split("\n").pop()!;
}

/** What a lab stands on before any machine: the toolchain, base image and mirror content, its network and mirrors. */
export interface LabFoundation {
    readonly binDir: string;
    readonly mirrors: LabMirrors;
}

/**
 * Builds (or reuses) what every lab needs and starts the lab's network and mirrors: the part `lab up` and the lab
 * cloud (test:up) share. `phase` is told when each part is done. `upgradeTo` (an exact version) makes the mirrors
 * serve that Kubernetes release too, for an upgrade of the lab's cluster.
 */
export async function labFoundation(
    stack: string,
    say: (line: string) => void,
    phase: (name: string) => void = () => {},
    upgradeTo?: string,
): Promise<LabFoundation> {
    checkLabHost();
    const files = labFiles(stack);
    if (fs.existsSync(files.state))
        throw new Error(`lab ${stack} exists already (${files.state}): npm run lab -- down --stack ${stack} first`);
    const binDir = toolchainBinDir();
    const upgradeBinDir = upgradeTo ? toolchainBinDir(upgradeTo) : undefined;
    phase("toolchain");
    ensureBaseImage();
    phase("base image");
    const content = buildMirrorContent({ binDir, upgradeBinDir, log: say });
    phase("mirror content");

    for (const dir of [files.state, files.run, files.logs]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(files.binDir, `${binDir}\n`);
    const services = [labServices.mirror, labServices.registry, labServices.dns];
    createLabNetwork({ lab: stack, addresses: services.map((address) => `${address}/24`) });
    const mirrors = await startMirrors({
        lab: stack,
        netns: labNetnsPath(stack),
        state: files.mirrors,
        binDir,
        content,
        log: say,
    });
    phase("mirrors");
    return { binDir, mirrors };
}

export async function labUp(options: LabUpOptions): Promise<LabUpResult> {
    const { stack, say } = options;
    const files = labFiles(stack);
    const timings: Record<string, number> = {};
    let mark = Date.now();
    const phase = (name: string) => {
        timings[name] = Math.round((Date.now() - mark) / 100) / 10;
        mark = Date.now();
        say(`lab: ${name} in ${timings[name]} s`);
    };
    const { binDir, mirrors } = await labFoundation(stack, say, phase);

    const changes = labStackChanges(stack, labStackMirrors(mirrors), options.workers);
    say(`lab: the lab's stack differs from Pulumi.${stack}.yaml in:`);
    for (const line of describeLabStackChanges(changes)) say(`  ${line}`);
    writePlan(stack, changes);
    const plan = new Plan(files.plan);
    const view = readLabCloudView(plan);
    phase("plan");

    warnInotifyBudget(view, say);
    say("lab: differences this machine forces (lab/forced-differences.ts):");
    for (const difference of forcedDifferences) say(`  - ${difference.what}\n    because ${difference.why}`);
    const gateway = labGateway(view.vpcCidr);
    createLabNetwork({
        lab: stack,
        addresses: [`${gateway.address}/${gateway.prefix}`, `${view.metadataAddress}/32`, `${view.api.address}/32`],
    });
    setDnsRecords(files.mirrors, {
        ...Object.fromEntries(view.hosts.map((host) => [`${host.name}.${view.privateDomain}`, host.privateIp])),
        ...(view.api.name ? { [view.api.name]: view.api.address } : {}),
    });
    const caCertificate = fs.readFileSync(mirrors.caCertificate, "utf8");
    const machineFiles = labMachineFiles({ aptKey: fs.readFileSync(mirrors.aptKeyFile, "utf8") });
    for (const host of view.hosts) {
        startMachine({
            lab: stack,
            host: host.name,
            address: host.privateIp,
            prefix: gateway.prefix,
            extraAddresses: host.role === "bastion" ? [`${view.bastionPublicIp}/32`] : [],
            gateway: gateway.address,
            dnsServer: labServices.dns,
            user: view.sshUser,
            authorizedKey: view.sshPublicKey,
            userData: host.userData,
            caCertificate,
            dataDisks: host.dataDisks,
            files: machineFiles,
        });
    }
    // The bastion's public address, as the cloud's 1:1 NAT maps it: routed to the bastion, which holds it too.
    const bastion = view.hosts.find((host) => host.role === "bastion")!;
    routeInLabNetwork(stack, `${view.bastionPublicIp}/32`, bastion.privateIp);
    const masters = view.hosts.filter((host) => host.role === "master").map((host) => host.privateIp);
    const loadBalancer = { ...view.api, masters, metadataAddress: view.metadataAddress };
    startLoadBalancer(stack, loadBalancer, files.run);
    phase("machines started");

    const bootstrap = await runBootstrap({
        planDir: files.plan,
        logDir: path.join(files.logs, "steps"),
        wrap: (argv) => onOperatorMachine(stack, argv),
        kubectl: path.join(binDir, "kubectl"),
        progress: say,
    });
    keepKubeProxyOffHostConntrack(stack, path.join(binDir, "kubectl"), files.innerKubeconfig);
    phase("bootstrap");

    const port = await freeLoopbackPort();
    startForwarder(stack, loadBalancer, port, files.run);
    fs.writeFileSync(files.kubeconfig, labKubeconfig(plan.file("kubeconfig"), port), { mode: 0o600 });
    return { kubeconfig: files.kubeconfig, view, bootstrap, timings };
}

/**
 * The lab's operator machine, where `pulumi up` would run: inside the lab's network, resolving names with the lab's
 * DNS (the load balancer's name on AWS) in a mount namespace of its own, so this machine's resolver is never asked.
 */
export function onOperatorMachine(stack: string, argv: readonly string[]): string[] {
    const resolvConf = path.join(labFiles(stack).run, "resolv.conf");
    if (!fs.existsSync(resolvConf)) fs.writeFileSync(resolvConf, `nameserver ${labServices.dns}\n`);
    const bindResolver = 'mount --bind "$0" /etc/resolv.conf && exec "$@"';
    return inRouter(stack, [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        bindResolver,
        resolvConf,
        ...argv,
    ]);
}

/** A lab another process brought up, for its checks (the bootstrap's report and up's timings are not kept). */
export function labAttach(stack: string): LabUpResult {
    const files = labFiles(stack);
    if (!fs.existsSync(files.kubeconfig)) throw new Error(`lab ${stack} is not up`);
    const view = readLabCloudView(new Plan(files.plan));
    return { kubeconfig: files.kubeconfig, view, bootstrap: { steps: [], seconds: 0 }, timings: {} };
}

/** `npm run plan` of the lab's stack, with secrets: the lab installs the SSH key the cloud would and runs the steps. */
function writePlan(stack: string, changes: Record<string, unknown>): void {
    const files = labFiles(stack);
    const config = writeLabStackFile(stack, changes, files.state);
    const args = ["--require", "ts-node/register/transpile-only", "plan/cli.ts", "--stack", stack, "--config", config];
    args.push("--out", files.plan, "--show-secrets");
    const result = spawnSync(process.execPath, args, { cwd: projectDir, encoding: "utf8", timeout: 600_000 });
    if (result.status !== 0) throw new Error(`lab: the plan of the lab's stack failed:\n${result.stderr}`);
    fs.chmodSync(files.plan, 0o700);
}

/**
 * inotify instances each machine's root processes hold, measured on 3+3 labs (systemd, kubelet, containerd,
 * kube-proxy, flannel; the control plane on masters): all of them count against the one limit root has on this host.
 */
const inotifyInstancesPerMachine = { bastion: 5, etcd: 8, worker: 15, master: 26 } as const;

function warnInotifyBudget(view: LabCloudView, say: (line: string) => void): void {
    const limit = Number(fs.readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"));
    let inUse = 0;
    for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
        try {
            if (fs.statSync(`/proc/${pid}`).uid !== 0) continue;
            for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
                if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:inotify") inUse++;
            }
        } catch {
            // The process ended meanwhile.
        }
    }
    const needed = view.hosts.reduce((sum, host) => sum + inotifyInstancesPerMachine[host.role], 0);
    if (inUse + needed > limit) {
        say(
            `lab: warning: the machines need about ${needed} inotify instances and root holds ${inUse} of its ` +
                `${limit} (fs.inotify.max_user_instances) already: pods may fail with "too many open files". ` +
                "The lab does not raise the limit (a kernel setting of this machine); run fewer workers or stop other labs",
        );
    }
}

/**
 * kube-proxy sets nf_conntrack_max to its configured size, a setting only this host's own network namespace may
 * write: in a machine it is refused and kube-proxy exits. As kind does, the lab sets conntrack.maxPerCore to 0 (leave
 * the kernel's value) in kube-proxy's ConfigMap and restarts it (forced-differences.ts). Idempotent: kubeadm may write
 * its ConfigMap again (a step still running after an interrupted `pulumi up`), so callers may ask again.
 */
export function keepKubeProxyOffHostConntrack(stack: string, kubectl: string, kubeconfig: string): void {
    const run = (args: string[], input?: string) => {
        const argv = [kubectl, "--kubeconfig", kubeconfig, "-n", "kube-system", ...args];
        const [command, ...rest] = onOperatorMachine(stack, argv);
        const result = spawnSync(command, rest, { encoding: "utf8", input, timeout: 60_000 });
        if (result.status !== 0) throw new Error(`lab: kubectl ${args.join(" ")}: ${result.stderr}`);
        return result.stdout;
    };
    const configMap = JSON.parse(run(["get", "configmap", "kube-proxy", "-o", "json"])) as {
        data: Record<string, string>;
    };
    const config = parseYaml(configMap.data["config.conf"]) as { conntrack?: Record<string, unknown> };
    if (config.conntrack?.maxPerCore === 0) return; // set already: nothing to restart
    config.conntrack = { ...config.conntrack, maxPerCore: 0 };
    configMap.data["config.conf"] = toYaml(config);
    run(["replace", "-f", "-"], JSON.stringify(configMap));
    run(["rollout", "restart", "daemonset/kube-proxy"]);
}

/** Everything `up` made, in reverse: forwarder, load balancer, machines, mirrors, network, state. */
export async function labDown(stack: string, say: (line: string) => void): Promise<void> {
    const files = labFiles(stack);
    for (const name of ["api-forwarder", "api-lb"]) killPidFile(path.join(files.run, `${name}.pid`));
    const machinesDir = path.join(files.state, "machines");
    const hosts = fs.existsSync(machinesDir) ? fs.readdirSync(machinesDir) : [];
    await Promise.all(hosts.map((host) => removeMachine(stack, host)));
    if (hosts.length > 0) say(`lab: removed machines ${hosts.join(", ")}`);
    await stopMirrors({ state: files.mirrors, netns: labNetnsPath(stack), remove: true });
    const left = processesInLabNetwork(stack);
    for (const pid of left) process.kill(pid, "SIGKILL");
    destroyLabNetwork(stack);
    fs.rmSync(files.state, { recursive: true, force: true });
    say(`lab ${stack}: down`);
}

function killPidFile(file: string): void {
    if (!fs.existsSync(file)) return;
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    try {
        process.kill(pid, "SIGTERM");
    } catch {
        // Gone already.
    }
    fs.rmSync(file, { force: true }); // nginx removes its own pid file as it exits
}

/** Machines and their state, then the cluster's nodes as the API reports them. */
export function labStatus(stack: string): string {
    const files = labFiles(stack);
    if (!fs.existsSync(files.state)) return `lab ${stack}: not up`;
    const machinesDir = path.join(files.state, "machines");
    const hosts = fs.existsSync(machinesDir) ? fs.readdirSync(machinesDir) : [];
    const lines = hosts.map((host) => `${host.padEnd(12)} ${machineRunning(stack, host) ? "running" : "stopped"}`);
    if (fs.existsSync(files.kubeconfig)) {
        const kubectl = path.join(fs.readFileSync(files.binDir, "utf8").trim(), "kubectl");
        const nodes = runCommand([kubectl, "--kubeconfig", files.kubeconfig, "get", "nodes", "-o", "wide"]);
        lines.push("", nodes.status === 0 ? nodes.stdout.trimEnd() : `nodes: ${nodes.stderr.trim()}`);
    }
    return [`lab ${stack}: ${files.state}`, `bridge ${labBridge} in ${labNetnsPath(stack)}`, ...lines].join("\n");
}
