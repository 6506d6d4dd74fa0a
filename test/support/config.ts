// A validated ClusterConfig and its address plan from a few stack settings, for render and unit tests.
import { clusterLayout, PlannedHost } from "../../config/layout";
import { ClusterConfig, resolveConfig } from "../../config/resolve";

export const testRegions = { aliyun: "cn-hangzhou", aws: "eu-central-1" };

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
