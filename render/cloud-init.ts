// The cloud-init user-data every host boots with: the host's names, its SSH host key, kernel settings, data
// disks, etcd, packages, containerd and the local API proxy. The host key is its one secret (README, "Security":
// user-data is readable through the cloud API and the metadata service, which pods are kept from); certificates,
// keys and tokens arrive later over SSH, authenticated by that key.
//
// The work itself is scripts/host-boot.sh, written to the host and run by runcmd with its parameters in
// KUBEHA_* environment variables. It logs "kubeha: stage N/M <name>" so a failed boot shows where it stopped.
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { hostFactsOf } from "../clouds/host-facts";
import { DataDiskPurpose, hostDisks } from "../config/disks";
import { apiProxyName, hostFqdn, PlannedHost } from "../config/layout";
import { corednsImage, pauseImage } from "../config/mirrors";
import { ClusterConfig } from "../config/resolve";
import {
    etcdReleaseSha256,
    etcdVersion,
    exactKubernetesVersion,
    kubernetesMinor,
    ubuntuRelease,
} from "../config/versions";
import { apiProxyUnitName, renderApiProxyFiles } from "./api-proxy";
import { etcdBinDir, etcdDiskMountPoint } from "./etcd";
import { HostFile } from "./host-file";

/** Where the boot script lands, and the state it leaves for operators and the wait-for-boot step. */
export const hostBoot = {
    script: "/usr/local/lib/kubeha/host-boot.sh",
    /** The stage running, or `done`. */
    stageFile: "/var/lib/kubeha/stage",
    /** Exists once every stage succeeded. */
    doneMarker: "/var/lib/kubeha/boot.done",
    /** Names the stage that failed. */
    failedMarker: "/var/lib/kubeha/boot.failed",
    /** One line per finished stage: a step that needs only an early stage waits for it here (etcd's start). */
    stagesDoneFile: "/var/lib/kubeha/stages.done",
} as const;

/** Each data disk's mount point (seed 000: etcd and the container runtime on their own cloud disks). */
export const dataDiskMountPoints: Record<DataDiskPurpose, string> = {
    etcd: etcdDiskMountPoint,
    containerd: "/var/lib/containerd",
};

/** AWS's limit on user-data (16 KiB before base64); Aliyun's is larger. */
export const maxUserDataBytes = 16384;

export const containerdSocket = "unix:///run/containerd/containerd.sock";

/**
 * Seed 000's sysctl values that still apply, in its order. Left out on purpose:
 * - net.ipv6.conf.{all,default,lo}.disable_ipv6 = 1: gains nothing on these IPv4 VPCs, and with IPv6 off on lo,
 *   programs that bind or dial ::1 (localhost resolves to it) fail;
 * - net.ipv4.conf.{all,default}.rp_filter = 0: Ubuntu's loose mode (2) already passes the asymmetric overlay and
 *   IPVS traffic the seed worried about; 0 only switches the anti-spoofing check off;
 * - net.ipv4.tcp_max_tw_buckets = 5000 and tcp_max_syn_backlog = 1024: the kernel sizes both from memory, and these
 *   caps are lower than its choice on busy apiservers and NodePort nodes (connections get dropped).
 */
export const sysctlSettings: readonly (readonly [key: string, value: string])[] = [
    // Below IPVS's 900 s idle timeout (moby#31208), so long-lived connections through a Service survive.
    ["net.ipv4.tcp_keepalive_time", "800"],
    ["net.ipv4.tcp_keepalive_intvl", "30"],
    ["net.ipv4.tcp_keepalive_probes", "10"],
    ["net.ipv4.neigh.default.gc_stale_time", "120"],
    ["net.ipv4.conf.default.arp_announce", "2"],
    ["net.ipv4.conf.lo.arp_announce", "2"],
    ["net.ipv4.conf.all.arp_announce", "2"],
    ["net.ipv4.ip_forward", "1"],
    ["net.ipv4.tcp_syncookies", "1"],
    ["net.ipv4.tcp_synack_retries", "2"],
    ["net.bridge.bridge-nf-call-ip6tables", "1"],
    ["net.bridge.bridge-nf-call-iptables", "1"],
    ["fs.inotify.max_user_watches", "89100"],
    ["fs.file-max", "52706963"],
    ["fs.nr_open", "52706963"],
    ["net.bridge.bridge-nf-call-arptables", "1"],
    ["vm.swappiness", "0"],
    ["vm.max_map_count", "262144"],
];

