// The stack a lab builds: the user's stack file (Pulumi.<stack>.yaml) with the lab's mirrors, their signing key and
// image digests, the cloud integration off (its controllers call the cloud's API, which the lab does not have),
// kubeadm's SystemVerification skipped (cgroup v1) and no web UI (its images cannot be built here). Nothing else changes: the lab prints exactly this difference.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import type { MirrorOverrides } from "../config/mirrors";
import { ClusterConfig, configNamespace, regionKeys, resolveConfig } from "../config/resolve";

const projectDir = path.resolve(__dirname, "..");

/** The stack file's `config:` as the user wrote it. */
export function userStackConfig(stack: string): Record<string, unknown> {
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`lab: no stack file ${file}`);
    return (parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> }).config ?? {};
}

/** The stack's settings as the program resolves them (defaults filled in); a broken stack file throws. */
export function resolvedStackConfig(config: Record<string, unknown>): ClusterConfig {
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(config))
        if (key.startsWith(`${configNamespace}:`))
            values[key.slice(configNamespace.length + 1)] = typeof value === "string" ? value : JSON.stringify(value);
    const regions = Object.fromEntries(
        Object.entries(regionKeys).flatMap(([cloud, key]) => (config[key] ? [[cloud, String(config[key])]] : [])),
    );
    const result = resolveConfig({ values, regions });
    if (!result.ok) throw new Error(`lab: the stack's settings: ${result.problems.join("; ")}`);
    return result.config;
}

/**
 * The keys the lab sets, each with its value: the whole difference between the user's stack and the lab's. `mirrors`
 * is what the lab's mirrors serve (lab/mirrors labStackMirrors): URLs, the lab key's fingerprint, re-packed digests.
 */
export function labStackChanges(stack: string, mirrors: MirrorOverrides, workers?: number): Record<string, unknown> {
    const user = userStackConfig(stack);
    const changes = labSettings(user, mirrors);
    if (workers !== undefined) {
        const userWorkers = (user["kubeha:workers"] ?? {}) as Record<string, unknown>;
        changes["kubeha:workers"] = { ...userWorkers, count: workers };
    }
    return changes;
}

/** The settings every lab stack gets over the user's `config` (lab/plain-machines.ts writes its own stack). */
export function labSettings(user: Record<string, unknown>, mirrors: MirrorOverrides): Record<string, unknown> {
    return {
        "kubeha:mirrors": mirrors,
        "kubeha:cloudIntegration": false,
        // kubeadm >= 1.35 fails SystemVerification on cgroup v1, which the lab's host mounts (forced-differences.ts).
        "kubeha:ignorePreflightErrors": ["SystemVerification"],
        // The web UI's images cannot be built here (their front ends need npm builds of sources the registries do not
        // serve): its pods would never start, and the kubernetes provider would wait for them until it fails.
        "kubeha:addons": { ...((user["kubeha:addons"] ?? {}) as Record<string, unknown>), dashboard: "none" },
    };
}

/** Writes the lab's stack file (the `--config` of `npm run plan`) and returns its path. */
export function writeLabStackFile(stack: string, changes: Record<string, unknown>, dir: string): string {
    const config = { ...userStackConfig(stack), ...changes };
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
