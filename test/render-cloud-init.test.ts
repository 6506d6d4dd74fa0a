// The user-data of every role on both clouds: valid for the real `cloud-init schema`, free of secrets,
// with the kernel settings, disks, packages and containerd settings the issue asks for. The embedded boot
// script is checked by the real shellcheck, and its sshd drop-in by the real sshd. Its etcd stage runs for
// real against release tarballs served by python3's http.server on 127.0.0.1.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { etcdReleaseSha256, etcdVersion, kubernetesPatches, type KubernetesMinor } from "../config/versions";
import { apiProxyConfigPath, apiProxyUnitName, apiProxyUnitPath } from "../render/api-proxy";
import {
    bastionSshdConfig,
    bootScript,
    containerdConfig,
    hostBoot,
    maxUserDataBytes,
    packUserData,
    podFirewall,
    sandboxImage,
    unpackUserData,
    userDataFor,
} from "../render/cloud-init";
import { etcdDiskMountPoint, renderEtcdUnit } from "../render/etcd";
import { configFor, layoutOf, testHostKey } from "./support/config";
import { freePort, HttpsMirror, sleep } from "./support/https-mirror";

const projectDir = path.resolve(__dirname, "..");
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-cloud-init-"));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

const stacks = {
    // Minimal stacks like Pulumi.dev.yaml and Pulumi.aws-dev.yaml, plus the other shapes the render serves.
    aliyun: configFor({ cloud: "aliyun", timezone: "Asia/Shanghai" }, { aliyun: "cn-hangzhou" }),
    aws: configFor({ cloud: "aws" }, { aws: "eu-central-1" }),
    "aws-dedicated-etcd-ipvs": configFor(
        { cloud: "aws", etcd: '{"dedicated": true}', kubeProxyMode: "ipvs", kubernetesVersion: "1.36.2" },
        { aws: "eu-central-1" },
    ),
    "aliyun-etcd-mirror": configFor(
        { cloud: "aliyun", mirrors: '{"etcdReleases": "https://mirror.example.com/etcd/"}' },
        { aliyun: "cn-hangzhou" },
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
        const text = userDataFor(config, layout, host, testHostKey());
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

    test("fits AWS's 16 KiB limit with 7 masters, with 7 dedicated etcd hosts or etcd on the masters", () => {
        // Dedicated etcd hosts make /etc/hosts longest; etcd on the masters gives them every stage.
        for (const etcd of ['{"dedicated": true, "count": 7}', '{"dedicated": false}']) {
            const largest = configFor(
                { cloud: "aws", masters: '{"count": 7}', etcd, kubeProxyMode: "ipvs", kubernetesVersion: "1.36.2" },
                { aws: "us-east-1" },
            );
            const layout = layoutOf(largest);
            for (const host of layout) {
                const packed = packUserData(host.name, userDataFor(largest, layout, host, testHostKey()));
                assert.ok(Buffer.from(packed, "base64").length <= maxUserDataBytes / 2, `${host.name}: half the limit`);
                assert.equal(
                    unpackUserData(packed),
                    userDataFor(largest, layout, host, testHostKey()),
                    "cloud-init reads it back",
                );
            }
        }
    });

    test("holds no secret but the host's SSH host key: no other key, certificate, token or credential", () => {
        for (const item of rendered) {
            const withoutHostKey = item.text.replace(testHostKey().privateKey.trim().replace(/\n/g, "\n    "), "");
            assert.doesNotMatch(withoutHostKey, /-----BEGIN/, item.host.name);
            assert.doesNotMatch(item.text, /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/, `${item.host.name}: bootstrap token`);
            assert.doesNotMatch(item.text, /(client-key|token|password|secret)\s*[:=]/i, item.host.name);
            assert.doesNotMatch(item.text, /EncryptionConfiguration|secretbox/, item.host.name);
        }
    });

    test("SSH: the program's host key is the only one the host's sshd offers", () => {
        for (const item of rendered) {
            const { document } = item;
            assert.deepEqual(document.ssh_keys, {
                ed25519_private: testHostKey().privateKey,
                ed25519_public: testHostKey().publicKey,
            });
            assert.equal(document.ssh_deletekeys, true, "the image's keys are removed");
            const dropIn = item.document.write_files.find((entry) => entry.path.startsWith("/etc/ssh/sshd_config.d/"));
            assert.match(dropIn?.content ?? "", /^HostKey \/etc\/ssh\/ssh_host_ed25519_key$/m, item.host.name);
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

    test("stages: swap off, disks, etcd on its members, packages and the API proxy where they belong, in order", () => {
        // Keyed by role, and "+etcd" for hosts that run an etcd member.
        const expected: Record<string, string> = {
            "master+etcd": "disks kernel swap sshd etcd repositories packages pod-firewall containerd api-proxy images",
            master: "disks kernel swap sshd repositories packages pod-firewall containerd api-proxy images",
            worker: "disks kernel swap sshd repositories packages pod-firewall containerd api-proxy images",
            "etcd+etcd": "disks kernel swap sshd etcd",
        };
        const shapes = new Set<string>();
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            const shape = `${item.host.role}${item.host.etcdMember ? "+etcd" : ""}`;
            shapes.add(shape);
            assert.equal(bootEnvironment(item).KUBEHA_STAGES, expected[shape], `${item.stack}/${item.host.name}`);
        }
        assert.deepEqual([...shapes].sort(), Object.keys(expected).sort());
        const bastion = rendered.find((item) => item.host.role === "bastion");
        assert.equal(bastion?.document.runcmd, undefined);
        assert.equal(bastion?.document.package_upgrade, true);
        assert.deepEqual(
            bastion?.document.write_files.map((entry) => entry.path),
            ["/etc/hosts", "/etc/ssh/sshd_config.d/kubeha-bastion.conf"],
        );
        // Every remote step's SSH hop passes the bastion: as many handshakes at once as the README's largest
        // --parallel (256), and no more (the seed-era 500:30:1000 let 1,000 unauthenticated handshakes run).
        const sshd = bastion?.document.write_files.find((entry) => entry.path.includes("sshd_config.d"));
        assert.match(String(sshd?.content), /^MaxStartups 64:30:256$/m);
        assert.match(String(sshd?.content), /^LoginGraceTime 30$/m);
        assert.match(String(sshd?.content), /^HostKey \/etc\/ssh\/ssh_host_ed25519_key$/m);
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
            assert.match(lines[pinned + 1], new RegExp(`^  sandbox = "${repository}/pause:[0-9.]+"$`));
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

    test("containerd's config is TOML whose sandbox is the value, whatever the value holds (python3's tomllib)", () => {
        const base = stacks.aws;
        // Past validation no repository holds these; the escaping must hold on its own all the same.
        for (const repository of [
            base.mirrors.kubernetesImages,
            `reg.example/x'\n[plugins.evil]\nx = "y" # \\ \u0007`,
        ]) {
            const config = { ...base, mirrors: { ...base.mirrors, kubernetesImages: repository } };
            const parsed = JSON.parse(
                execFileSync(
                    "python3",
                    ["-c", "import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))"],
                    { input: containerdConfig(config), encoding: "utf8" },
                ),
            ) as { plugins: Record<string, Record<string, unknown>> };
            assert.deepEqual(Object.keys(parsed.plugins).sort(), [
                "io.containerd.cri.v1.images",
                "io.containerd.cri.v1.runtime",
            ]);
            assert.deepEqual(parsed.plugins["io.containerd.cri.v1.images"].pinned_images, {
                sandbox: sandboxImage(config),
            });
        }
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
            // A minor means the patch config/versions.ts pins for it, never "the newest there is".
            const exact = /^\d+\.\d+\.\d+$/.test(version) ? version : kubernetesPatches[minor as KubernetesMinor];
            assert.match(exact, /^1\.3\d\.\d+$/);
            assert.ok(
                pins.includes(`Package: kubeadm kubelet kubectl\nPin: version ${exact}-*\nPin-Priority: 1001`),
                pins,
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
            for (const name of [
                "containerd.io",
                "kubelet",
                "kubeadm",
                "kubectl",
                "cri-tools",
                "nginx",
                "libnginx-mod-stream",
            ]) {
                assert.ok(packages.includes(name), `${item.host.name} installs ${name}`);
            }
            assert.equal(packages.includes("ipvsadm"), item.config.kubeProxyMode === "ipvs");
            // The publishers' keys on every preset: the mirrors copy the signed repositories unchanged.
            assert.deepEqual(environment.KUBEHA_APT_KEYS.split("\n"), [
                `/etc/apt/keyrings/kubernetes.asc DE15B14486CD377B9E876E1A234654DA9A296436 ${kubernetesApt}/v${minor}/deb/Release.key`,
                `/etc/apt/keyrings/docker.asc 9DC858229FC7DD38854AE2D88D81803C0EBFCD88 ${containerdApt}/gpg`,
            ]);
            assert.equal(environment.KUBEHA_KUBERNETES_VERSION, `v${exact}`);
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

    test("a private mirror's signing keys and sandbox image reach every node; the Ubuntu archive can stay the image's", () => {
        const digest = `sha256:${"5".repeat(64)}`;
        const config = configFor(
            {
                cloud: "aliyun",
                mirrors: {
                    ubuntuApt: "image",
                    kubernetesApt: "https://mirror.kubeha.lab/kubernetes",
                    kubernetesAptKey: "0123456789abcdef0123456789abcdef01234567",
                    containerdApt: "https://mirror.kubeha.lab/docker",
                    containerdAptKey: "89ABCDEF0123456789ABCDEF0123456789ABCDEF",
                    kubernetesImages: "registry.kubeha.lab:5000/k8s",
                    images: { pause: { tag: "3.10.1-lab", digest }, coredns: { tag: "v1.14.2" } },
                },
            },
            { aliyun: "cn-hangzhou" },
        );
        const layout = layoutOf(config);
        const sandbox = `registry.kubeha.lab:5000/k8s/pause:3.10.1-lab@${digest}`;
        assert.equal(sandboxImage(config), sandbox);
        for (const host of layout.filter((each) => each.role === "master" || each.role === "worker")) {
            const text = userDataFor(config, layout, host, testHostKey());
            const item = { stack: "private-mirror", config, layout, host, text, document: parseYaml(text) };
            assert.equal(item.document.apt, undefined, "the image's own Ubuntu sources");
            const environment = bootEnvironment(item);
            assert.deepEqual(environment.KUBEHA_APT_KEYS.split("\n"), [
                "/etc/apt/keyrings/kubernetes.asc 0123456789ABCDEF0123456789ABCDEF01234567 " +
                    "https://mirror.kubeha.lab/kubernetes/v1.36/deb/Release.key",
                "/etc/apt/keyrings/docker.asc 89ABCDEF0123456789ABCDEF0123456789ABCDEF https://mirror.kubeha.lab/docker/gpg",
            ]);
            assert.equal(environment.KUBEHA_SANDBOX_IMAGE, sandbox);
            assert.match(
                file(item, "/etc/containerd/config.toml").content,
                new RegExp(`^  sandbox = "${sandbox.replace(/[.]/g, "\\.")}"$`, "m"),
            );
            // kubeadm's list names its own CoreDNS, not the override: the kubelet pulls the override.
            assert.ok(!environment.KUBEHA_PREPULL_IMAGES.split(" ").includes("coredns"));
            assert.ok(environment.KUBEHA_PREPULL_IMAGES.split(" ").includes("kube-proxy"));
        }
    });

    test("etcd release: from the preset's mirror or the override, where the etcd unit runs it; members only", () => {
        const releaseBases: Record<string, string> = {
            aliyun: "https://mirrors.huaweicloud.com/etcd",
            aws: "https://github.com/etcd-io/etcd/releases/download",
            "aws-dedicated-etcd-ipvs": "https://github.com/etcd-io/etcd/releases/download",
            // The override's trailing slash does not double.
            "aliyun-etcd-mirror": "https://mirror.example.com/etcd",
        };
        const tarball = `etcd-v${etcdVersion}-linux-amd64.tar.gz`;
        const execStart = /^ExecStart=(\S+) /m.exec(renderEtcdUnit().content)?.[1];
        for (const item of rendered.filter((each) => each.host.role !== "bastion")) {
            const environment = bootEnvironment(item);
            const name = `${item.stack}/${item.host.name}`;
            if (!item.host.etcdMember) {
                assert.deepEqual(
                    Object.keys(environment).filter((key) => key.startsWith("KUBEHA_ETCD_")),
                    [],
                    name,
                );
                continue;
            }
            assert.equal(
                environment.KUBEHA_ETCD_RELEASE,
                `${releaseBases[item.stack]}/v${etcdVersion}/${tarball}`,
                name,
            );
            assert.equal(environment.KUBEHA_ETCD_VERSION, etcdVersion);
            assert.equal(`${environment.KUBEHA_ETCD_BIN_DIR}/etcd`, execStart);
            // Passed only once a digest is pinned in config/versions.ts.
            assert.equal(environment.KUBEHA_ETCD_SHA256, etcdReleaseSha256);
        }
    });

    test("the local API proxy: its files, started before the kubelet", () => {
        for (const item of kubernetesNodes()) {
            file(item, apiProxyConfigPath);
            assert.match(file(item, apiProxyUnitPath).content, /^Before=kubelet\.service$/m);
            const dropIn = file(item, "/etc/systemd/system/kubelet.service.d/10-kubeha-api-proxy.conf").content;
            assert.match(dropIn, new RegExp(`^Wants=${apiProxyUnitName}$`, "m"));
            assert.match(dropIn, new RegExp(`^After=${apiProxyUnitName}$`, "m"));
            // kubeadm >= 1.35 points a master's kubelet at its own apiserver (ControlPlaneKubeletLocalMode):
            // neither file may tell an operator that every kubelet depends on the proxy.
            for (const comment of [dropIn, file(item, apiProxyUnitPath).content]) {
                assert.doesNotMatch(comment, /^# The kubelet reaches the API (only )?through/m);
                assert.match(comment, /^# .*\bworker/im, "says whose kubelet uses the proxy");
                assert.match(comment, /\bmasters?\b/, "says what masters do");
            }
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
        assert.ok(!fs.existsSync(path.join(stateDir, "stages.done")), "no stage finished");
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
        // The bastion's drop-in too: the handshake bound as sshd reads it.
        fs.writeFileSync(path.join(dir, "60-kubeha.conf"), bastionSshdConfig());
        const bastion = execFileSync(sshd, ["-T", "-f", path.join(dir, "sshd_config")], { encoding: "utf8" });
        assert.match(bastion, /^maxstartups 64:30:256$/m);
        assert.match(bastion, /^logingracetime 30$/m);
    });

    test("pods cannot reach the metadata service: the node's nftables rule (checked by the real nft)", () => {
        for (const item of kubernetesNodes()) {
            const rules = file(item, podFirewall.rules).content;
            const address = item.config.cloud === "aws" ? "169.254.169.254" : "100.100.100.200";
            assert.ok(
                rules.includes(`ip saddr ${item.config.network.podCidr} ip daddr ${address} counter drop`),
                `${item.host.name}: ${rules}`,
            );
            const unit = file(item, `/etc/systemd/system/${podFirewall.unit}`).content;
            assert.match(unit, /^RequiredBy=kubelet\.service$/m, "no kubelet without the rule");
            assert.match(bootEnvironment(item).KUBEHA_STAGES, /packages pod-firewall containerd/);
            assert.match(bootEnvironment(item).KUBEHA_PACKAGES, /\bnftables\b/);
        }
        const nft = ["/usr/sbin/nft", "/sbin/nft"].find((candidate) => fs.existsSync(candidate));
        if (!nft) return assert.fail("nft is not installed (Debian package nftables)");
        const rules = path.join(workDir, "pod-firewall.nft");
        fs.writeFileSync(rules, file(kubernetesNodes()[0], podFirewall.rules).content);
        // Loaded twice into a network namespace of its own: the file replaces its table on every start.
        const load = `${nft} -f ${rules} && ${nft} -f ${rules} && ${nft} list ruleset`;
        const listed = execFileSync("unshare", ["--net", "sh", "-c", load], { encoding: "utf8" });
        assert.equal(listed.match(/table inet kubeha_pod_firewall/g)?.length, 1, listed);
    });
});

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("the boot script's etcd stage, run as shipped against a local release mirror", () => {
    const dir = fs.mkdtempSync(path.join(workDir, "etcd-stage-"));
    const stateDir = path.join(dir, "state");
    const tmpDir = path.join(dir, "tmp");
    const script = path.join(dir, "host-boot.sh");
    const tarball = `etcd-v${etcdVersion}-linux-amd64.tar.gz`;
    let mirror: HttpsMirror;
    let late: HttpsMirror | undefined;

    /** etcd, etcdctl and etcdutl stand-ins in a release tarball, as the etcd project lays it out. */
    function buildTarball(target: string, reportedVersion: string): void {
        const top = path.join(dir, "build", tarball.replace(/\.tar\.gz$/, ""));
        fs.rmSync(path.dirname(top), { recursive: true, force: true });
        fs.mkdirSync(top, { recursive: true });
        for (const [name, line] of [
            ["etcd", `etcd Version: ${reportedVersion}`],
            ["etcdctl", `etcdctl version: ${reportedVersion}`],
            ["etcdutl", `etcdutl version: ${reportedVersion}`],
        ]) {
            fs.writeFileSync(path.join(top, name), `#!/bin/sh\necho "${line}"\necho "Git SHA: stand-in"\n`, {
                mode: 0o755,
            });
        }
        fs.writeFileSync(path.join(top, "README.md"), "stand-in release\n");
        fs.mkdirSync(path.dirname(target), { recursive: true });
        execFileSync("tar", ["-czf", target, "-C", path.dirname(top), path.basename(top)]);
    }

    /** <mirror>/v<version>/ with the tarball and, unless null, SHA256SUMS with these lines. */
    function publish(name: string, reportedVersion: string, sums: ((digest: string) => string[]) | null): string {
        const release = path.join(dir, "mirror", name, `v${etcdVersion}`);
        buildTarball(path.join(release, tarball), reportedVersion);
        const digest = sha256(path.join(release, tarball));
        if (sums) fs.writeFileSync(path.join(release, "SHA256SUMS"), sums(digest).join("\n") + "\n");
        return digest;
    }

    const otherDigest = createHash("sha256").update("another file").digest("hex");
    let goodDigest = "";

    before(async () => {
        fs.mkdirSync(stateDir);
        fs.mkdirSync(tmpDir);
        const shipped = bootScript().replace("readonly state_dir=/var/lib/kubeha", `readonly state_dir=${stateDir}`);
        assert.ok(shipped.includes(stateDir));
        fs.writeFileSync(script, shipped, { mode: 0o755 });
        // SHA256SUMS as the release has it: every asset, two spaces between digest and name.
        goodDigest = publish("good", etcdVersion, (digest) => [
            `${otherDigest}  etcd-v${etcdVersion}-darwin-arm64.zip`,
            `${digest}  ${tarball}`,
        ]);
        publish("corrupted", etcdVersion, () => [`${goodDigest}  ${tarball}`]);
        fs.appendFileSync(path.join(dir, "mirror", "corrupted", `v${etcdVersion}`, tarball), "garbage");
        // etcd v3.5.18 shipped a SHA256SUMS that listed one asset only (etcd-io/etcd#19268).
        publish("unlisted", etcdVersion, () => [`${otherDigest}  etcd-v${etcdVersion}-darwin-amd64.zip`]);
        publish("no-sums", etcdVersion, null);
        publish("mislabelled", "3.6.1", (digest) => [`${digest}  ${tarball}`]);
        mirror = new HttpsMirror(path.join(dir, "mirror"), await freePort());
        await mirror.start();
    });

    after(() => {
        mirror?.stop();
        late?.stop();
    });

    interface BootRun {
        status: number | null;
        stderr: string;
        seconds: number;
        binDir: string;
    }

    /**
     * The etcd stage with the KUBEHA_ETCD_* variables the user-data of an etcd member carries for a stack whose
     * mirror is `mirrorUrl`, installing into `binDir` instead of /usr/local/bin.
     */
    function runEtcdStage(mirrorUrl: string, binDir: string, extra: Record<string, string> = {}): Promise<BootRun> {
        // Mirrors must be https; the local one is plain http, put in place of the configured one after rendering.
        const configured = "https://etcd-mirror.example";
        const config = configFor(
            { cloud: "aws", etcd: '{"dedicated": true}', mirrors: JSON.stringify({ etcdReleases: configured }) },
            { aws: "eu-central-1" },
        );
        const layout = layoutOf(config);
        const member = layout.find((host) => host.role === "etcd")!;
        const text = userDataFor(config, layout, member, testHostKey());
        const environment = bootEnvironment({
            stack: "local",
            config,
            layout,
            host: member,
            text,
            document: parseYaml(text),
        });
        const variables = Object.fromEntries(
            Object.entries(environment)
                .filter(([key]) => key.startsWith("KUBEHA_ETCD_"))
                .map(([key, value]) => [key, value.replace(configured, mirrorUrl)]),
        );
        assert.ok(variables.KUBEHA_ETCD_RELEASE.startsWith(`${mirrorUrl}/`));
        fs.mkdirSync(binDir, { recursive: true });
        const env = {
            PATH: process.env.PATH,
            TMPDIR: tmpDir,
            // The local mirror's self-signed certificate (hosts download over https only).
            CURL_CA_BUNDLE: mirror.certificate,
            ...variables,
            KUBEHA_STAGES: "etcd",
            KUBEHA_ETCD_BIN_DIR: binDir,
            ...extra,
        };
        return new Promise((resolve) => {
            const started = Date.now();
            const child = spawn("bash", [script], { env, stdio: ["ignore", "ignore", "pipe"], detached: true });
            let stderr = "";
            child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            // A broken stage could retry for minutes: stop it and whatever it started.
            const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stderr, seconds: (Date.now() - started) / 1000, binDir });
            });
        });
    }

    const installed = (binDir: string) => fs.readdirSync(binDir).sort();
    const failedStage = () => fs.readFileSync(path.join(stateDir, "boot.failed"), "utf8");

    test("installs etcd, etcdctl and etcdutl 0755 after checking SHA256SUMS; a second run downloads nothing", async () => {
        const binDir = path.join(dir, "bin-good");
        const first = await runEtcdStage(mirror.url("good"), binDir);
        assert.equal(first.status, 0, first.stderr);
        assert.deepEqual(installed(binDir), ["etcd", "etcdctl", "etcdutl"]);
        for (const name of installed(binDir)) {
            assert.equal(fs.statSync(path.join(binDir, name)).mode & 0o777, 0o755, name);
        }
        assert.match(execFileSync(path.join(binDir, "etcd"), ["--version"], { encoding: "utf8" }), /etcd Version:/);
        assert.ok(fs.existsSync(path.join(stateDir, "boot.done")));
        assert.equal(fs.readFileSync(path.join(stateDir, "stages.done"), "utf8"), "etcd\n", "the finished stage");
        const release = `/good/v${etcdVersion}`;
        assert.deepEqual(await mirror.settledRequests(), [`${release}/${tarball}`, `${release}/SHA256SUMS`]);
        assert.deepEqual(fs.readdirSync(tmpDir), [], "the download directory is removed");

        const installedAt = fs.statSync(path.join(binDir, "etcd")).mtimeMs;
        const second = await runEtcdStage(mirror.url("good"), binDir);
        assert.equal(second.status, 0, second.stderr);
        assert.match(second.stderr, new RegExp(`etcd ${etcdVersion.replace(/\./g, "\\.")} is installed already`));
        assert.equal((await mirror.settledRequests()).length, 2, "nothing downloaded the second time");
        assert.equal(fs.statSync(path.join(binDir, "etcd")).mtimeMs, installedAt);
    });

    test("replaces an etcd of another version (3.6.1 is not 3.6.16)", async () => {
        const binDir = path.join(dir, "bin-upgrade");
        fs.mkdirSync(binDir);
        fs.writeFileSync(path.join(binDir, "etcd"), `#!/bin/sh\necho "etcd Version: ${etcdVersion.slice(0, -1)}"\n`, {
            mode: 0o755,
        });
        const run = await runEtcdStage(mirror.url("good"), binDir);
        assert.equal(run.status, 0, run.stderr);
        const reported = execFileSync(path.join(binDir, "etcd"), ["--version"], { encoding: "utf8" });
        assert.equal(reported.split("\n")[0], `etcd Version: ${etcdVersion}`);
    });

    test("refuses a corrupted download: the tarball does not match SHA256SUMS", async () => {
        const run = await runEtcdStage(mirror.url("corrupted"), path.join(dir, "bin-corrupted"));
        assert.notEqual(run.status, 0);
        assert.match(
            run.stderr,
            new RegExp(`${tarball.replace(/\./g, "\\.")} does not have SHA-256 ${goodDigest}; kept in`),
        );
        assert.match(run.stderr, /FAILED in stage 'etcd'/);
        assert.equal(failedStage(), "etcd\n");
        assert.deepEqual(installed(run.binDir), []);
    });

    test("refuses a release that SHA256SUMS does not list", async () => {
        const run = await runEtcdStage(mirror.url("unlisted"), path.join(dir, "bin-unlisted"));
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /does not have SHA-256 \(none listed in SHA256SUMS\)/);
        assert.deepEqual(installed(run.binDir), []);
    });

    test("a pinned digest is checked instead of SHA256SUMS: the mirror needs none, and cannot vouch for itself", async () => {
        const pinned = await runEtcdStage(mirror.url("no-sums"), path.join(dir, "bin-pinned"), {
            KUBEHA_ETCD_SHA256: sha256(path.join(dir, "mirror", "no-sums", `v${etcdVersion}`, tarball)),
        });
        assert.equal(pinned.status, 0, pinned.stderr);
        assert.deepEqual(installed(pinned.binDir), ["etcd", "etcdctl", "etcdutl"]);
        assert.ok(
            !(await mirror.settledRequests()).some(
                (request) => request.startsWith("/no-sums/") && request.endsWith("SHA256SUMS"),
            ),
        );

        // The good mirror's SHA256SUMS matches its tarball, but not the pin.
        const mismatch = await runEtcdStage(mirror.url("good"), path.join(dir, "bin-pin-mismatch"), {
            KUBEHA_ETCD_SHA256: otherDigest,
        });
        assert.notEqual(mismatch.status, 0);
        assert.match(mismatch.stderr, new RegExp(`does not have SHA-256 ${otherDigest}`));
        assert.deepEqual(installed(mismatch.binDir), []);
    });

    test("refuses binaries that report another version than the one asked for", async () => {
        const run = await runEtcdStage(mirror.url("mislabelled"), path.join(dir, "bin-mislabelled"));
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /does not report/);
        assert.equal(failedStage(), "etcd\n");
    });

    test("waits for the network: retries with back-off until the mirror answers", async () => {
        // The NAT gateway may come up after the host: nothing listens on the port when the stage starts.
        late = new HttpsMirror(path.join(dir, "mirror"), await freePort());
        const running = runEtcdStage(late.url("good"), path.join(dir, "bin-late"));
        await sleep(1500);
        await late.start();
        const run = await running;
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /attempt 1\/14 failed: curl .*; retrying in 5s/);
        assert.ok(run.seconds >= 5, `waited ${run.seconds}s`);
        assert.deepEqual(installed(run.binDir), ["etcd", "etcdctl", "etcdutl"]);
    });
});
