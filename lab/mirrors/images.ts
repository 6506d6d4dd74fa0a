// Images in the lab registry, made and moved by crane only (no OCI code here):
//
//   pushImages(content, target) → references `registry.kubeha.lab/<repo>:<tag>@sha256:...`: each image is
//       `crane append --oci-empty-base` of its cached layer tars, then `crane mutate` (platform linux/amd64,
//       entrypoint, env). Layers and configs are deterministic, so the digests are the same in every lab.
//   loadImage(file, target) → the reference of an OCI or docker archive pushed under the registry's name with the
//       archive's own repository path and tag (its registry host dropped: `ghcr.io/flannel-io/flannel:v1` becomes
//       `registry.kubeha.lab/flannel-io/flannel:v1`; `foo:1` becomes `registry.kubeha.lab/library/foo:1`).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ImageSpec, MirrorContent } from "./content";
import { run } from "../command";

export interface RegistryTarget {
    /** Path of the lab's network namespace (`/run/netns/kubeha-lab-<lab>`). */
    readonly netns: string;
    /** The registry's address (crane connects to it; the certificate names it too). */
    readonly address: string;
    /** The registry's name in references (`registry.kubeha.lab`). */
    readonly name: string;
    /** The lab CA's certificate, which crane trusts (SSL_CERT_FILE). */
    readonly caCertificate: string;
    /** The crane binary. */
    readonly crane: string;
}

function crane(target: RegistryTarget, args: readonly string[]): string {
    return run("nsenter", [`--net=${target.netns}`, target.crane, ...args], {
        env: { ...process.env, SSL_CERT_FILE: target.caCertificate },
    }).trim();
}

/** `<name>/<repo>:<tag>@<digest>` of an image pushed at `<address>/<repo>:<tag>`. */
function reference(target: RegistryTarget, repository: string, tag: string): string {
    const digest = crane(target, ["digest", `${target.address}/${repository}:${tag}`]);
    return `${target.name}/${repository}:${tag}@${digest}`;
}

export function pushImage(target: RegistryTarget, image: ImageSpec): string {
    const ref = `${target.address}/${image.repository}:${image.tag}`;
    crane(target, ["append", "--oci-empty-base", ...image.layers.flatMap((layer) => ["-f", layer]), "-t", ref]);
    crane(target, [
        ...["mutate", ref, "--set-platform", "linux/amd64", "-t", ref],
        ...(image.entrypoint ? ["--entrypoint", image.entrypoint.join(",")] : []),
        ...(image.user ? ["--user", image.user] : []),
        ...image.env.flatMap((variable) => ["-e", variable]),
    ]);
    return reference(target, image.repository, image.tag);
}

export function pushImages(content: MirrorContent, target: RegistryTarget): string[] {
    return content.images.map((image) => pushImage(target, image));
}

/** `host/path:tag` → `path:tag` without the registry host (a first element with a dot or colon, or localhost). */
function repositoryPath(name: string): { repository: string; tag: string } {
    const withoutDigest = name.split("@")[0];
    const slash = withoutDigest.lastIndexOf("/");
    const colon = withoutDigest.lastIndexOf(":");
    const [repoPart, tag] =
        colon > slash ? [withoutDigest.slice(0, colon), withoutDigest.slice(colon + 1)] : [withoutDigest, "latest"];
    const parts = repoPart.split("/");
    if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === "localhost")) parts.shift();
    if (parts.length === 1) parts.unshift("library");
    return { repository: parts.join("/"), tag };
}

/** Loads an OCI archive (index.json) or a docker archive (manifest.json) into the lab registry; returns its reference. */
export function loadImage(file: string, target: RegistryTarget): string {
    const members = run("tar", ["-tf", file])
        .split("\n")
        .map((member) => member.replace(/^\.\//, ""));
    if (members.includes("manifest.json") && !members.includes("index.json")) {
        const manifest = JSON.parse(run("tar", ["-xOf", file, "manifest.json"])) as { RepoTags?: string[] }[];
        const name = manifest[0]?.RepoTags?.[0];
        if (!name) throw new Error(`${file}: the docker archive names no repository and tag (RepoTags)`);
        const { repository, tag } = repositoryPath(name);
        crane(target, ["push", file, `${target.address}/${repository}:${tag}`]);
        return reference(target, repository, tag);
    }
    if (!members.includes("index.json")) throw new Error(`${file}: neither an OCI archive nor a docker archive`);
    const layout = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-load-image-"));
    try {
        run("tar", ["-xf", file, "-C", layout]);
        const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as {
            manifests: { annotations?: Record<string, string> }[];
        };
        const annotations = index.manifests[0]?.annotations ?? {};
        const name = annotations["io.containerd.image.name"] ?? annotations["org.opencontainers.image.ref.name"];
        if (!name || !/[/:]/.test(name))
            throw new Error(`${file}: the OCI archive names no repository (io.containerd.image.name, image.ref.name)`);
        const { repository, tag } = repositoryPath(name);
        crane(target, ["push", layout, `${target.address}/${repository}:${tag}`]);
        return reference(target, repository, tag);
    } finally {
        fs.rmSync(layout, { recursive: true, force: true });
    }
}
