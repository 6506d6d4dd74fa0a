// Writes a plan to disk in the layout other tools rely on (see README, "Offline plan"). Everything
// is derived from the recorded resources: host files from the bundles the files steps carry, step
// scripts from the remote commands, manifests from the Kubernetes resources.
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { bundleInStdin, carriesBundle, decodeBundle } from "../render/file-bundle";
import { schedule } from "./latency";
import { secretPlaceholder } from "./recorder";
import { PlannedResource, PlanResult } from "./run";

const remoteCommand = "command:remote:Command";

export function writePlan(plan: PlanResult, outDir: string): void {
    fs.rmSync(outDir, { recursive: true, force: true });
    const write = (relative: string, content: string) => {
        const target = path.join(outDir, relative);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, content);
    };
    write("resources.json", `${JSON.stringify(plan.resources, null, 2)}\n`);
    write("invokes.json", `${JSON.stringify(plan.invokes, null, 2)}\n`);
    write("outputs.json", `${JSON.stringify(plan.outputs, null, 2)}\n`);
    write("summary.md", summary(plan));
    for (const [file, content] of Object.entries(hostFiles(plan.resources))) write(path.join("hosts", file), content);
    for (const [file, content] of Object.entries(manifests(plan.resources)))
        write(path.join("manifests", file), content);
    if (plan.kubeconfig !== undefined) write("kubeconfig", plan.kubeconfig);
}

function summary(plan: PlanResult): string {
    const timeline = schedule(plan.resources);
    const counts = new Map<string, number>();
    for (const resource of plan.resources) counts.set(resource.type, (counts.get(resource.type) ?? 0) + 1);
    const lines = [
        `# Plan for stack ${plan.stack}`,
        "",
        `${plan.resources.length} resources.`,
        "",
        "## Resources by type",
        "",
        "| type | count |",
        "| --- | ---: |",
        ...[...counts].sort(([a], [b]) => a.localeCompare(b)).map(([type, count]) => `| ${type} | ${count} |`),
        "",
        "## Warnings",
        "",
        ...(plan.warnings.length > 0 ? plan.warnings.map((warning) => `- ${warning}`) : ["None."]),
        "",
        "## Critical path",
        "",
        `Modeled time to a ready cluster: ${timeline.minutes.toFixed(1)} minutes (plan/latency.ts documents the figures).`,
        "",
        "| finished at | resource | type |",
        "| ---: | --- | --- |",
        ...timeline.criticalPath.map(
            (item) => `| ${formatSeconds(item.finishSeconds)} | ${item.name} | ${item.type} |`,
        ),
        "",
    ];
    return lines.join("\n");
}

function formatSeconds(seconds: number): string {
    return `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`;
}

/**
 * Per host, keyed by path under hosts/: `<host>/user-data` (decoded), `<host>/files/<absolute path>`
 * for every file the files steps install (key files only when secrets are shown), and
 * `<host>/steps/NN-<step>.sh` for every remote command, in dependency order.
 */
export function hostFiles(resources: PlannedResource[]): Record<string, string> {
    const files: Record<string, string> = {};
    const hosts = resources.filter((resource) => resource.type.endsWith(":Instance")).map((resource) => resource.name);
    const hostOf = (name: string) => hosts.find((host) => name.startsWith(`${host}-`));
    const hostByAddress = new Map(
        resources
            .filter((resource) => hosts.includes(resource.name) && typeof resource.inputs.privateIp === "string")
            .map((resource) => [resource.inputs.privateIp as string, resource.name]),
    );
    for (const resource of resources) {
        if (!hosts.includes(resource.name)) continue;
        const userData = resource.inputs.userData ?? resource.inputs.userDataBase64;
        if (typeof userData !== "string") continue;
        const document = decodeUserData(userData);
        files[`${resource.name}/user-data`] = document;
        // Files cloud-init writes at first boot land on the host too.
        const { write_files: written = [] } = (parseYaml(document) ?? {}) as {
            write_files?: { path: string; content?: string; encoding?: string }[];
        };
        for (const file of written) {
            const base64 = file.encoding === "b64" || file.encoding === "base64";
            files[`${resource.name}/files${file.path}`] = base64
                ? Buffer.from(file.content ?? "", "base64").toString("utf8")
                : (file.content ?? "");
        }
    }
    const stepCounts = new Map<string, number>();
    for (const step of dependencyOrder(resources.filter((resource) => resource.type === remoteCommand))) {
        const host = hostOf(step.name);
        if (!host) continue;
        const stepName = step.name.slice(host.length + 1);
        const number = (stepCounts.get(host) ?? 0) + 1;
        stepCounts.set(host, number);
        files[`${host}/steps/${String(number).padStart(2, "0")}-${stepName}.sh`] = stepScript(step, hostByAddress);
        const stdin = step.inputs.stdin;
        if (typeof stdin === "string" && stdin !== secretPlaceholder && carriesBundle(stdin)) {
            for (const file of decodeBundle(bundleInStdin(stdin))) files[`${host}/files${file.path}`] = file.content;
        }
    }
    return files;
}

