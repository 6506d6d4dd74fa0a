// The mirrors' content that is the same for every lab, built from the toolchain's binaries and cached under
// `<lab cache>/mirror-<hash of inputs>/` (inputs: every binary's bytes, this folder's sources, the Debian packages
// the images take files from):
//
//   buildMirrorContent({ binDir }) → MirrorContent
//
// - Debian packages (dpkg-deb, root-owned, mtimes clamped to 0) under the real repositories' names, versions and
//   file layout: pkgs.k8s.io's kubeadm, kubelet, kubectl (`<k8s>-1.1`), cri-tools and kubernetes-cni, as
//   kubernetes/release's OBS specs (cmd/krel/templates/latest/*) build them, dependencies included (kubelet:
//   kubernetes-cni >= 1.2.0, mount, util-linux, Recommends iptables >= 1.8.4; kubeadm has declared none since 1.32;
//   10-kubeadm.conf belongs to kubeadm, not kubelet); Docker's containerd.io (`<containerd>-1`: containerd,
//   containerd-shim-runc-v2, ctr, runc, containerd's own containerd.service under /lib/systemd/system and Docker's
//   /etc/containerd/config.toml as a conffile, which keeps a file the boot wrote before: apt runs dpkg with
//   --force-confold there).
// - Unsigned repository trees (Packages, Packages.gz; Release files are per lab, see repositories.ts):
//   kubernetes/v<minor>/deb/ (flat, pkgs.k8s.io), docker/linux/ubuntu/dists/<codename>/stable (Docker's), and an
//   empty Debian archive debian/dists/{bookworm,bookworm-updates,bookworm-security} for the machines' OS sources.
// - etcd/v<etcd>/etcd-v<etcd>-linux-amd64.tar.gz laid out as the official release, SHA256SUMS beside it.
// - Image layers (deterministic tars) and the specs of the images startMirrors pushes with crane.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { etcdVersion, kubernetesMinor, pauseImageTag, ubuntuRelease, addonImages } from "../../config/versions";
import { labCacheDir } from "../paths";
import { run } from "../command";

/** Binaries the content is made of (all from the toolchain's bin dir). */
export const contentBinaries = {
    kubernetesPackages: ["kubelet", "kubeadm", "kubectl", "crictl"],
    cniPlugins: ["bridge", "host-local", "loopback", "portmap"],
    containerdPackage: ["containerd", "containerd-shim-runc-v2", "ctr", "runc"],
    images: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", "etcd"],
    flannelImages: ["flanneld", "flannel"],
    etcdRelease: ["etcd", "etcdctl", "etcdutl"],
} as const;

/** The Debian suites of the empty OS archive (bookworm: the lab machines' release). */
export const debianSuites = ["bookworm", "bookworm-updates", "bookworm-security"];
const debianComponents = ["main", "contrib", "non-free", "non-free-firmware"];

/**
 * Debian packages whose files go into the images: nft, iptables (nft backend) and conntrack with their libraries, and
 * netbase's /etc/protocols: without it `nft --json list` prints a protocol as its number (6), kube-proxy (nftables
 * mode) does not know the elements it reads back as its own ("tcp"), and a restarted kube-proxy deletes every Service
 * element it finds (NodePorts refuse until its next full sync).
 */
const netfilterPackages = [
    ...["nftables", "libnftables1", "libedit2", "libbsd0", "libmd0", "libtinfo6", "libgmp10", "libjansson4"],
    ...["libmnl0", "libnftnl11", "libxtables12", "iptables", "libip4tc2", "libip6tc2", "libnetfilter-conntrack3"],
    ...["libnfnetlink0", "conntrack", "libnetfilter-cthelper0", "libnetfilter-queue1", "libc6", "libgcc-s1"],
    "netbase",
];

/** The lab's test workload image (lab/mirrors labTestImage gives its reference in a running lab). */
export const labTestImageRepository = "kubeha-lab/echo";
export const labTestImageTag = "1";

export interface ImageSpec {
    /** Repository path under the lab registry (`k8s/kube-apiserver`). */
    readonly repository: string;
    readonly tag: string;
    /** Layer tars, bottom first (paths inside the content dir). */
    readonly layers: string[];
    readonly entrypoint?: string[];
    readonly env: string[];
    /** The image's user, where upstream's image sets one (CoreDNS runs as nonroot). */
    readonly user?: string;
}

