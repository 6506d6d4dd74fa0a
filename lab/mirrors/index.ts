// The lab's private mirrors (issue 24 §2), all served inside the lab's router network namespace:
//
//   buildMirrorContent({ binDir })        debs, repository indexes, etcd tarball, image layers; cached per inputs
//                                         under `<lab cache>/mirror-<hash>/` (content.ts)
//   startMirrors(options) → LabMirrors    per lab, in `/var/lib/kubeha-lab/<lab>/mirrors/`: CA + certificates,
//                                         apt key, signed repositories, then nginx (https mirror), the registry
//                                         (images pushed with crane; references with digests returned) and CoreDNS
//   stopMirrors({ state, netns })         ends the servers and the gpg agent; `remove: true` deletes the state dir
//   loadImage(file, mirrors)              an OCI or docker archive into the registry (images.ts)
//   labAptKeyFile(state)                  the lab apt key (armored), to install as /etc/apt/trusted.gpg.d/kubeha-lab.asc
//   labCaCertificate(state)               the lab CA (PEM), for the machines' trust store
//
//   labStackMirrors(mirrors)              the stack's `kubeha:mirrors` for the lab: URLs, the lab key's fingerprint as
//                                         kubernetesAptKey and containerdAptKey, pause and flannel images by digest
//
// The apt key's fingerprint differs per lab (LabMirrors.aptKeyFingerprint) and stays the same across restarts of one
// lab; the hosts install a fetched key only if it has the configured fingerprint.
import * as fs from "node:fs";
import * as path from "node:path";
import { MirrorOverrides, parseImageReference } from "../../config/mirrors";
import { kubernetesMinor, pauseImageTag } from "../../config/versions";
import { labNames, labServices } from "../paths";
import { labTestImageRepository, labTestImageTag, MirrorContent } from "./content";
import { loadImage as loadArchive, pushImages, RegistryTarget } from "./images";
import { labAptKey, labPki, stopGpgAgent } from "./pki";
import { labDocumentRoot } from "./repositories";
import { run } from "../command";
import { dnsHostsFile, startDns, startNginx, startRegistry, stopServers } from "./servers";

export { buildMirrorContent, missingBinaries } from "./content";
export type { MirrorContent } from "./content";

export interface StartMirrorsOptions {
    /** Lab name (the stack). */
    readonly lab: string;
    /** Path of the router network namespace, e.g. `/run/netns/kubeha-lab-dev`. */
    readonly netns: string;
    /** The mirrors' state dir, e.g. `/var/lib/kubeha-lab/dev/mirrors`. */
    readonly state: string;
    /** The toolchain's bin dir (registry, coredns, crane and the binaries the content is made of). */
    readonly binDir: string;
    readonly content: MirrorContent;
    /** Addresses of the services; default lab/paths.ts labServices. */
    readonly addresses?: { mirror: string; registry: string; dns: string };
    /**
     * A link in the namespace to put missing service addresses on (as /32), e.g. the lab bridge `labbr0`; omitted,
     * the addresses must be there already.
     */
    readonly device?: string;
    /** More DNS records: the private zone (`master-1.k8s.internal` → address, ...). */
    readonly records?: Record<string, string>;
    readonly log?: (line: string) => void;
}

export interface LabMirrors {
    readonly state: string;
    readonly netns: string;
    readonly caCertificate: string;
    readonly aptKeyFile: string;
    readonly aptKeyFingerprint: string;
    /** `registry.kubeha.lab/<repo>:<tag>@sha256:...` of every image pushed. */
    readonly images: string[];
    readonly registry: RegistryTarget;
    readonly urls: MirrorUrls;
    /** Milliseconds each phase took. */
    readonly timings: Record<string, number>;
}

/** What the stack's `kubeha:mirrors` should say in a lab. */
export interface MirrorUrls {
    readonly ubuntuApt: string;
    readonly kubernetesApt: string;
    readonly containerdApt: string;
    readonly etcdReleases: string;
    readonly kubernetesImages: string;
    readonly flannelImages: string;
}