/** What a step runs and where, with the environment it passes (secret values redacted unless shown). */
function stepScript(step: PlannedResource, hostByAddress: Map<string, string>): string {
    const environment = (step.inputs.environment ?? {}) as Record<string, unknown>;
    const connection = step.inputs.connection as { host?: string; proxy?: unknown } | string | undefined;
    const target =
        typeof connection !== "object"
            ? "its host (connection is secret: --show-secrets tells which)"
            : connection.proxy
              ? `${hostByAddress.get(String(connection.host)) ?? connection.host}, through the bastion`
              : "the bastion";
    const lines = [
        "#!/bin/sh",
        `# ${step.name}: runs over SSH on ${target}; after: ${step.dependencies.join(", ") || "-"}`,
        ...(step.inputs.triggers ? [`# re-runs when these change: ${JSON.stringify(step.inputs.triggers)}`] : []),
        ...Object.entries(environment).map(([key, value]) => `# env ${key}=${String(value)}`),
        String(step.inputs.create ?? ""),
        ...(step.inputs.delete ? ["# on delete:", `# ${String(step.inputs.delete)}`] : []),
        "",
    ];
    return lines.join("\n");
}

/** Resources ordered so that each comes after everything it depends on (ties by name). */
function dependencyOrder(resources: PlannedResource[]): PlannedResource[] {
    const byName = new Map(resources.map((resource) => [resource.name, resource]));
    const ordered: PlannedResource[] = [];
    const visited = new Set<string>();
    const visit = (resource: PlannedResource) => {
        if (visited.has(resource.name)) return;
        visited.add(resource.name);
        for (const dependency of resource.dependencies) {
            const target = byName.get(dependency);
            if (target) visit(target);
        }
        ordered.push(resource);
    };
    [...resources].sort((a, b) => a.name.localeCompare(b.name)).forEach(visit);
    return ordered;
}

/** Clouds take user-data as text or base64, possibly gzip-compressed; the plan shows the document, decoded. */
function decodeUserData(value: string): string {
    if (value.startsWith("#")) return value;
    const bytes = Buffer.from(value, "base64");
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    return (gzip ? gunzipSync(bytes) : bytes).toString("utf8");
}

/** Every Kubernetes object the program applies, as YAML, keyed by file name under manifests/. */
function manifests(resources: PlannedResource[]): Record<string, string> {
    const files: Record<string, string> = {};
    for (const resource of resources) {
        const match = /^kubernetes:([^:]+)\/([^:/]+):([A-Za-z]+)$/.exec(resource.type);
        if (!match || match[1] === "helm.sh" || match[1] === "yaml") continue;
        const [, group, version, kind] = match;
        const object = { apiVersion: group === "core" ? version : `${group}/${version}`, kind, ...resource.inputs };
        const metadata = (resource.inputs.metadata ?? {}) as { name?: string; namespace?: string };
        const file = [kind, metadata.namespace, metadata.name ?? resource.name].filter(Boolean).join("-").toLowerCase();
        files[`${file}.yaml`] = toYaml(object);
    }
    return files;
}
