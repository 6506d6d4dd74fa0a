// The user-data of every role on both clouds: valid for the real `cloud-init schema`, free of secrets,
// with the kernel settings, disks, packages and containerd settings the issue asks for. The embedded boot
// script is checked by the real shellcheck, and its sshd drop-in by the real sshd.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { PlannedHost, planHosts } from "../config/layout";
import { ClusterConfig, resolveConfig } from "../config/resolve";
import { apiProxyConfigPath, apiProxyUnitName, apiProxyUnitPath } from "../render/api-proxy";
import { bootScript, hostBoot, maxUserDataBytes, userDataFor } from "../render/cloud-init";
import { etcdDiskMountPoint } from "../render/etcd";

const projectDir = path.resolve(__dirname, "..");
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-cloud-init-"));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

function configFor(values: Record<string, string>, regions: Record<string, string>): ClusterConfig {
    const result = resolveConfig({ values, regions });
    if (!result.ok) throw new Error(result.problems.join("\n"));
    return result.config;
}

function layoutOf(config: ClusterConfig): PlannedHost[] {
    return planHosts({
        vpcCidr: config.network.vpcCidr,
        zoneCount: config.zones?.length ?? 3,
        masters: config.masters.count,
        workers: config.workers.count,
        dedicatedEtcd: config.etcd.dedicated ? config.etcd.count : 0,
    });
}

const stacks = {
    // Minimal stacks like Pulumi.dev.yaml and Pulumi.aws-dev.yaml, plus the other shapes the render serves.
    aliyun: configFor({ cloud: "aliyun", timezone: "Asia/Shanghai" }, { aliyun: "cn-hangzhou" }),
    aws: configFor({ cloud: "aws" }, { aws: "eu-central-1" }),
    "aws-dedicated-etcd-ipvs": configFor(
        { cloud: "aws", etcd: '{"dedicated": true}', kubeProxyMode: "ipvs", kubernetesVersion: "1.36.4" },
        { aws: "eu-central-1" },
    ),
};

interface WriteFile {
    path: string;
    permissions?: string;
    content: string;
}

interface Rendered {
    stack: string;
    config: ClusterConfig;
    layout: PlannedHost[];
    host: PlannedHost;
    text: string;
    document: { write_files: WriteFile[]; runcmd?: string[][]; [key: string]: unknown };
}

const rendered: Rendered[] = Object.entries(stacks).flatMap(([stack, config]) => {
    const layout = layoutOf(config);
    return layout.map((host) => {
        const text = userDataFor(config, layout, host);
        return { stack, config, layout, host, text, document: parseYaml(text) };
    });
});

function file(item: Rendered, filePath: string): WriteFile {
    const found = item.document.write_files.find((entry) => entry.path === filePath);
    assert.ok(found, `${item.stack}/${item.host.name} writes ${filePath}`);
    return found;
}

/** The boot script's environment, from runcmd's `env K=V ... script` command. */
function bootEnvironment(item: Rendered): Record<string, string> {
    const [command] = item.document.runcmd ?? [];
    assert.ok(command, `${item.host.name} has a runcmd`);
    assert.equal(command[0], "env");
    assert.equal(command.at(-1), hostBoot.script);
    return Object.fromEntries(
        command.slice(1, -1).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
    );
}

const kubernetesNodes = () => rendered.filter((item) => item.host.role === "master" || item.host.role === "worker");