/** overlay for containerd's snapshotter, br_netfilter for the bridge sysctls; IPVS's modules only in ipvs mode. */
export function kernelModules(config: ClusterConfig): string[] {
    const ipvs = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "ip_vs_lc", "nf_conntrack"];
    return ["overlay", "br_netfilter", ...(config.kubeProxyMode === "ipvs" ? ipvs : [])];
}

const keyrings = { kubernetes: "/etc/apt/keyrings/kubernetes.asc", docker: "/etc/apt/keyrings/docker.asc" } as const;

/** The per-minor Kubernetes repository (pkgs.k8s.io layout, mirrored by the china preset). */
export function kubernetesAptRepository(config: ClusterConfig): string {
    return `${trimSlash(config.mirrors.kubernetesApt)}/v${kubernetesMinor(config.kubernetesVersion)}/deb/`;
}

/** The version kubeadm deploys and pre-pulls: the configured patch, or the one config/versions.ts pins for the minor. */
export function kubeadmKubernetesVersion(config: ClusterConfig): string {
    return `v${exactKubernetesVersion(config.kubernetesVersion)}`;
}

/** The official etcd release tarball (linux-amd64) under the mirror's `<base>/v<version>/` layout. */
export function etcdReleaseUrl(config: ClusterConfig): string {
    return `${trimSlash(config.mirrors.etcdReleases)}/v${etcdVersion}/etcd-v${etcdVersion}-linux-amd64.tar.gz`;
}

/** The pod sandbox image containerd pins and the boot pulls: `<kubernetesImages>/pause:<tag>` unless overridden. */
export function sandboxImage(config: ClusterConfig): string {
    return pauseImage(config.mirrors);
}

/** A host's SSH host key pair in OpenSSH formats (components/host-keys.ts generates it). */
export interface HostKey {
    /** `-----BEGIN OPENSSH PRIVATE KEY-----` ... */
    readonly privateKey: string;
    /** `ssh-ed25519 <base64>` */
    readonly publicKey: string;
}

/** Where sshd finds the host key: the only one it offers, so a client pinning it negotiates that key type. */
export const sshHostKeyPath = "/etc/ssh/ssh_host_ed25519_key";

/**
 * Concurrent SSH handshakes the bastion lets through: every remote step opens its own hop, at most as many at once
 * as `pulumi up --parallel` allows, and the README's largest recommendation is 256.
 */
export const bastionMaxHandshakes = 256;

/**
 * The bastion's sshd: the program's host key only, and unauthenticated connections bounded by what the bootstrap
 * needs (sshd's default MaxStartups 10:30:100 drops the steps' handshakes; more would let anyone in allowedCidrs.ssh
 * hold hundreds of handshakes open on a small instance). Beyond a quarter of the bound, new handshakes are dropped at
 * random (30 %, rising); the provider's dial retries absorb that. A handshake gets 30 s, not 120.
 */
export function bastionSshdConfig(): string {
    const start = bastionMaxHandshakes / 4;
    return `HostKey ${sshHostKeyPath}\nMaxStartups ${start}:30:${bastionMaxHandshakes}\nLoginGraceTime 30\n`;
}

/** The user-data document of one host, as the instance receives it (`#cloud-config` YAML). */
export function userDataFor(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
    host: PlannedHost,
    hostKey: HostKey,
): string {
    const document: Record<string, unknown> = {
        hostname: host.name,
        fqdn: hostFqdn(host.name, config.network.privateDomain),
        prefer_fqdn_over_hostname: false,
        // kubeha writes /etc/hosts itself (below); cloud-init must not regenerate it on every boot.
        manage_etc_hosts: false,
        timezone: config.timezone,
        ssh_pwauth: false,
        // The program's host key replaces the image's; given ssh_keys, cloud-init generates none (cc_ssh).
        ssh_deletekeys: true,
        ssh_keys: { ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey },
        ...(config.mirrors.ubuntuApt ? { apt: ubuntuMirror(config.mirrors.ubuntuApt) } : {}),
    };
    if (host.role === "bastion") {
        // Only a jump host: its names, its clock, current packages.
        document.write_files = writeFiles([
            etcHosts(config, layout, host),
            {
                path: "/etc/ssh/sshd_config.d/kubeha-bastion.conf",
                mode: "0644",
                content: bastionSshdConfig(),
            },
        ]);
        document.package_update = true;
        document.package_upgrade = true;
    } else {
        const { files, environment } = clusterHostBoot(config, layout, host);
        document.write_files = writeFiles(files);
        // A list is quoted item by item by cloud-init: the values never become shell code.
        document.runcmd = [
            ["env", ...Object.entries(environment).map(([key, value]) => `${key}=${value}`), hostBoot.script],
        ];
    }
    return `#cloud-config\n${stringify(document, { lineWidth: 0, indentSeq: false, aliasDuplicateObjects: false })}`;
}

