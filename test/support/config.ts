// A validated ClusterConfig and its address plan from a few stack settings, for render and unit tests.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { clusterLayout, PlannedHost } from "../../config/layout";
import type { HostKey } from "../../render/cloud-init";
import { ClusterConfig, resolveConfig } from "../../config/resolve";

export const testRegions = { aliyun: "cn-hangzhou", aws: "eu-central-1" };

/**
 * A stack file of the project (Pulumi.<stack>.yaml): its `config:` as written, and its `kubeha:*` values as Pulumi
 * hands them to the program (strings, JSON for the rest), for resolveConfig.
 */
export function stackFileConfig(stack: string): { config: Record<string, unknown>; values: Record<string, string> } {
    const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
    const { config } = parseYaml(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const values = Object.fromEntries(
        Object.entries(config).map(([key, value]) => [
            key.replace(/^kubeha:/, ""),
            typeof value === "string" ? value : JSON.stringify(value),
        ]),
    );
    return { config, values };
}

/** The config `pulumi up` would see with these `kubeha:*` values (objects given as objects). */
export function configFor(
    values: Record<string, unknown>,
    regions: Record<string, string> = testRegions,
): ClusterConfig {
    const text = Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
    );
    const result = resolveConfig({ values: text, regions });
    if (!result.ok) throw new Error(result.problems.join("\n"));
    return result.config;
}

/** The address plan over the configured zones, or three. */
export function layoutOf(config: ClusterConfig): PlannedHost[] {
    return clusterLayout(config, config.zones?.length ?? 3);
}

let hostKey: HostKey | undefined;

/** A real Ed25519 SSH host key from ssh-keygen, made once per test process. */
export function testHostKey(): HostKey {
    if (!hostKey) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-host-key-"));
        const file = path.join(dir, "key");
        const made = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file], {
            encoding: "utf8",
        });
        if (made.status !== 0) throw new Error(`ssh-keygen: ${made.stderr}`);
        hostKey = {
            privateKey: fs.readFileSync(file, "utf8"),
            publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim(),
        };
        fs.rmSync(dir, { recursive: true, force: true });
    }
    return hostKey;
}
