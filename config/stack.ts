// Reads the stack configuration through pulumi.Config and validates it before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig, configNamespace, regionKeys, resolveConfig } from "./resolve";
import { Cloud } from "./schema";

/** Every configuration problem at once, one line each. */
export class ConfigError extends pulumi.RunError {
    constructor(readonly problems: string[]) {
        super(
            `The stack configuration has ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join("\n")}`,
        );
        this.name = "ConfigError";
    }
}

export interface LoadedConfig {
    readonly config: ClusterConfig;
    readonly warnings: string[];
}

export function loadStackConfig(): LoadedConfig {
    const kubeha = new pulumi.Config(configNamespace);
    // Every key set in the stack, known or not, so that a misspelled key is reported rather than ignored.
    const allKeys = Object.keys(pulumi.runtime.allConfig());
    const keys = allKeys
        .filter((key) => key.startsWith(`${configNamespace}:`))
        .map((key) => key.slice(configNamespace.length + 1));
    const values: Record<string, string> = {};
    for (const key of keys) {
        const value = kubeha.get(key);
        if (value !== undefined) values[key] = value;
    }
    const regions: Partial<Record<Cloud, string>> = {};
    for (const [cloud, key] of Object.entries(regionKeys) as [Cloud, string][]) {
        const [namespace, name] = key.split(":");
        const region = new pulumi.Config(namespace).get(name);
        if (region) regions[cloud] = region;
    }
    const otherKeys = allKeys.filter((key) => !key.startsWith(`${configNamespace}:`));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };
    const plainKeys = allKeys.filter((key) => !isConfigSecret(key));
    const result = resolveConfig({ values, regions, otherKeys, plainKeys });
    if (!result.ok) throw new ConfigError(result.problems);
    return { config: result.config, warnings: result.warnings };
}