/**
 * User-data as the clouds take it: gzip-compressed (cloud-init recognises it) and base64-encoded. AWS allows
 * 16 KiB before encoding; compressed, even the largest layout uses a third of it. Deterministic (no mtime in
 * the gzip header), so an unchanged document never plans a change.
 */
export function packUserData(hostName: string, document: string): string {
    const packed = gzipSync(Buffer.from(document, "utf8"), { level: 9 });
    if (packed.length > maxUserDataBytes) {
        throw new Error(
            `user-data of ${hostName} is ${packed.length} bytes compressed; AWS takes at most ${maxUserDataBytes}`,
        );
    }
    return packed.toString("base64");
}

/** The cloud-init document of packed user-data (what the instance reads). */
export function unpackUserData(packed: string): string {
    return gunzipSync(Buffer.from(packed, "base64")).toString("utf8");
}

/**
 * scripts/host-boot.sh as the hosts get it: without comments and blank lines, indented with tabs. AWS takes at most
 * 16 KiB of user-data, and the comments are in the repository for whoever reads the script.
 */
export function bootScript(): string {
    const source = fs.readFileSync(path.join(__dirname, "..", "scripts", "host-boot.sh"), "utf8");
    // Re-indenting would change the text of a here-document (here-strings, <<<, are fine).
    if (/(^|[^<])<<[^<]/m.test(source)) throw new Error("scripts/host-boot.sh: no here-documents, please");
    const [shebang, ...body] = source.split("\n");
    const code = body
        .filter((line) => !/^\s*(#.*)?$/.test(line))
        .map((line) =>
            line
                .replace(/^(?: {4})+/, (indent) => "\t".repeat(indent.length / 4))
                // The parameter list's explanations: `: "${KUBEHA_X:=}"  # what it holds`.
                .replace(/^(: "\$\{KUBEHA_\w+:[=?][^"]*\}")\s+#.*$/, "$1"),
        );
    return [shebang, ...code].join("\n") + "\n";
}

/**
 * The boot preparation of a cluster host (not the bastion): the files cloud-init's write_files puts on it and the
 * KUBEHA_* environment scripts/host-boot.sh runs with. On cloud machines the preparation step sends the same over
 * SSH (clouds/machines).
 */
export function clusterHostBoot(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
    host: PlannedHost,
): { files: HostFile[]; environment: Record<string, string> } {
    const runsKubelet = host.role === "master" || host.role === "worker";
    const disks = hostDisks(host, config).data.map(
        (disk) => `${disk.purpose}:${disk.sizeGb}:${dataDiskMountPoints[disk.purpose]}`,
    );
    const files: HostFile[] = [
        etcHosts(config, layout, host),
        { path: "/etc/sysctl.d/90-kubeha.conf", mode: "0644", content: sysctlFile() },
        {
            path: "/etc/modules-load.d/kubeha.conf",
            mode: "0644",
            content: `# Loaded at every boot, before systemd-sysctl applies the net.bridge.* keys.\n${kernelModules(config).join("\n")}\n`,
        },
        {
            path: "/etc/ssh/sshd_config.d/60-kubeha.conf",
            mode: "0644",
            content:
                "# Remote steps pass their parameters as KUBEHA_* environment variables.\nAcceptEnv KUBEHA_*\n" +
                `# The program's host key, which connections pin, is the only one offered.\nHostKey ${sshHostKeyPath}\n`,
        },
        { path: hostBoot.script, mode: "0755", content: bootScript() },
    ];
    const stages = ["disks", "kernel", "swap", "sshd"];
    const environment: Record<string, string> = { KUBEHA_DATA_DISKS: disks.join(" ") };
    if (host.etcdMember) {
        // Before the Kubernetes stages: its download is the member's first outbound request and waits for NAT.
        stages.push("etcd");
        Object.assign(environment, {
            KUBEHA_ETCD_RELEASE: etcdReleaseUrl(config),
            KUBEHA_ETCD_VERSION: etcdVersion,
            KUBEHA_ETCD_BIN_DIR: etcdBinDir,
            ...(etcdReleaseSha256 ? { KUBEHA_ETCD_SHA256: etcdReleaseSha256 } : {}),
        });
    }
    if (runsKubelet) {
        files.push(...kubernetesNodeFiles(config, layout));
        stages.push("repositories", "packages", "pod-firewall", "containerd", "api-proxy", "images");
        const held = ["containerd.io", "kubelet", "kubeadm", "kubectl"];
        Object.assign(environment, {
            // One "keyring fingerprint url" line per key: the script takes each line whole and installs the key
            // only if it has that fingerprint, whichever mirror serves it.
            KUBEHA_APT_KEYS: [
                `${keyrings.kubernetes} ${config.mirrors.kubernetesAptKey} ${kubernetesAptRepository(config)}Release.key`,
                `${keyrings.docker} ${config.mirrors.containerdAptKey} ${trimSlash(config.mirrors.containerdApt)}/gpg`,
            ].join("\n"),
            KUBEHA_PACKAGES: [
                ...held,
                // crictl, which the boot's containerd and images stages run: kubeadm's package stopped depending on
                // it in 1.32 (kubernetes/release#3626), so nothing else installs it (found by the lab).
                "cri-tools",
                "nginx",
                "libnginx-mod-stream",
                "nftables",
                ...(config.kubeProxyMode === "ipvs" ? ["ipvsadm", "ipset"] : []),
            ].join(" "),
            KUBEHA_HELD_PACKAGES: held.join(" "),
            KUBEHA_KUBERNETES_VERSION: kubeadmKubernetesVersion(config),
            KUBEHA_IMAGE_REPOSITORY: config.mirrors.kubernetesImages,
            // Workers run only kube-proxy, CoreDNS and pod sandboxes; etcd is external, so nobody pulls its image.
            // An overridden CoreDNS is not the one `kubeadm config images list` names: its kubelet pulls it.
            KUBEHA_PREPULL_IMAGES: [
                ...(host.role === "master" ? ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] : []),
                "kube-proxy",
                ...(corednsImage(config.mirrors) ? [] : ["coredns"]),
            ].join(" "),
            KUBEHA_SANDBOX_IMAGE: sandboxImage(config),
            KUBEHA_API_PROXY_UNIT: apiProxyUnitName,
            KUBEHA_POD_FIREWALL_UNIT: podFirewall.unit,
        });
    }
    return { files, environment: { KUBEHA_STAGES: stages.join(" "), ...environment } };
}

export const podFirewall = {
    unit: "kubeha-pod-firewall.service",
    rules: "/etc/kubeha/pod-firewall.nft",
} as const;

/**
 * Pods must not reach the cloud's metadata service: it serves the host's user-data, which holds the host's SSH
 * host key (and, on AWS, the instance's credentials if it has a role). AWS's hop limit 1 already stops pods there
 * (IMDSv2 tokens); Aliyun has no hop limit yet, so every node drops what pods send it, on both clouds. A table of its
 * own: kube-proxy and flannel never touch it. Pods on the host network are not covered (they are the host).
 */
export function podFirewallFiles(config: ClusterConfig): HostFile[] {
    const table = "inet kubeha_pod_firewall";
    const rules = `# Rendered by kubeha: pods (${config.network.podCidr}) must not reach the metadata service.
table ${table}
delete table ${table}
table ${table} {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr ${config.network.podCidr} ip daddr ${hostFactsOf(config).metadataAddress} counter drop
	}
}
`;
    const unit = `# Rendered by kubeha.
[Unit]
Description=Keep pods from the cloud metadata service (it serves this host's SSH host key)
Before=kubelet.service containerd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ${podFirewall.rules}

[Install]
WantedBy=multi-user.target
RequiredBy=kubelet.service
`;
    return [
        { path: podFirewall.rules, mode: "0644", content: rules },
        { path: `/etc/systemd/system/${podFirewall.unit}`, mode: "0644", content: unit },
    ];
}

/**
 * The Kubernetes apt source (the configured minor's repository) and the pin of kubeadm, kubelet and kubectl to the
 * exact version (and containerd to 2.x): written at boot, and again by the upgrade step of a running node.
 */
export function kubernetesAptFiles(config: ClusterConfig): [source: HostFile, pin: HostFile] {
    const kubernetesPin = `${exactKubernetesVersion(config.kubernetesVersion)}-*`;
    return [
        {
            path: "/etc/apt/sources.list.d/kubernetes.list",
            mode: "0644",
            content: `deb [signed-by=${keyrings.kubernetes}] ${kubernetesAptRepository(config)} /\n`,
        },
        {
            path: "/etc/apt/preferences.d/kubeha.pref",
            mode: "0644",
            content: `# kubeadm, kubelet and kubectl of the configured version; containerd 2.x (Kubernetes >= 1.36 needs it).
Package: kubeadm kubelet kubectl
Pin: version ${kubernetesPin}
Pin-Priority: 1001

Package: containerd.io
Pin: version 2.*
Pin-Priority: 1001
`,
        },
    ];
}

/** apt sources and pins, containerd, crictl, unit ordering and the local API proxy. */
function kubernetesNodeFiles(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile[] {
    const [kubernetesSource, kubernetesPin] = kubernetesAptFiles(config);
    return [
        kubernetesSource,
        {
            path: "/etc/apt/sources.list.d/docker.list",
            mode: "0644",
            content: `deb [signed-by=${keyrings.docker}] ${trimSlash(config.mirrors.containerdApt)} ${ubuntuRelease.codename} stable\n`,
        },
        kubernetesPin,
        { path: "/etc/containerd/config.toml", mode: "0644", content: containerdConfig(config) },
        {
            path: "/etc/crictl.yaml",
            mode: "0644",
            content: `runtime-endpoint: ${containerdSocket}\nimage-endpoint: ${containerdSocket}\n`,
        },
        {
            path: "/etc/systemd/system/containerd.service.d/10-kubeha-disk.conf",
            mode: "0644",
            content: `# Never put images on the system disk when the containerd disk failed to mount.\n[Unit]\nRequiresMountsFor=${dataDiskMountPoints.containerd}\n`,
        },
        {
            path: "/etc/systemd/system/kubelet.service.d/10-kubeha-api-proxy.conf",
            mode: "0644",
            content:
                "# A worker's kubelet reaches the API through the local proxy only. A master's talks to its own\n" +
                "# apiserver once joined (kubeadm's ControlPlaneKubeletLocalMode), but its join goes through the proxy.\n" +
                `[Unit]\nWants=${apiProxyUnitName}\nAfter=${apiProxyUnitName}\n`,
        },
        ...renderApiProxyFiles(config, layout),
        ...podFirewallFiles(config),
    ];
}

/** containerd 2.x (config version 3): systemd cgroups, the mirror's pause image, registry hosts in certs.d. */
export function containerdConfig(config: ClusterConfig): string {
    return `# containerd 2.x for Kubernetes, rendered by kubeha.
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = ${tomlString(sandboxImage(config))}

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/etc/containerd/certs.d'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
`;
}

function sysctlFile(): string {
    const lines = sysctlSettings.map(([key, value]) => `${key} = ${value}`);
    return `# Seed 000's kernel tuning that still applies (render/cloud-init.ts says what was left out and why).\n${lines.join("\n")}\n`;
}

/**
 * The cluster's names without depending on the private DNS zone: every master and etcd host (the names the
 * API proxy and the etcd members use), the host itself, and on Kubernetes nodes the API proxy's name on
 * 127.0.0.1. Workers resolve each other through the private zone: listing them would grow every host's
 * user-data with the worker count and change it on every scale-up.
 */
function etcHosts(config: ClusterConfig, layout: readonly PlannedHost[], host: PlannedHost): HostFile {
    const domain = config.network.privateDomain;
    const everyHost = hostFactsOf(config).hostsFileNamesEveryHost === true;
    const named = layout.filter(
        (other) =>
            other.role === "master" ||
            other.role === "etcd" ||
            other.name === host.name ||
            (everyHost && other.role === "worker"),
    );
    const lines = [
        "127.0.0.1 localhost",
        ...(host.role === "master" || host.role === "worker" ? [`127.0.0.1 ${apiProxyName(domain)}`] : []),
        ...named.map((other) => `${other.privateIp} ${hostFqdn(other.name, domain)} ${other.name}`),
        "",
        "::1 localhost ip6-localhost ip6-loopback",
        "ff02::1 ip6-allnodes",
        "ff02::2 ip6-allrouters",
    ];
    return { path: "/etc/hosts", mode: "0644", content: `# Written by kubeha at first boot.\n${lines.join("\n")}\n` };
}

function ubuntuMirror(uri: string): Record<string, unknown> {
    const mirror = [{ arches: ["default"], uri: trimSlash(uri) }];
    return { primary: mirror, security: mirror };
}

/** cloud-init writes as root:root, 0644 unless told otherwise; saying only what differs keeps user-data small. */
function writeFiles(files: readonly HostFile[]): Record<string, string>[] {
    return files.map((file) => ({
        path: file.path,
        ...(file.mode === "0644" ? {} : { permissions: file.mode }),
        content: file.content,
    }));
}

/**
 * A TOML basic string. JSON's string escapes (\\, \", \n, \uXXXX for control characters) are all TOML escapes
 * too, so no value can end the string or the line.
 */
export function tomlString(value: string): string {
    return JSON.stringify(value);
}

function trimSlash(url: string): string {
    return url.replace(/\/+$/, "");
}
