// What a system test needs to know about a planned cluster: the stack's configuration, the address plan
// the program used (checked against the plan's outputs), and every file the plan puts on each host, from
// both ways files get there: cloud-init's write_files in the host's user-data, and the files steps'
// bundles (`hosts/<host>/files/<absolute path>`).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { PlannedHost, clusterLayout } from "../../../config/layout";
import { ClusterConfig, configNamespace, regionKeys, resolveConfig } from "../../../config/resolve";
import { Cloud } from "../../../config/schema";
import { Plan, plan, projectDir } from "../../support/plan";

export interface PlannedCluster {
    readonly plan: Plan;
    readonly config: ClusterConfig;
    /** Every host, bastion included, as the program laid them out. */
    readonly layout: PlannedHost[];
}

interface PlanOutputs {
    readonly zones: string[];
    readonly hosts: Record<string, { readonly privateIp: string; readonly role: string }>;
}

/** The plan of a stack with its secrets (keys are needed to run etcd), and the layout behind it. */
export function plannedCluster(stack: string): PlannedCluster {
    const planned = plan({ stack, showSecrets: true });
    const config = stackConfig(stack);
    const outputs = planned.outputs as unknown as PlanOutputs;
    const layout = clusterLayout(config, outputs.zones.length);
    assert.deepEqual(
        Object.fromEntries(layout.map((host) => [host.name, host.privateIp])),
        Object.fromEntries(Object.entries(outputs.hosts).map(([name, host]) => [name, host.privateIp])),
        "the plan's hosts are not the address plan of its stack configuration",
    );
    return { plan: planned, config, layout };
}

/** A file the plan puts on host (fails clearly when the plan does not deliver it). */
export function hostFile(cluster: PlannedCluster, host: string, absolutePath: string): string {
    const content = plannedFiles(cluster, host).get(absolutePath);
    assert.ok(content !== undefined, `the plan puts no ${absolutePath} on ${host} (user-data or files/)`);
    return content;
}

/**
 * Every file the plan puts on host, written below dir at its absolute path, byte for byte: the source of
 * the bind mounts that put them at their paths inside the host's namespace.
 */
export function hostRoot(cluster: PlannedCluster, host: string, dir: string): string {
    const root = path.join(dir, "hosts", host);
    if (!fs.existsSync(root)) {
        for (const [file, content] of plannedFiles(cluster, host)) {
            const target = path.join(root, file);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, content);
        }
    }
    return root;
}

/** The prefix length that puts every host of the VPC on one link. */
export function vpcPrefixLength(cluster: PlannedCluster): number {
    return Number(cluster.config.network.vpcCidr.split("/")[1]);
}

interface WriteFile {
    readonly path: string;
    readonly content?: string;
    readonly encoding?: string;
}

const filesCache = new WeakMap<PlannedCluster, Map<string, Map<string, string>>>();

function plannedFiles(cluster: PlannedCluster, host: string): Map<string, string> {
    const byHost = filesCache.get(cluster) ?? new Map<string, Map<string, string>>();
    filesCache.set(cluster, byHost);
    const cached = byHost.get(host);
    if (cached) return cached;

    const files = new Map<string, string>();
    const userData = `hosts/${host}/user-data`;
    if (cluster.plan.exists(userData)) {
        const text = cluster.plan.file(userData);
        assert.ok(text.startsWith("#cloud-config\n"), `${userData} is not a #cloud-config document`);
        const document = parseYaml(text) as { write_files?: WriteFile[] };
        for (const file of document.write_files ?? []) {
            assert.ok(!file.encoding || /^(b64|base64)$/.test(file.encoding), `${file.path}: ${file.encoding}`);
            const content = file.content ?? "";
            files.set(file.path, file.encoding ? Buffer.from(content, "base64").toString("utf8") : content);
        }
    }
    const bundled = path.join(cluster.plan.dir, "hosts", host, "files");
    for (const file of fs.existsSync(bundled) ? listFiles(bundled) : []) {
        const absolute = `/${path.relative(bundled, file)}`;
        const content = fs.readFileSync(file, "utf8");
        const fromUserData = files.get(absolute);
        assert.ok(fromUserData === undefined || fromUserData === content, `${host}: two different ${absolute}`);
        files.set(absolute, content);
    }
    byHost.set(host, files);
    return files;
}

function listFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((entry) =>
            entry.isDirectory() ? listFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
        );
}

function stackConfig(stack: string): ClusterConfig {
    const file = parseYaml(fs.readFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), "utf8")) as {
        config: Record<string, unknown>;
    };
    const values: Record<string, string> = {};
    const regions: Partial<Record<Cloud, string>> = {};
    for (const [key, value] of Object.entries(file.config)) {
        const text = typeof value === "string" ? value : JSON.stringify(value);
        if (key.startsWith(`${configNamespace}:`)) values[key.slice(configNamespace.length + 1)] = text;
        for (const [cloud, regionKey] of Object.entries(regionKeys)) {
            if (key === regionKey) regions[cloud as Cloud] = text;
        }
    }
    const result = resolveConfig({ values, regions });
    if (!result.ok) throw new Error(`Pulumi.${stack}.yaml: ${result.problems.join("; ")}`);
    return result.config;
}