export function mirrorUrls(): MirrorUrls {
    const base = `https://${labNames.mirror}`;
    return {
        ubuntuApt: `${base}/debian`,
        kubernetesApt: `${base}/kubernetes`,
        containerdApt: `${base}/docker/linux/ubuntu`,
        etcdReleases: `${base}/etcd`,
        kubernetesImages: `${labNames.registry}/k8s`,
        flannelImages: `${labNames.registry}/flannel-io`,
    };
}

/** The Kubernetes repository's folder under the mirror (`kubernetes/v1.36/deb/`), for a version like 1.36.3. */
export function kubernetesRepositoryPath(version: string): string {
    return `kubernetes/v${kubernetesMinor(version)}/deb/`;
}

const pkiDir = (state: string) => path.join(state, "pki");

/** The lab's apt public key (armored): install it as /etc/apt/trusted.gpg.d/kubeha-lab.asc in each machine. */
export function labAptKeyFile(state: string): string {
    return path.join(pkiDir(state), "apt-key.asc");
}

/** The lab CA's certificate (PEM): machines trust it (e.g. /usr/local/share/ca-certificates/kubeha-lab.crt). */
export function labCaCertificate(state: string): string {
    return path.join(pkiDir(state), "ca.crt");
}

function addAddresses(netns: string, device: string, addresses: string[], state: string): void {
    const present = run("nsenter", [`--net=${netns}`, "ip", "-o", "-4", "addr", "show"]);
    const added: string[] = [];
    for (const address of addresses) {
        if (present.includes(` ${address}/`)) continue;
        run("nsenter", [`--net=${netns}`, "ip", "addr", "add", `${address}/32`, "dev", device]);
        added.push(address);
    }
    fs.writeFileSync(path.join(state, "addresses"), added.map((address) => `${address} ${device}\n`).join(""));
}

export async function startMirrors(options: StartMirrorsOptions): Promise<LabMirrors> {
    const log = options.log ?? (() => undefined);
    const { state, netns, content, binDir } = options;
    const addresses = options.addresses ?? labServices;
    const timings: Record<string, number> = {};
    let mark = Date.now();
    const phase = (name: string) => {
        const now = Date.now();
        timings[name] = now - mark;
        mark = now;
        log(`mirrors: ${name} ${timings[name]} ms`);
    };
    fs.mkdirSync(state, { recursive: true, mode: 0o700 });
    await stopServers({ netns, state });
    if (options.device)
        addAddresses(netns, options.device, [addresses.mirror, addresses.registry, addresses.dns], state);

    const pki = labPki(pkiDir(state), { [labNames.mirror]: addresses.mirror, [labNames.registry]: addresses.registry });
    const key = labAptKey(pkiDir(state), options.lab);
    phase("keys");
    const root = labDocumentRoot(content, key, path.join(state, "www"));
    // Signed: the agent would only hold an inotify instance of the few root may have (lab/base-image.sh says why).
    stopGpgAgent(pkiDir(state));
    phase("signed repositories");

    const dirs = { netns, state };
    const mirrorCert = pki.servers[labNames.mirror];
    const registryCert = pki.servers[labNames.registry];
    await Promise.all([
        startNginx(dirs, { address: addresses.mirror, serverName: labNames.mirror, root, ...mirrorCert }),
        startRegistry(dirs, { binary: path.join(binDir, "registry"), address: addresses.registry, ...registryCert }),
        startDns(dirs, {
            binary: path.join(binDir, "coredns"),
            address: addresses.dns,
            records: {
                ...options.records,
                [labNames.mirror]: addresses.mirror,
                [labNames.registry]: addresses.registry,
            },
        }),
    ]);
    phase("servers");

    const registry: RegistryTarget = {
        netns,
        address: addresses.registry,
        name: labNames.registry,
        caCertificate: pki.caCertificate,
        crane: path.join(binDir, "crane"),
    };
    const images = pushImages(content, registry);
    phase("images");
    fs.writeFileSync(path.join(state, "images.txt"), `${images.join("\n")}\n`);
    fs.writeFileSync(registryFile(state), JSON.stringify(registry));
    return {
        state,
        netns,
        caCertificate: pki.caCertificate,
        aptKeyFile: key.publicKeyFile,
        aptKeyFingerprint: key.fingerprint,
        images,
        registry,
        urls: mirrorUrls(),
        timings,
    };
}

