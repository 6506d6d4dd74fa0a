// The lab's private mirrors on this host, in a network namespace of the test's own: the content built from the
// toolchain (or reused from the cache), then the https mirror, the registry and the DNS server started inside it.
// From inside the namespace, with the lab DNS as resolver and the lab CA as the only trust: the published apt key is
// the lab key, real apt accepts the signed repositories and resolves kubeadm 1.36.3 and containerd.io 2.x under the
// hosts' pins, the registry serves manifests by tag and by digest, a loaded archive lands under its own name, the
// etcd tarball matches its SHA256SUMS, DNS answers the private zone and nothing else, kube-proxy's nft lists map
// elements with protocols by name (as kube-proxy reads them back). Teardown leaves nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdVersion, pauseImageTag } from "../../config/versions";
import {
    buildMirrorContent,
    kubernetesRepositoryPath,
    labStackMirrors,
    LabMirrors,
    loadImage,
    missingBinaries,
    MirrorContent,
    startMirrors,
    stopMirrors,
} from "../../lab/mirrors";
import { labNames, labServices } from "../../lab/paths";
import { toolchainBin } from "../system/support/toolchain";

const have = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
const neededCommands = ["nginx", "apt-ftparchive", "dpkg-deb", "gpg", "curl", "nsenter", "unshare", "ss", "go"];

function skipReason(): string | false {
    if (process.getuid?.() !== 0) return "needs root (network namespace, bind mounts)";
    const missing = neededCommands.filter((command) => !have(command));
    if (missing.length > 0) return `needs ${missing.join(", ")} (apt-get install nginx-light apt-utils gnupg curl)`;
    let bin: string;
    try {
        bin = toolchainBin();
    } catch (error) {
        return `no toolchain: ${(error as Error).message}`;
    }
    const lacking = [
        ...missingBinaries(bin),
        ...["registry", "coredns", "crane"].filter((name) => !fs.existsSync(path.join(bin, name))),
    ];
    if (lacking.length > 0) return `the toolchain (${bin}) has no ${lacking.join(", ")} yet`;
    return false;
}