describe("cloud-init user-data", () => {
    test("every role of every stack is valid for cloud-init schema", () => {
        const roles = new Set(rendered.map((item) => item.host.role));
        assert.deepEqual([...roles].sort(), ["bastion", "etcd", "master", "worker"]);
        for (const item of rendered) {
            assert.ok(item.text.startsWith("#cloud-config\n"));
            const target = path.join(workDir, `${item.stack}-${item.host.name}.yaml`);
            fs.writeFileSync(target, item.text);
            const run = spawnSync("cloud-init", ["schema", "--config-file", target], { encoding: "utf8" });
            assert.equal(run.status, 0, `${item.stack}/${item.host.name}: ${run.stdout}${run.stderr}`);
            assert.match(run.stdout, /Valid cloud-config/);
        }
    });

    test("cloud-init schema rejects a broken document (the check is real)", () => {
        const broken = rendered[1].text.replace(/^- path: \/etc\/hosts$/m, "- paht: /etc/hosts");
        const target = path.join(workDir, "broken.yaml");
        fs.writeFileSync(target, broken);
        const run = spawnSync("cloud-init", ["schema", "--config-file", target], { encoding: "utf8" });
        assert.notEqual(run.status, 0);
    });

    test("fits AWS's 16 KiB limit, even with 7 masters and 7 dedicated etcd hosts", () => {
        const largest = configFor(
            { cloud: "aws", masters: '{"count": 7}', etcd: '{"dedicated": true, "count": 7}', kubeProxyMode: "ipvs" },
            { aws: "us-east-1" },
        );
        const layout = layoutOf(largest);
        for (const host of layout) {
            assert.ok(Buffer.byteLength(userDataFor(largest, layout, host)) <= maxUserDataBytes, host.name);
        }
    });

    test("holds no secret: no private key, certificate, token or kubeconfig credential", () => {
        for (const item of rendered) {
            assert.doesNotMatch(item.text, /-----BEGIN/, item.host.name);
            assert.doesNotMatch(item.text, /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/, `${item.host.name}: bootstrap token`);
            assert.doesNotMatch(item.text, /(client-key|token|password|secret)\s*[:=]/i, item.host.name);
            assert.doesNotMatch(item.text, /EncryptionConfiguration|secretbox/, item.host.name);
        }
    });

    test("host names: hostname, fqdn, /etc/hosts by name with the API proxy on 127.0.0.1", () => {
        for (const item of rendered) {
            const domain = item.config.network.privateDomain;
            assert.equal(item.document.hostname, item.host.name);
            assert.equal(item.document.fqdn, `${item.host.name}.${domain}`);
            assert.equal(item.document.manage_etc_hosts, false);
            const hosts = file(item, "/etc/hosts").content.split("\n");
            const controlPlane = item.layout.filter((host) => host.role === "master" || host.role === "etcd");
            for (const other of [...controlPlane, item.host]) {
                assert.ok(hosts.includes(`${other.privateIp} ${other.name}.${domain} ${other.name}`), other.name);
            }
            // Workers' names come from the private zone: listing them would change every host on a scale-up.
            const otherWorkers = item.layout.filter((host) => host.role === "worker" && host.name !== item.host.name);
            for (const worker of otherWorkers) assert.ok(!hosts.some((line) => line.includes(worker.privateIp)));
            const proxyLine = `127.0.0.1 apiserver.${domain}`;
            const runsProxy = item.host.role === "master" || item.host.role === "worker";
            assert.equal(hosts.includes(proxyLine), runsProxy, `${item.host.name}: ${proxyLine}`);
        }
    });

    test("the configured time zone on every host", () => {
        for (const item of rendered) assert.equal(item.document.timezone, item.config.timezone);
        assert.equal(rendered.find((item) => item.stack === "aliyun")?.document.timezone, "Asia/Shanghai");
    });

    test("the sysctl set: seed 000's values that still apply, IPv6 left on", () => {
        const expected = [
            "net.ipv4.tcp_keepalive_time = 800",
            "net.ipv4.tcp_keepalive_intvl = 30",
            "net.ipv4.tcp_keepalive_probes = 10",
            "net.ipv4.neigh.default.gc_stale_time = 120",
            "net.ipv4.conf.default.arp_announce = 2",
            "net.ipv4.conf.lo.arp_announce = 2",
            "net.ipv4.conf.all.arp_announce = 2",
            "net.ipv4.ip_forward = 1",
            "net.ipv4.tcp_syncookies = 1",
            "net.ipv4.tcp_synack_retries = 2",
            "net.bridge.bridge-nf-call-ip6tables = 1",
            "net.bridge.bridge-nf-call-iptables = 1",
            "fs.inotify.max_user_watches = 89100",
            "fs.file-max = 52706963",
            "fs.nr_open = 52706963",
            "net.bridge.bridge-nf-call-arptables = 1",
            "vm.swappiness = 0",
            "vm.max_map_count = 262144",
        ];
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            const settings = file(item, "/etc/sysctl.d/90-kubeha.conf")
                .content.split("\n")
                .filter((line) => line && !line.startsWith("#"));
            assert.deepEqual(settings, expected, item.host.name);
        }
        assert.ok(!file(rendered[1], "/etc/sysctl.d/90-kubeha.conf").content.includes("disable_ipv6"));
    });

    test("kernel modules: br_netfilter and overlay; IPVS modules only in ipvs mode", () => {
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            const modules = file(item, "/etc/modules-load.d/kubeha.conf")
                .content.split("\n")
                .filter((line) => line && !line.startsWith("#"));
            const ipvs = item.config.kubeProxyMode === "ipvs";
            assert.deepEqual(modules.slice(0, 2), ["overlay", "br_netfilter"]);
            assert.equal(modules.includes("ip_vs"), ipvs, item.stack);
            assert.equal(modules.includes("ip_vs_lc"), ipvs, item.stack);
        }
    });

    test("stages: swap off, disks, packages and the API proxy where they belong, in order", () => {
        const expected: Record<string, string> = {
            master: "disks kernel swap sshd repositories packages containerd api-proxy images",
            worker: "disks kernel swap sshd repositories packages containerd api-proxy images",
            etcd: "disks kernel swap sshd",
        };
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            assert.equal(bootEnvironment(item).KUBEHA_STAGES, expected[item.host.role], item.host.name);
        }
        const bastion = rendered.find((item) => item.host.role === "bastion");
        assert.equal(bastion?.document.runcmd, undefined);
        assert.equal(bastion?.document.package_upgrade, true);
        assert.deepEqual(
            bastion?.document.write_files.map((entry) => entry.path),
            ["/etc/hosts"],
        );
    });

    test("data disks: containerd on every Kubernetes node, etcd on every member, at distinct sizes", () => {
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            const disks = bootEnvironment(item).KUBEHA_DATA_DISKS.split(" ");
            const group = item.host.role === "worker" ? item.config.workers : item.config.masters;
            const expected = [
                ...(item.host.etcdMember ? [`etcd:${item.config.etcd.diskSizeGb}:${etcdDiskMountPoint}`] : []),
                ...(item.host.role === "etcd" ? [] : [`containerd:${group.containerdDiskSizeGb}:/var/lib/containerd`]),
            ];
            assert.deepEqual(disks, expected, item.host.name);
            const sizes = disks.map((disk) => disk.split(":")[1]);
            assert.equal(new Set(sizes).size, sizes.length, `${item.host.name}: disks told apart by size`);
        }
        for (const item of kubernetesNodes()) {
            assert.match(
                file(item, "/etc/systemd/system/containerd.service.d/10-kubeha-disk.conf").content,
                /^RequiresMountsFor=\/var\/lib\/containerd$/m,
            );
        }
    });

    test("containerd 2.x: config version 3, systemd cgroups, the mirror's pause image, certs.d", () => {
        for (const item of kubernetesNodes()) {
            const lines = file(item, "/etc/containerd/config.toml").content.split("\n");
            const repository = item.config.mirrors.kubernetesImages;
            const section = (name: string) => lines.indexOf(`[plugins.'io.containerd.cri.v1.${name}]`);
            assert.equal(
                lines.find((line) => line.startsWith("version")),
                "version = 3",
            );
            const options = section("runtime'.containerd.runtimes.runc.options");
            assert.ok(options > 0);
            assert.equal(lines[options + 1], "  SystemdCgroup = true");
            const runc = section("runtime'.containerd.runtimes.runc");
            assert.equal(lines[runc + 1], "  runtime_type = 'io.containerd.runc.v2'");
            const pinned = section("images'.pinned_images");
            assert.match(lines[pinned + 1], new RegExp(`^  sandbox = '${repository}/pause:[0-9.]+'$`));
            assert.equal(lines[section("images'.registry") + 1], "  config_path = '/etc/containerd/certs.d'");
            assert.match(
                file(item, "/etc/crictl.yaml").content,
                /^runtime-endpoint: unix:\/\/\/run\/containerd\/containerd.sock$/m,
            );
        }
        const aliyun = kubernetesNodes().find((item) => item.stack === "aliyun");
        assert.match(
            file(aliyun!, "/etc/containerd/config.toml").content,
            /registry\.aliyuncs\.com\/google_containers\/pause:/,
        );
    });

    test("apt: per-minor Kubernetes repository, Docker's for containerd.io 2.x, pinned and held", () => {
        for (const item of kubernetesNodes()) {
            const { kubernetesApt, containerdApt } = item.config.mirrors;
            const version = item.config.kubernetesVersion;
            const minor = version.split(".").slice(0, 2).join(".");
            assert.equal(
                file(item, "/etc/apt/sources.list.d/kubernetes.list").content,
                `deb [signed-by=/etc/apt/keyrings/kubernetes.asc] ${kubernetesApt}/v${minor}/deb/ /\n`,
            );
            assert.equal(
                file(item, "/etc/apt/sources.list.d/docker.list").content,
                `deb [signed-by=/etc/apt/keyrings/docker.asc] ${containerdApt} noble stable\n`,
            );
            const pins = file(item, "/etc/apt/preferences.d/kubeha.pref").content;
            const exact = /^\d+\.\d+\.\d+$/.test(version);
            assert.match(
                pins,
                new RegExp(
                    `Package: kubeadm kubelet kubectl\nPin: version ${exact ? `${version}-\\*` : `${minor}\\.\\*`}\nPin-Priority: 1001`,
                ),
            );
            assert.match(pins, /Package: containerd\.io\nPin: version 2\.\*\nPin-Priority: 1001/);
            const environment = bootEnvironment(item);
            assert.deepEqual(environment.KUBEHA_HELD_PACKAGES.split(" "), [
                "containerd.io",
                "kubelet",
                "kubeadm",
                "kubectl",
            ]);
            const packages = environment.KUBEHA_PACKAGES.split(" ");
            for (const name of ["containerd.io", "kubelet", "kubeadm", "kubectl", "nginx", "libnginx-mod-stream"]) {
                assert.ok(packages.includes(name), `${item.host.name} installs ${name}`);
            }
            assert.equal(packages.includes("ipvsadm"), item.config.kubeProxyMode === "ipvs");
            assert.deepEqual(environment.KUBEHA_APT_KEYS.split(" "), [
                `/etc/apt/keyrings/kubernetes.asc=${kubernetesApt}/v${minor}/deb/Release.key`,
                `/etc/apt/keyrings/docker.asc=${containerdApt}/gpg`,
            ]);
            assert.equal(environment.KUBEHA_KUBERNETES_VERSION, exact ? `v${version}` : `stable-${minor}`);
            assert.equal(environment.KUBEHA_IMAGE_REPOSITORY, item.config.mirrors.kubernetesImages);
        }
        const aliyun = kubernetesNodes().find((item) => item.stack === "aliyun")!;
        assert.deepEqual(aliyun.document.apt, {
            primary: [{ arches: ["default"], uri: "https://mirrors.aliyun.com/ubuntu" }],
            security: [{ arches: ["default"], uri: "https://mirrors.aliyun.com/ubuntu" }],
        });
        assert.equal(kubernetesNodes().find((item) => item.stack === "aws")!.document.apt, undefined);
    });

    test("image pre-pull: control-plane images on masters only, never etcd's (it is external)", () => {
        for (const item of kubernetesNodes()) {
            const images = bootEnvironment(item).KUBEHA_PREPULL_IMAGES.split(" ");
            assert.equal(images.includes("kube-apiserver"), item.host.role === "master");
            assert.ok(images.includes("kube-proxy") && images.includes("coredns"));
            assert.ok(!images.includes("etcd"));
        }
    });

    test("the local API proxy: its files, started before the kubelet", () => {
        for (const item of kubernetesNodes()) {
            file(item, apiProxyConfigPath);
            assert.match(file(item, apiProxyUnitPath).content, /^Before=kubelet\.service$/m);
            const dropIn = file(item, "/etc/systemd/system/kubelet.service.d/10-kubeha-api-proxy.conf").content;
            assert.match(dropIn, new RegExp(`^Wants=${apiProxyUnitName}$`, "m"));
            assert.match(dropIn, new RegExp(`^After=${apiProxyUnitName}$`, "m"));
            const stages = bootEnvironment(item).KUBEHA_STAGES.split(" ");
            assert.ok(stages.indexOf("api-proxy") > stages.indexOf("packages"));
            assert.equal(bootEnvironment(item).KUBEHA_API_PROXY_UNIT, apiProxyUnitName);
        }
    });

    test("the boot script on the host is the repository's, minus comments, tab-indented and shellcheck-clean", () => {
        const source = fs.readFileSync(path.join(projectDir, "scripts", "host-boot.sh"), "utf8");
        const shipped = file(rendered[1], hostBoot.script);
        assert.equal(shipped.permissions, "0755");
        assert.equal(shipped.content, bootScript());
        const code = (text: string) => text.split("\n").filter((line) => !/^\s*(#.*)?$/.test(line));
        const sourceCode = code(source);
        const shippedCode = code(shipped.content);
        assert.equal(shippedCode.length, sourceCode.length);
        sourceCode.forEach((line, index) => {
            const indent = /^ */.exec(line)![0].length;
            // Only the parameter list carries comments after the code.
            const statement = line.trimStart().replace(/^(: "\$\{KUBEHA_\w+:[=?][^"]*\}")\s+#.*$/, "$1");
            assert.equal(shippedCode[index], "\t".repeat(Math.floor(indent / 4)) + " ".repeat(indent % 4) + statement);
        });
        // shellcheck reads the shipped bytes as a real file, as it reads every script under scripts/.
        const target = path.join(workDir, "host-boot.sh");
        fs.writeFileSync(target, shipped.content);
        for (const script of [target, path.join(projectDir, "scripts", "host-boot.sh")]) {
            const run = spawnSync("shellcheck", ["--shell=bash", script], { encoding: "utf8" });
            assert.equal(run.status, 0, run.stdout);
        }
        assert.match(source, /^set -Eeuo pipefail$/m);
    });

    test("the boot script stops at an unusable stage and says where (run with a stage that fails)", () => {
        // Only the stage bookkeeping runs here: a stage name the script does not know fails like a broken stage.
        const stateDir = fs.mkdtempSync(path.join(workDir, "state-"));
        const script = bootScript().replace("readonly state_dir=/var/lib/kubeha", `readonly state_dir=${stateDir}`);
        assert.ok(script.includes(stateDir));
        const target = path.join(workDir, "boot-under-test.sh");
        fs.writeFileSync(target, script, { mode: 0o755 });
        const run = spawnSync("bash", [target], {
            encoding: "utf8",
            env: { PATH: process.env.PATH, KUBEHA_STAGES: "no-such-stage" },
        });
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /kubeha: stage 1\/1 no-such-stage/);
        assert.match(run.stderr, /FAILED in stage 'no-such-stage'/);
        assert.equal(fs.readFileSync(path.join(stateDir, "boot.failed"), "utf8"), "no-such-stage\n");
        assert.ok(!fs.existsSync(path.join(stateDir, "boot.done")));
    });

    test("sshd accepts the KUBEHA_* drop-in (checked by the real sshd)", () => {
        const dropIn = file(kubernetesNodes()[0], "/etc/ssh/sshd_config.d/60-kubeha.conf");
        const dir = fs.mkdtempSync(path.join(workDir, "sshd-"));
        fs.writeFileSync(path.join(dir, "60-kubeha.conf"), dropIn.content);
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
        fs.writeFileSync(
            path.join(dir, "sshd_config"),
            `Include ${path.join(dir, "60-kubeha.conf")}\nHostKey ${path.join(dir, "host_key")}\n`,
        );
        const sshd = fs.existsSync("/usr/sbin/sshd") ? "/usr/sbin/sshd" : "sshd";
        // sshd refuses to check a configuration without its privilege-separation directory (systemd makes it at boot).
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        const effective = execFileSync(sshd, ["-T", "-f", path.join(dir, "sshd_config")], { encoding: "utf8" });
        assert.match(effective, /^acceptenv KUBEHA_\*$/m);
    });
});