export interface MirrorContent {
    readonly dir: string;
    /** Served by the https mirror as its document root (Release files added per lab). */
    readonly www: string;
    readonly versions: ContentVersions;
    readonly images: ImageSpec[];
    /** Relative paths (under www) of the repositories' Release files to write and sign, with their fields. */
    readonly releases: ReleaseSpec[];
}

export interface ReleaseSpec {
    /** The folder apt-ftparchive release hashes and the Release file lands in (relative to www). */
    readonly dir: string;
    readonly fields: Record<string, string>;
    /** Where the armored public key is published (relative to www), if this repository publishes it. */
    readonly keyFile?: string;
}

/** A Kubernetes release the mirrors serve: its version and kubeadm's image list for it (name → tag). */
export interface KubernetesRelease {
    readonly kubernetes: string;
    readonly kubeadmImages: Record<string, string>;
}

export interface ContentVersions extends KubernetesRelease {
    readonly criTools: string;
    readonly cniPlugins: string;
    readonly containerd: string;
    readonly runc: string;
    readonly etcd: string;
    /** The release an upgrade goes to, served beside the toolchain's (its packages in its minor's repository). */
    readonly upgrade?: KubernetesRelease;
}

const sourceDir = __dirname;

function semver(text: string, what: string): string {
    const match = /v?(\d+\.\d+\.\d+)/.exec(text);
    if (!match) throw new Error(`could not read the version of ${what} from: ${text.trim()}`);
    return match[1];
}

/** The Kubernetes release whose binaries are in `binDir`, as its kubeadm reports it. */
function kubernetesRelease(binDir: string): KubernetesRelease {
    const kubeadm = path.join(binDir, "kubeadm");
    const kubernetes = semver(run(kubeadm, ["version", "-o", "short"]), "kubeadm");
    const listed = run(kubeadm, ["config", "images", "list", "--kubernetes-version", `v${kubernetes}`]);
    const kubeadmImages: Record<string, string> = {};
    for (const line of listed.split("\n").filter(Boolean)) {
        const [name, tag] = line.slice(line.lastIndexOf("/") + 1).split(":");
        kubeadmImages[name] = tag;
    }
    return { kubernetes, kubeadmImages };
}

/**
 * Versions as the binaries report them (the packages are named after what they hold); `upgradeBinDir` holds the
 * release an upgrade goes to (`npm run -s toolchain -- --kubernetes-release <version>`).
 */
export function binaryVersions(binDir: string, upgradeBinDir?: string): ContentVersions {
    const bin = (name: string) => path.join(binDir, name);
    return {
        ...kubernetesRelease(binDir),
        criTools: semver(run(bin("crictl"), ["--version"]), "crictl"),
        // A CNI plugin run without CNI_COMMAND prints "CNI bridge plugin v1.10.0" (on stdout or stderr, by version).
        cniPlugins: semver(cniAbout(bin("bridge")), "bridge"),
        containerd: semver(run(bin("containerd"), ["--version"]).split(" ").slice(2).join(" "), "containerd"),
        runc: semver(run(bin("runc"), ["--version"]), "runc"),
        etcd: semver(run(bin("etcd"), ["--version"]), "etcd"),
        ...(upgradeBinDir ? { upgrade: kubernetesRelease(upgradeBinDir) } : {}),
    };
}

function cniAbout(plugin: string): string {
    const about = spawnSync(plugin, [], { encoding: "utf8", env: {} });
    return `${about.stdout}${about.stderr}`;
}

/** What an upgrade release's bin dir must hold: its packages' and images' binaries. */
const upgradeBinaries = [
    ...["kubelet", "kubeadm", "kubectl"],
    ...["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns"],
];

/** Binaries missing from `binDir` (the toolchain adds them one after another), and from `upgradeBinDir` if given. */
export function missingBinaries(binDir: string, upgradeBinDir?: string): string[] {
    const missing = (dir: string, names: readonly string[]) =>
        names.filter((name) => !fs.existsSync(path.join(dir, name))).map((name) => path.join(dir, name));
    return [
        ...missing(binDir, Object.values(contentBinaries).flat()),
        ...(upgradeBinDir ? missing(upgradeBinDir, upgradeBinaries) : []),
    ];
}