/** Ends the mirror servers of a lab; `remove` also deletes its mirrors state dir (CA, keys, registry storage). */
export async function stopMirrors(options: { state: string; netns: string; remove?: boolean }): Promise<void> {
    const { state, netns } = options;
    await stopServers({ netns, state });
    stopGpgAgent(pkiDir(state));
    const addedFile = path.join(state, "addresses");
    if (fs.existsSync(addedFile) && fs.existsSync(netns)) {
        for (const line of fs.readFileSync(addedFile, "utf8").split("\n").filter(Boolean)) {
            const [address, device] = line.split(" ");
            try {
                run("nsenter", [`--net=${netns}`, "ip", "addr", "del", `${address}/32`, "dev", device]);
            } catch {
                // The link went with the namespace.
            }
        }
        fs.rmSync(addedFile);
    }
    if (options.remove) fs.rmSync(state, { recursive: true, force: true });
}

/** Loads an OCI or docker archive into a running lab's registry; returns `registry.kubeha.lab/<repo>:<tag>@<digest>`. */
export function loadImage(file: string, mirrors: Pick<LabMirrors, "registry">): string {
    return loadArchive(file, mirrors.registry);
}

const registryFile = (state: string) => path.join(state, "registry.json");

/** loadImage for a lab started by another process (`npm run lab -- load-image`): the registry from its state dir. */
export function loadLabImage(state: string, file: string): string {
    if (!fs.existsSync(registryFile(state))) throw new Error(`lab: no running lab registry in ${state}`);
    return loadArchive(file, JSON.parse(fs.readFileSync(registryFile(state), "utf8")) as RegistryTarget);
}

/** The reference, with its digest, of the lab's test workload image (busybox httpd; content.ts). */
export function labTestImage(state: string): string {
    const images = fs.readFileSync(path.join(state, "images.txt"), "utf8").split("\n");
    const found = images.find((image) => image.includes(`/${labTestImageRepository}:${labTestImageTag}@`));
    if (!found) throw new Error(`lab: the registry in ${state} holds no ${labTestImageRepository}`);
    return found;
}

/** Adds name → address records to the lab's DNS (CoreDNS's hosts plugin re-reads its file within seconds). */
export function setDnsRecords(state: string, records: Record<string, string>, removed: readonly string[] = []): void {
    const file = dnsHostsFile(state);
    const current = new Map<string, string>();
    for (const line of fs.readFileSync(file, "utf8").split("\n").filter(Boolean)) {
        const [address, name] = line.split(" ");
        current.set(name, address);
    }
    for (const [name, address] of Object.entries(records)) current.set(name, address);
    for (const name of removed) current.delete(name);
    const lines = [...current].map(([name, address]) => `${address} ${name}`);
    fs.writeFileSync(`${file}.new`, `${lines.join("\n")}\n`);
    fs.renameSync(`${file}.new`, file);
}

/** The stack's `kubeha:mirrors` for a running lab (the images pinned by the digests the lab registry serves). */
export function labStackMirrors(mirrors: Pick<LabMirrors, "urls" | "images" | "aptKeyFingerprint">): MirrorOverrides {
    const find = (repository: string, tag?: string) => {
        const image = mirrors.images.find((reference) => {
            const parts = parseImageReference(reference);
            return `${parts.repository}/${parts.name}` === repository && (tag === undefined || parts.tag === tag);
        });
        if (!image) throw new Error(`mirrors: the lab registry holds no ${repository}${tag ? `:${tag}` : ""}`);
        return image;
    };
    const { urls } = mirrors;
    return {
        preset: "global",
        ubuntuApt: urls.ubuntuApt,
        kubernetesApt: urls.kubernetesApt,
        kubernetesAptKey: mirrors.aptKeyFingerprint,
        containerdApt: urls.containerdApt,
        containerdAptKey: mirrors.aptKeyFingerprint,
        etcdReleases: urls.etcdReleases,
        kubernetesImages: urls.kubernetesImages,
        flannelImages: urls.flannelImages,
        images: {
            pause: find(`${urls.kubernetesImages}/pause`, pauseImageTag),
            flannel: find(`${urls.flannelImages}/flannel`),
            flannelCniPlugin: find(`${urls.flannelImages}/flannel-cni-plugin`),
        },
    };
}
