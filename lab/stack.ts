// The stack a lab builds: the user's stack file (Pulumi.<stack>.yaml) with the lab's mirrors, their signing key and
// image digests, and the cloud integration off (its controllers call the cloud's API, which the lab does not have).
// Nothing else changes: the lab prints exactly this difference.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { labNames } from "./paths";

/** What the lab's mirrors hold that the stack must name: the apt key they are signed with, the images' digests. */
export interface LabMirrorFacts {
    /** Fingerprint of the lab's apt signing key (40 hex digits). */
    readonly aptKeyFingerprint: string;
    /** Digest of each addon image the lab's registry holds, by its key in config/versions.ts addonImages. */
    readonly addonImageDigests: Readonly<Record<string, string>>;
}

const projectDir = path.resolve(__dirname, "..");

/** The mirror base URLs and image repositories of the lab (lab/mirrors serves this layout). */
export const labMirrorLocations = {
    kubernetesApt: `https://${labNames.mirror}/kubernetes`,
    containerdApt: `https://${labNames.mirror}/docker/linux/ubuntu`,
    ubuntuApt: `https://${labNames.mirror}/debian`,
    etcdReleases: `https://${labNames.mirror}/etcd`,
    kubernetesImages: `${labNames.registry}/google_containers`,
    flannelImages: `${labNames.registry}/flannel-io`,
    dashboardImages: `${labNames.registry}/kubernetesui`,
    headlampImages: `${labNames.registry}/headlamp-k8s`,
} as const;

/** The stack file's `config:` as the user wrote it. */
export function userStackConfig(stack: string): Record<string, unknown> {
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`lab: no stack file ${file}`);
    return (parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> }).config ?? {};
}

/** The keys the lab sets, each with its value: the whole difference between the user's stack and the lab's. */
export function labStackChanges(stack: string, facts: LabMirrorFacts): Record<string, unknown> {
    const user = userStackConfig(stack);
    const userMirrors = (user["kubeha:mirrors"] ?? {}) as Record<string, unknown>;
    const mirrors: Record<string, unknown> = { ...userMirrors, ...labMirrorLocations };
    mirrors.aptKeys = { kubernetes: facts.aptKeyFingerprint, docker: facts.aptKeyFingerprint };
    mirrors.images = Object.fromEntries(
        Object.entries(facts.addonImageDigests).map(([image, digest]) => [image, { digest }]),
    );
    return { "kubeha:mirrors": mirrors, "kubeha:cloudIntegration": false };
}

/** Writes the lab's stack file (the `--config` of `npm run plan`) and returns its path. */
export function writeLabStackFile(stack: string, facts: LabMirrorFacts, dir: string): string {
    const config = { ...userStackConfig(stack), ...labStackChanges(stack, facts) };
    const file = path.join(dir, `Pulumi.${stack}.lab.yaml`);
    fs.writeFileSync(file, toYaml({ config }));
    return file;
}

/** The difference as lines for people: `kubeha:mirrors.kubernetesApt: https://...`. */
export function describeLabStackChanges(changes: Record<string, unknown>): string[] {
    const lines: string[] = [];
    const walk = (prefix: string, value: unknown) => {
        if (value && typeof value === "object" && !Array.isArray(value)) {
            for (const [key, inner] of Object.entries(value)) walk(`${prefix}.${key}`, inner);
        } else lines.push(`${prefix}: ${JSON.stringify(value)}`);
    };
    for (const [key, value] of Object.entries(changes)) walk(key, value);
    return lines;
}