function hashInputs(binDir: string, upgradeBinDir?: string): string {
    const hash = createHash("sha256");
    for (const name of [...new Set(Object.values(contentBinaries).flat())].sort()) {
        hash.update(name).update(fs.readFileSync(path.join(binDir, name)));
    }
    for (const name of upgradeBinDir ? upgradeBinaries : []) {
        hash.update(`upgrade ${name}`).update(fs.readFileSync(path.join(upgradeBinDir!, name)));
    }
    const sources = (dir: string): string[] =>
        fs
            .readdirSync(dir, { withFileTypes: true })
            .flatMap((entry) =>
                entry.isDirectory() ? sources(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
            )
            .filter((file) => /\.(ts|go|mod)$/.test(file))
            .sort();
    for (const file of sources(sourceDir)) hash.update(path.relative(sourceDir, file)).update(fs.readFileSync(file));
    hash.update(netfilterPackages.join(" "));
    return hash.digest("hex").slice(0, 16);
}

/**
 * Builds (or finds cached) the mirrors' content for the toolchain binaries in `binDir`, and the Kubernetes release in
 * `upgradeBinDir` beside them if given. Throws naming the missing binaries if the toolchain does not hold them all yet.
 */
export function buildMirrorContent(options: {
    binDir: string;
    upgradeBinDir?: string;
    cacheDir?: string;
    log?: (line: string) => void;
}) {
    const { binDir, upgradeBinDir } = options;
    const log = options.log ?? (() => undefined);
    const missing = missingBinaries(binDir, upgradeBinDir);
    if (missing.length > 0) throw new Error(`mirrors: the toolchain lacks ${missing.join(", ")}`);
    const versions = binaryVersions(binDir, upgradeBinDir);
    const dir = path.join(options.cacheDir ?? labCacheDir, `mirror-${hashInputs(binDir, upgradeBinDir)}`);
    const content = describeContent(dir, versions);
    const complete = path.join(dir, ".complete");
    if (fs.existsSync(complete)) {
        log(`mirror content cached in ${dir}`);
        return content;
    }
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    // One builder at a time: a second caller waits for the lock, then finds the folder complete.
    const lock = `${dir}.lock`;
    const script = `test -e "$1" && exit 0; rm -rf "$2"; exec "$3" "$4" --require ts-node/register/transpile-only -e 'require(process.argv[1]).buildUnlocked(process.argv[2], process.argv[3], process.argv[5] || undefined); require("fs").writeFileSync(process.argv[4], "")' "$5" "$6" "$2" "$1" "$7"`;
    run(
        "flock",
        [
            ...[lock, "bash", "-c", script, "build", complete, dir, process.execPath],
            ...["--no-warnings", __filename, binDir, upgradeBinDir ?? ""],
        ],
        { stdio: ["ignore", "inherit", "inherit"], cwd: path.resolve(sourceDir, "..", "..") },
    );
    log(`mirror content built in ${dir}`);
    return content;
}

function describeContent(dir: string, versions: ContentVersions): MirrorContent {
    const www = path.join(dir, "www");
    const codename = ubuntuRelease.codename;
    const kubernetesReleases = [versions, ...(versions.upgrade ? [versions.upgrade] : [])];
    const releases: ReleaseSpec[] = [
        ...kubernetesReleases.map(({ kubernetes }) => {
            const minor = kubernetesMinor(kubernetes);
            return {
                dir: `kubernetes/v${minor}/deb`,
                fields: { Origin: `obs://build.opensuse.org/isv:kubernetes:core:stable:v${minor}/deb`, Label: "deb" },
                keyFile: `kubernetes/v${minor}/deb/Release.key`,
            };
        }),
        {
            dir: `docker/linux/ubuntu/dists/${codename}`,
            fields: {
                Origin: "Docker",
                Label: "Docker CE",
                Suite: codename,
                Codename: codename,
                Architectures: "amd64",
                Components: "stable",
                Description: "Docker CE packages for Ubuntu (kubeha lab copy)",
            },
            keyFile: "docker/linux/ubuntu/gpg",
        },
        ...debianSuites.map((suite) => ({
            dir: `debian/dists/${suite}`,
            fields: {
                Origin: "Debian",
                Label: suite.endsWith("-security") ? "Debian-Security" : "Debian",
                Suite: suite,
                Codename: suite,
                Architectures: "amd64",
                Components: debianComponents.join(" "),
                Description: "Empty Debian archive for the kubeha lab (the base image holds the packages)",
            },
        })),
    ];
    const layers = (...names: string[]) => names.map((name) => path.join(dir, "layers", `${name}.tar`));
    const k8s = (name: string, tag: string, extra: string[] = []): ImageSpec => ({
        repository: `k8s/${name}`,
        tag,
        layers: layers("base", ...extra, name),
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    });
    // Each release's images, its layer named by its version (`kube-apiserver-v1.36.3.tar`).
    const k8sVersioned = (name: string, tag: string, extra: string[] = []): ImageSpec => ({
        ...k8s(name, tag, extra),
        layers: layers("base", ...extra, `${name}-${tag}`),
    });
    const releaseImages = ({ kubernetes, kubeadmImages }: KubernetesRelease): ImageSpec[] => [
        k8sVersioned("kube-apiserver", `v${kubernetes}`),
        k8sVersioned("kube-controller-manager", `v${kubernetes}`),
        k8sVersioned("kube-scheduler", `v${kubernetes}`),
        k8sVersioned("kube-proxy", `v${kubernetes}`, ["busybox", "netfilter"]),
        // As upstream's image: USER nonroot (65532), which also keeps it off root's inotify budget in the lab.
        { ...k8sVersioned("coredns", kubeadmImages.coredns), entrypoint: ["/coredns"], user: "65532:65532" },
    ];
    const kubeadmImages = versions.kubeadmImages;
    const pauseTags = [...new Set([pauseImageTag, kubeadmImages.pause])].filter(Boolean);
    const images: ImageSpec[] = [
        ...uniqueBy(kubernetesReleases.flatMap(releaseImages), (image) => `${image.repository}:${image.tag}`),
        ...pauseTags.map((tag) => ({ ...k8s("pause", tag), entrypoint: ["/pause"] })),
        ...(kubeadmImages.etcd ? [k8s("etcd", kubeadmImages.etcd)] : []),
        {
            ...k8s("flannel", addonImages.flannel.tag, ["busybox", "netfilter"]),
            repository: `flannel-io/${addonImages.flannel.name}`,
            entrypoint: ["/opt/bin/flanneld"],
        },
        {
            ...k8s("flannel-cni-plugin", addonImages.flannelCniPlugin.tag, ["busybox"]),
            repository: `flannel-io/${addonImages.flannelCniPlugin.name}`,
        },
        {
            ...k8s("echo", labTestImageTag, ["busybox", "echo"]),
            repository: labTestImageRepository,
            entrypoint: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
        },
    ];
    return { dir, www, versions, images, releases };
}

function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
    return [...new Map(items.map((item) => [key(item), item])).values()];
}