const skip = skipReason();
const netnsName = `kubeha-mirrors-test-${process.pid}`;
const netns = `/run/netns/${netnsName}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-lab-mirrors-"));
const state = path.join(work, "state");
const resolvConf = path.join(work, "resolv.conf");
const privateZone = { "master-1.k8s.internal": "192.168.0.10", "worker-1.k8s.internal": "192.168.0.20" };

/** A command inside the namespace, with the lab DNS as the only resolver (a private mount of /etc/resolv.conf). */
function inLab(args: string[], env: NodeJS.ProcessEnv = {}) {
    const script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"';
    return spawnSync("nsenter", [`--net=${netns}`, "unshare", "--mount", "sh", "-c", script, resolvConf, ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
        maxBuffer: 64 * 1024 * 1024,
    });
}

function ok(args: string[], env: NodeJS.ProcessEnv = {}): string {
    const result = inLab(args, env);
    assert.equal(result.status, 0, `${args.join(" ")}: ${result.stderr}${result.stdout}`);
    return result.stdout;
}

describe("lab mirrors", { skip }, () => {
    let content: MirrorContent;
    let mirrors: LabMirrors;
    let binDir: string;
    const serverPids: number[] = [];

    before(async () => {
        binDir = toolchainBin();
        spawnSync("ip", ["netns", "add", netnsName]);
        for (const args of [
            ["link", "set", "lo", "up"],
            ["link", "add", "labbr0", "type", "bridge"],
            ["link", "set", "labbr0", "up"],
        ]) {
            assert.equal(spawnSync("ip", ["-n", netnsName, ...args]).status, 0, `ip ${args.join(" ")}`);
        }
        fs.writeFileSync(resolvConf, `nameserver ${labServices.dns}\n`);
        let started = Date.now();
        content = buildMirrorContent({ binDir, log: (line) => console.log(line) });
        console.log(`mirror content: ${Date.now() - started} ms`);
        started = Date.now();
        mirrors = await startMirrors({
            lab: "mt",
            netns,
            state,
            binDir,
            content,
            device: "labbr0",
            records: privateZone,
            log: (line) => console.log(line),
        });
        console.log(`mirrors started: ${Date.now() - started} ms`, mirrors.timings);
        for (const file of fs.readdirSync(path.join(state, "pids"))) {
            serverPids.push(Number(fs.readFileSync(path.join(state, "pids", file), "utf8").split("\n")[0]));
        }
        console.log(mirrors.images.join("\n"));
    });

    after(async () => {
        await stopMirrors({ state, netns, remove: true });
        spawnSync("ip", ["netns", "del", netnsName]);
        for (const pid of serverPids) assert.ok(!fs.existsSync(`/proc/${pid}`), `server ${pid} still runs`);
        assert.ok(!fs.existsSync(state), "the mirrors' state dir is gone");
        assert.ok(!fs.existsSync(netns), "the namespace is gone");
        fs.rmSync(work, { recursive: true, force: true });
    });

    test("the published Release.key and gpg are the lab key", () => {
        const kubernetes = `https://${labNames.mirror}/${kubernetesRepositoryPath(content.versions.kubernetes)}Release.key`;
        const docker = `https://${labNames.mirror}/docker/linux/ubuntu/gpg`;
        for (const url of [kubernetes, docker]) {
            const file = path.join(work, "fetched.asc");
            ok(["curl", "-fsS", "--proto", "=https", "--cacert", mirrors.caCertificate, "-o", file, url]);
            const home = fs.mkdtempSync(path.join(work, "gnupg-"));
            const listed = spawnSync(
                "sh",
                ["-c", 'gpg --batch --quiet --import "$1" && gpg --batch --with-colons --list-keys', "sh", file],
                {
                    encoding: "utf8",
                    env: { ...process.env, GNUPGHOME: home },
                },
            );
            const fingerprints = listed.stdout
                .split("\n")
                .filter((line) => line.startsWith("fpr:"))
                .map((line) => line.split(":")[9]);
            assert.deepEqual(fingerprints, [mirrors.aptKeyFingerprint], url);
        }
    });

    test("apt accepts the signed repositories and resolves the pinned packages", () => {
        const root = path.join(work, "apt");
        const etc = path.join(root, "etc");
        for (const dir of ["sources.list.d", "preferences.d", "trusted.gpg.d", "apt.conf.d"])
            fs.mkdirSync(path.join(etc, dir), { recursive: true });
        for (const dir of ["state/lists/partial", "cache/archives/partial"])
            fs.mkdirSync(path.join(root, dir), { recursive: true });
        const key = mirrors.aptKeyFile;
        const base = `https://${labNames.mirror}`;
        fs.writeFileSync(
            path.join(etc, "sources.list.d", "lab.list"),
            [
                `deb [signed-by=${key}] ${base}/${kubernetesRepositoryPath(content.versions.kubernetes)} /`,
                `deb [signed-by=${key}] ${base}/docker/linux/ubuntu noble stable`,
                ...["bookworm", "bookworm-updates"].map(
                    (suite) => `deb [signed-by=${key}] ${base}/debian ${suite} main`,
                ),
                `deb [signed-by=${key}] ${base}/debian bookworm-security main`,
                "",
            ].join("\n"),
        );
        fs.writeFileSync(path.join(etc, "sources.list"), "");
        // The hosts' pins (render/cloud-init.ts kubernetesAptFiles).
        fs.writeFileSync(
            path.join(etc, "preferences.d", "kubeha.pref"),
            `Package: kubeadm kubelet kubectl\nPin: version ${content.versions.kubernetes}-*\nPin-Priority: 1001\n\nPackage: containerd.io\nPin: version 2.*\nPin-Priority: 1001\n`,
        );
        const apt = [
            ...["apt-get", "-q", "-o", `Dir::Etc=${etc}`, "-o", `Dir::State=${path.join(root, "state")}`],
            ...["-o", `Dir::Cache=${path.join(root, "cache")}`, "-o", "Dir::State::status=/var/lib/dpkg/status"],
            ...["-o", `Acquire::https::CaInfo=${mirrors.caCertificate}`, "-o", "Debug::NoLocking=1"],
            // apt's download methods run as _apt, which cannot read the CA in the test's private folders.
            ...["-o", "APT::Get::List-Cleanup=0", "-o", "APT::Sandbox::User=root"],
        ];
        const update = ok([...apt, "update"]);
        assert.doesNotMatch(update, /^(W|E):/m, update);
        const simulated = ok([
            ...apt,
            "install",
            "-s",
            "--no-install-recommends",
            "kubeadm",
            "kubelet",
            "kubectl",
            "containerd.io",
        ]);
        assert.match(
            simulated,
            new RegExp(`^Inst kubeadm \\(${content.versions.kubernetes.replace(/\./g, "\\.")}-1\\.1 `, "m"),
        );
        assert.match(
            simulated,
            new RegExp(`^Inst kubelet \\(${content.versions.kubernetes.replace(/\./g, "\\.")}-1\\.1 `, "m"),
        );
        assert.match(simulated, /^Inst kubernetes-cni \(/m);
        assert.match(simulated, /^Inst containerd\.io \(2\.\d+\.\d+-1 /m);
    });

    test("the registry serves each image by tag and by digest", () => {
        const crane = path.join(binDir, "crane");
        const env = { SSL_CERT_FILE: mirrors.caCertificate };
        assert.ok(mirrors.images.length >= 8, mirrors.images.join("\n"));
        for (const image of mirrors.images) {
            const [byTag, digest] = image.split("@");
            const byDigest = `${byTag.slice(0, byTag.lastIndexOf(":"))}@${digest}`;
            const manifest = ok([crane, "manifest", byTag], env);
            assert.equal(`sha256:${createHash("sha256").update(manifest).digest("hex")}`, digest, byTag);
            assert.equal(ok([crane, "manifest", byDigest], env), manifest);
            const config = JSON.parse(ok([crane, "config", byDigest], env)) as { os: string; architecture: string };
            assert.deepEqual([config.os, config.architecture], ["linux", "amd64"], byTag);
        }
        const pause = mirrors.images.find((image) => image.includes("/k8s/pause:"))!;
        const [, digest] = pause.split("@");
        const repository = pause.split("@")[0].split("/").slice(1).join("/").split(":")[0];
        const headers = ok([
            ...["curl", "-fsS", "--cacert", mirrors.caCertificate, "-o", "/dev/null", "-D", "-"],
            ...["-H", "Accept: application/vnd.oci.image.manifest.v1+json"],
            `https://${labNames.registry}/v2/${repository}/manifests/${digest}`,
        ]);
        assert.match(headers, new RegExp(`docker-content-digest: ${digest}`, "i"));
    });

    /** The registry's image of `repository`, exported (crane) into a fresh folder: its root filesystem. */
    function exportImage(repository: string): { image: string; root: string } {
        const image = mirrors.images.find((reference) => reference.startsWith(`${labNames.registry}/${repository}:`));
        assert.ok(image, repository);
        const root = fs.mkdtempSync(path.join(work, "rootfs-"));
        const crane = path.join(binDir, "crane");
        const exported = inLab(["sh", "-c", '"$0" export "$1" - | tar -x -C "$2"', crane, image, root], {
            SSL_CERT_FILE: mirrors.caCertificate,
        });
        assert.equal(exported.status, 0, exported.stderr);
        return { image, root };
    }
    const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    test("each image holds what its manifests run", () => {
        // Image → commands run inside its exported filesystem (chroot), as the pod specs run them.
        const checks: Record<string, string[][]> = {
            "k8s/kube-proxy": [
                ["/usr/local/bin/kube-proxy", "--version"],
                ["nft", "--version"],
                ["iptables", "--version"],
                ["conntrack", "--version"],
            ],
            "k8s/kube-apiserver": [["kube-apiserver", "--version"]],
            "k8s/pause": [["/pause", "-v"]],
            "flannel-io/flannel": [
                ["cp", "--help"],
                ["iptables-save", "--version"],
            ],
            "flannel-io/flannel-cni-plugin": [
                ["cp", "--help"],
                ["test", "-x", "/flannel"],
            ],
        };
        for (const [repository, commands] of Object.entries(checks)) {
            const { image, root } = exportImage(repository);
            for (const command of commands) {
                const ran = spawnSync("chroot", [root, ...command], { encoding: "utf8", env: { PATH: imagePath } });
                // BusyBox applets print their help on stderr and exit 1 for --help: ran at all is what counts.
                assert.ok(
                    ran.status === 0 || (command[1] === "--help" && ran.status === 1),
                    `${image}: ${command.join(" ")}: ${ran.stderr}${ran.error ?? ""}`,
                );
            }
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    test("kube-proxy's nft lists a map's elements as kube-proxy writes them, protocols by name", () => {
        // kube-proxy (nftables mode) reads its sets and maps back with `nft --json list` and matches the keys against
        // its own ("tcp"); a number there makes a restarted kube-proxy delete every Service element it finds.
        const { image, root } = exportImage("k8s/kube-proxy");
        const ruleset = [
            "table ip probe {",
            "  map ports { type inet_proto . inet_service : verdict; }",
            "  chain service { }",
            "}",
            "add element ip probe ports { tcp . 30080 : goto service }",
            "",
        ].join("\n");
        // A network namespace of its own: the table never reaches this host's ruleset.
        const listed = spawnSync(
            "unshare",
            ["--net", "chroot", root, "sh", "-c", "nft -f - && nft --json list map ip probe ports"],
            { input: ruleset, encoding: "utf8", env: { PATH: imagePath } },
        );
        assert.equal(listed.status, 0, `${image}: ${listed.stderr}`);
        const objects = (JSON.parse(listed.stdout) as { nftables: { map?: { elem: unknown } }[] }).nftables;
        assert.deepEqual(
            objects.find((object) => object.map)?.map?.elem,
            [[{ concat: ["tcp", 30080] }, { goto: { target: "service" } }]],
            image,
        );
        fs.rmSync(root, { recursive: true, force: true });
    });

    test("the stack's mirrors point at the lab and pin its images by digest", () => {
        const stack = labStackMirrors(mirrors);
        assert.equal(stack.kubernetesAptKey, mirrors.aptKeyFingerprint);
        assert.equal(stack.containerdAptKey, mirrors.aptKeyFingerprint);
        assert.equal(stack.kubernetesApt, `https://${labNames.mirror}/kubernetes`);
        for (const image of [stack.images?.pause, stack.images?.flannel, stack.images?.flannelCniPlugin]) {
            assert.ok(typeof image === "string" && mirrors.images.includes(image), String(image));
        }
        assert.match(String(stack.images?.pause), new RegExp(`/pause:${pauseImageTag}@sha256:`));
    });

    test("loadImage keeps the archive's repository and tag under the registry", () => {
        const crane = path.join(binDir, "crane");
        const layerRoot = path.join(work, "hello");
        fs.mkdirSync(layerRoot, { recursive: true });
        fs.writeFileSync(path.join(layerRoot, "hello.txt"), "hello\n");
        const layer = path.join(work, "hello.tar");
        assert.equal(spawnSync("tar", ["-C", layerRoot, "-cf", layer, "hello.txt"]).status, 0);
        const archive = path.join(work, "hello-image.tar");
        ok([crane, "append", "--oci-empty-base", "-f", layer, "-t", "example.org/test/hello:1", "-o", archive]);
        const loaded = loadImage(archive, mirrors);
        assert.match(loaded, new RegExp(`^${labNames.registry}/test/hello:1@sha256:[0-9a-f]{64}$`));
        ok([crane, "manifest", loaded.split("@")[0]], { SSL_CERT_FILE: mirrors.caCertificate });
    });

    test("the etcd release matches its SHA256SUMS and has the official layout", () => {
        const base = `https://${labNames.mirror}/etcd/v${etcdVersion}`;
        const name = `etcd-v${etcdVersion}-linux-amd64`;
        const tarball = path.join(work, `${name}.tar.gz`);
        ok(["curl", "-fsS", "--cacert", mirrors.caCertificate, "-o", tarball, `${base}/${name}.tar.gz`]);
        const sums = ok(["curl", "-fsS", "--cacert", mirrors.caCertificate, `${base}/SHA256SUMS`]);
        const digest = createHash("sha256").update(fs.readFileSync(tarball)).digest("hex");
        assert.equal(sums, `${digest}  ${name}.tar.gz\n`);
        const listed = spawnSync("tar", ["-tzf", tarball], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
        for (const binary of ["etcd", "etcdctl", "etcdutl"])
            assert.ok(listed.includes(`${name}/${binary}`), listed.join(" "));
    });

    test("DNS answers the lab's names and nothing else", () => {
        for (const [name, address] of Object.entries({ ...privateZone, [labNames.registry]: labServices.registry })) {
            assert.equal(ok(["getent", "ahostsv4", name]).split(/\s+/)[0], address, name);
        }
        assert.notEqual(inLab(["getent", "hosts", "example.com"]).status, 0, "example.com must not resolve");
    });
});