// ---- the build itself (runs under the lock, in a child process) ----

const epoch = "0";

/** A deterministic tar of `root`'s contents (names sorted, owner root, mtime 0). */
function tarDir(root: string, out: string): void {
    const entries = fs.readdirSync(root).sort();
    run("tar", [
        ...["--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${epoch}`, "--format=gnu"],
        ...["-C", root, "-cf", out, ...entries],
    ]);
}

function put(root: string, file: string, content: string | Buffer, mode = 0o644): void {
    const target = path.join(root, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
    fs.chmodSync(target, mode);
}

function copyBinary(binDir: string, name: string, root: string, target: string): void {
    put(root, target, fs.readFileSync(path.join(binDir, name)), 0o755);
}

interface DebSpec {
    readonly fields: Record<string, string>;
    readonly files: (root: string) => void;
    readonly conffiles?: string[];
    readonly postinst?: string;
    readonly prerm?: string;
}

function buildDeb(work: string, outDir: string, spec: DebSpec): string {
    const { Package: name, Version: version } = spec.fields;
    const root = path.join(work, `${name}_${version}`);
    fs.rmSync(root, { recursive: true, force: true });
    spec.files(root);
    const sizeKb = Math.ceil(Number(run("du", ["-sk", "--apparent-size", root]).split("\t")[0]));
    const control: Record<string, string> = { ...spec.fields, "Installed-Size": String(sizeKb) };
    const order = ["Package", "Version", "Architecture", "Maintainer", "Installed-Size", "Depends", "Recommends"];
    const keys = [...order.filter((key) => key in control), ...Object.keys(control).filter((k) => !order.includes(k))];
    const description = control.Description;
    const lines = keys
        .filter((key) => key !== "Description")
        .map((key) => `${key}: ${control[key as keyof typeof control]}`);
    put(root, "DEBIAN/control", `${lines.join("\n")}\nDescription: ${description}\n ${description}.\n`);
    if (spec.conffiles) put(root, "DEBIAN/conffiles", spec.conffiles.map((file) => `${file}\n`).join(""));
    if (spec.postinst) put(root, "DEBIAN/postinst", spec.postinst, 0o755);
    if (spec.prerm) put(root, "DEBIAN/prerm", spec.prerm, 0o755);
    run("find", [root, "-exec", "touch", "-h", "-d", "@0", "{}", "+"]);
    fs.mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, `${name}_${version}_amd64.deb`);
    run("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z1", "--build", root, out], {
        env: { ...process.env, SOURCE_DATE_EPOCH: epoch },
    });
    fs.rmSync(root, { recursive: true, force: true });
    return out;
}

/** What debhelper's systemd snippets do on configure: enable the unit, and (re)start it when systemd runs. */
function systemdPostinst(unit: string, start: "start" | "restart" | "none"): string {
    return `#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
    fi
    systemctl enable ${unit} >/dev/null 2>&1 || true
    ${start === "none" ? ":" : `if [ -d /run/systemd/system ]; then systemctl ${start} ${unit} >/dev/null || true; fi`}
fi
exit 0
`;
}

function systemdPrerm(unit: string): string {
    return `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
    systemctl stop ${unit} >/dev/null 2>&1 || true
fi
exit 0
`;
}

/** kubelet.service as kubernetes/release's package ships it (cmd/kubepkg templates/latest/deb/kubelet). */
const kubeletService = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/home/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

/** The kubeadm package's kubelet drop-in (kubernetes/kubernetes build/debs/10-kubeadm.conf, v1.11+ layout). */
const kubeadmDropIn = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

/** containerd's own unit (containerd/containerd containerd.service) with Docker's /usr/bin path. */
const containerdService = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd

Restart=always
Delegate=yes
KillMode=process
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
# Comment TasksMax if your systemd version does not supports it.
# Only systemd 226 and above support this version.
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`;

/** Docker's /etc/containerd/config.toml (docker/containerd-packaging common/containerd.toml): CRI disabled. */
const dockerContainerdConfig = `#   Copyright 2018-2022 Docker Inc.

#   Licensed under the Apache License, Version 2.0 (the "License");
#   you may not use this file except in compliance with the License.
#   You may obtain a copy of the License at

#       http://www.apache.org/licenses/LICENSE-2.0

#   Unless required by applicable law or agreed to in writing, software
#   distributed under the License is distributed on an "AS IS" BASIS,
#   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#   See the License for the specific language governing permissions and
#   limitations under the License.

disabled_plugins = ["cri"]

#root = "/var/lib/containerd"
#state = "/run/containerd"
#subreaper = true
#oom_score = 0

#[grpc]
#  address = "/run/containerd/containerd.sock"
#  uid = 0
#  gid = 0

#[debug]
#  address = "/run/containerd/debug.sock"
#  uid = 0
#  gid = 0
#  level = "info"
`;

/** The packages of one release: kubelet, kubeadm and kubectl from its bin dir; cri-tools and kubernetes-cni from the toolchain's. */
function kubernetesDebs(bins: { release: string; toolchain: string }, v: ContentVersions): DebSpec[] {
    const maintainer = "Kubernetes Authors <dev@kubernetes.io>";
    const common = { Architecture: "amd64", Maintainer: maintainer, Homepage: "https://kubernetes.io" };
    const k8sVersion = `${v.kubernetes}-1.1`;
    return [
        {
            fields: {
                Package: "kubelet",
                Version: k8sVersion,
                ...common,
                Depends: "kubernetes-cni (>= 1.2.0), mount, util-linux",
                Recommends: "iptables (>= 1.8.4)",
                Section: "net",
                Priority: "optional",
                Description: "Node agent for Kubernetes clusters",
            },
            files: (root) => {
                copyBinary(bins.release, "kubelet", root, "usr/bin/kubelet");
                put(root, "usr/lib/systemd/system/kubelet.service", kubeletService);
                put(root, "var/lib/kubelet/.kubelet-keep", "");
                put(root, "etc/kubernetes/manifests/.kubelet-keep", "");
                put(root, "etc/default/kubelet", "KUBELET_EXTRA_ARGS=\n");
            },
            conffiles: ["/etc/default/kubelet"],
            postinst: systemdPostinst("kubelet.service", "restart"),
            prerm: systemdPrerm("kubelet.service"),
        },
        {
            fields: {
                Package: "kubeadm",
                Version: k8sVersion,
                ...common,
                Section: "admin",
                Priority: "optional",
                Description: "Command-line utility for administering a Kubernetes cluster",
            },
            files: (root) => {
                copyBinary(bins.release, "kubeadm", root, "usr/bin/kubeadm");
                put(root, "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", kubeadmDropIn);
            },
        },
        {
            fields: {
                Package: "kubectl",
                Version: k8sVersion,
                ...common,
                Section: "utils",
                Priority: "optional",
                Description: "Command-line utility for interacting with a Kubernetes cluster",
            },
            files: (root) => copyBinary(bins.release, "kubectl", root, "usr/bin/kubectl"),
        },
        {
            fields: {
                Package: "cri-tools",
                Version: `${v.criTools}-1.1`,
                ...common,
                Section: "admin",
                Priority: "optional",
                Description: "Command-line utility for interacting with a container runtime",
            },
            files: (root) => copyBinary(bins.toolchain, "crictl", root, "usr/bin/crictl"),
        },
        {
            fields: {
                Package: "kubernetes-cni",
                Version: `${v.cniPlugins}-1.1`,
                ...common,
                Section: "net",
                Priority: "optional",
                Description: "Binaries required to provision kubernetes container networking",
            },
            files: (root) => {
                for (const plugin of contentBinaries.cniPlugins)
                    copyBinary(bins.toolchain, plugin, root, `opt/cni/bin/${plugin}`);
                put(root, "etc/cni/net.d/.kubernetes-cni-keep", "");
            },
        },
    ];
}

function containerdDeb(binDir: string, v: ContentVersions): DebSpec {
    return {
        fields: {
            Package: "containerd.io",
            Version: `${v.containerd}-1`,
            Architecture: "amd64",
            Maintainer: "Containerd team <help@containerd.io>",
            // Docker's package declares ${shlibs:Depends}: runc links libseccomp dynamically when built with cgo.
            Depends: "libc6 (>= 2.34), libseccomp2 (>= 2.5.0)",
            Provides: "containerd, runc",
            Conflicts: "containerd, runc",
            Replaces: "containerd, runc",
            Section: "devel",
            Priority: "optional",
            Homepage: "https://containerd.io",
            Description: "An open and reliable container runtime",
        },
        files: (root) => {
            for (const name of contentBinaries.containerdPackage) copyBinary(binDir, name, root, `usr/bin/${name}`);
            put(root, "lib/systemd/system/containerd.service", containerdService);
            put(root, "etc/containerd/config.toml", dockerContainerdConfig);
        },
        conffiles: ["/etc/containerd/config.toml"],
        postinst: systemdPostinst("containerd.service", "restart"),
        prerm: systemdPrerm("containerd.service"),
    };
}

function gzipCopy(file: string): void {
    fs.writeFileSync(`${file}.gz`, run("gzip", ["-9n", "-c", file], { encoding: "buffer" }) as unknown as Buffer);
}

function packagesIndex(cwd: string, debDir: string, out: string): void {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, run("apt-ftparchive", ["packages", debDir], { cwd }));
    gzipCopy(out);
}

function emptyIndex(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "");
    gzipCopy(file);
}

function etcdRelease(binDir: string, www: string, version: string, work: string): void {
    const name = `etcd-v${version}-linux-amd64`;
    const root = path.join(work, "etcd");
    for (const binary of contentBinaries.etcdRelease) copyBinary(binDir, binary, path.join(root, name), binary);
    const dir = path.join(www, "etcd", `v${version}`);
    fs.mkdirSync(dir, { recursive: true });
    const tarball = path.join(dir, `${name}.tar.gz`);
    const tar = path.join(work, `${name}.tar`);
    tarDir(root, tar);
    fs.writeFileSync(tarball, run("gzip", ["-n", "-c", tar], { encoding: "buffer" }) as unknown as Buffer);
    const digest = createHash("sha256").update(fs.readFileSync(tarball)).digest("hex");
    fs.writeFileSync(path.join(dir, "SHA256SUMS"), `${digest}  ${name}.tar.gz\n`);
}

/** Extracts Debian packages (apt-get download, dpkg-deb -x) into `root`. */
function debianFiles(packages: readonly string[], root: string, work: string): void {
    const downloads = path.join(work, "downloads");
    fs.mkdirSync(downloads, { recursive: true });
    run("apt-get", ["download", "-q", ...packages], { cwd: downloads });
    for (const deb of fs
        .readdirSync(downloads)
        .filter((file) => file.endsWith(".deb"))
        .sort()) {
        run("dpkg-deb", ["-x", path.join(downloads, deb), root]);
    }
}

function buildLayers(binDir: string, dir: string, work: string, upgradeBinDir?: string): void {
    const layerDir = path.join(dir, "layers");
    fs.mkdirSync(layerDir, { recursive: true });
    const layer = (name: string, fill: (root: string) => void) => {
        const root = path.join(work, "layers", name);
        fs.rmSync(root, { recursive: true, force: true });
        fs.mkdirSync(root, { recursive: true });
        fill(root);
        run("find", [root, "-exec", "touch", "-h", "-d", "@0", "{}", "+"]);
        tarDir(root, path.join(layerDir, `${name}.tar`));
    };
    // What every image has: a root user, /tmp, and the host's CA folders as mount points.
    layer("base", (root) => {
        put(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        put(root, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
        put(root, "etc/nsswitch.conf", "hosts: files dns\n");
        for (const folder of ["tmp", "root", "etc/ssl/certs", "var/run"])
            fs.mkdirSync(path.join(root, folder), { recursive: true });
        fs.chmodSync(path.join(root, "tmp"), 0o1777);
    });
    // busybox (Debian busybox-static) with the applets the manifests run (cp, sh, ...), linked in /bin.
    layer("busybox", (root) => {
        const extracted = path.join(work, "busybox-root");
        debianFiles(["busybox-static"], extracted, path.join(work, "busybox-dl"));
        put(root, "bin/busybox", fs.readFileSync(path.join(extracted, "bin", "busybox")), 0o755);
        for (const applet of ["sh", "cp", "ls", "cat", "mkdir", "rm", "mv", "ln", "echo", "test", "sleep", "grep"]) {
            fs.symlinkSync("busybox", path.join(root, "bin", applet));
        }
    });
    // The lab's test workload (test:lab): busybox httpd answering /cgi-bin/ip with the caller's address, and the
    // clients the checks run in pods (nc, nslookup; Debian's static busybox wget crashes resolving an address).
    layer("echo", (root) => {
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        for (const applet of ["httpd", "nc", "nslookup", "hostname", "env"]) {
            fs.symlinkSync("busybox", path.join(root, "bin", applet));
        }
        put(
            root,
            "www/cgi-bin/ip",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
            0o755,
        );
        put(root, "www/index.html", "kubeha lab\n");
    });
    // nft, iptables (nft backend, as kube-proxy's and flannel's images choose) and conntrack with their libraries.
    layer("netfilter", (root) => {
        debianFiles(netfilterPackages, root, path.join(work, "netfilter-dl"));
        for (const dropped of ["usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian"]) {
            fs.rmSync(path.join(root, dropped), { recursive: true, force: true });
        }
        // Debian picks the backend with update-alternatives at install time; the image fixes it to nft.
        for (const tool of ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save"]) {
            fs.symlinkSync("xtables-nft-multi", path.join(root, "usr/sbin", tool));
        }
        fs.symlinkSync("xtables-nft-multi", path.join(root, "usr/sbin", "ip6tables-restore"));
    });
    // Each release's binaries in layers named by version (describeContent's k8sVersioned).
    for (const releaseBin of [binDir, ...(upgradeBinDir ? [upgradeBinDir] : [])]) {
        const { kubernetes, kubeadmImages } = kubernetesRelease(releaseBin);
        for (const name of ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]) {
            layer(`${name}-v${kubernetes}`, (root) => copyBinary(releaseBin, name, root, `usr/local/bin/${name}`));
        }
        layer(`coredns-${kubeadmImages.coredns}`, (root) => copyBinary(releaseBin, "coredns", root, "coredns"));
    }
    layer("etcd", (root) => {
        for (const name of contentBinaries.etcdRelease) copyBinary(binDir, name, root, `usr/local/bin/${name}`);
    });
    layer("flannel", (root) => copyBinary(binDir, "flanneld", root, "opt/bin/flanneld"));
    layer("flannel-cni-plugin", (root) => copyBinary(binDir, "flannel", root, "flannel"));
    layer("pause", (root) => {
        const out = path.join(root, "pause");
        run("go", ["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "."], {
            cwd: path.join(sourceDir, "pause"),
            env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" },
        });
    });
}

/** Builds everything into `dir` (called under the lock by buildMirrorContent, in a child process). */
export function buildUnlocked(binDir: string, dir: string, upgradeBinDir?: string): void {
    const started = Date.now();
    const say = (message: string) =>
        process.stderr.write(`mirrors [${Math.round((Date.now() - started) / 1000)} s]: ${message}\n`);
    const versions = binaryVersions(binDir, upgradeBinDir);
    const content = describeContent(dir, versions);
    const work = path.join(dir, "work");
    fs.mkdirSync(work, { recursive: true });
    const www = content.www;

    // Each release in its minor's repository, as pkgs.k8s.io has them (cri-tools and kubernetes-cni from the toolchain's).
    for (const releaseBin of [binDir, ...(upgradeBinDir ? [upgradeBinDir] : [])]) {
        const release = kubernetesRelease(releaseBin);
        say(`Kubernetes ${release.kubernetes} packages`);
        const k8sRepo = path.join(www, "kubernetes", `v${kubernetesMinor(release.kubernetes)}`, "deb");
        for (const spec of kubernetesDebs({ release: releaseBin, toolchain: binDir }, { ...versions, ...release }))
            buildDeb(work, path.join(k8sRepo, "amd64"), spec);
        packagesIndex(k8sRepo, "amd64", path.join(k8sRepo, "Packages"));
    }

    say("containerd.io");
    const dockerBase = path.join(www, "docker", "linux", "ubuntu");
    const codename = ubuntuRelease.codename;
    const pool = `dists/${codename}/pool/stable/amd64`;
    buildDeb(work, path.join(dockerBase, pool), containerdDeb(binDir, versions));
    packagesIndex(dockerBase, pool, path.join(dockerBase, "dists", codename, "stable", "binary-amd64", "Packages"));

    say("empty Debian archive");
    for (const suite of debianSuites) {
        for (const component of debianComponents) {
            emptyIndex(path.join(www, "debian", "dists", suite, component, "binary-amd64", "Packages"));
            emptyIndex(path.join(www, "debian", "dists", suite, component, "source", "Sources"));
        }
    }

    say("etcd release");
    etcdRelease(binDir, www, etcdVersion, work);

    say("image layers");
    buildLayers(binDir, dir, work, upgradeBinDir);
    fs.writeFileSync(path.join(dir, "content.json"), `${JSON.stringify(content, null, 2)}\n`);
    fs.rmSync(work, { recursive: true, force: true });
    say("done");
}
