// Writes a plan to disk in the layout other tools rely on (see README, "Offline plan"). Everything
// is derived from the recorded resources: host files from the bundles the files steps carry, step
// scripts from the remote commands, manifests from the Kubernetes resources.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { bundleInStdin, carriesBundle, decodeBundle } from "../render/file-bundle";
import { FileMode, HostFile } from "../render/host-file";
import { scriptInstallDir, steps } from "../render/steps";
import { schedule } from "./latency";
import { secretPlaceholder } from "./recorder";
import { PlannedResource, PlanResult, remoteCommand } from "./run";

/** A file of the plan, with the mode it gets on the host (keys 0600, scripts 0755). */
interface PlanFile {
    readonly content: string;
    readonly mode: FileMode;
}

/**
 * Writes the plan to outDir, replacing what was there. It is written aside first and moved in place when
 * complete, so outDir never holds half a plan. With secrets shown, only the owner can read it.
 */
export function writePlan(plan: PlanResult, outDir: string, options: { showSecrets: boolean }): void {
    fs.mkdirSync(path.dirname(path.resolve(outDir)), { recursive: true });
    const staging = fs.mkdtempSync(`${path.resolve(outDir)}.partial-`);
    try {
        const made = new Set<string>();
        const write = (relative: string, content: string, mode: FileMode = "0644") => {
            const target = path.join(staging, relative);
            const dir = path.dirname(target);
            if (!made.has(dir)) fs.mkdirSync(dir, { recursive: true });
            made.add(dir);
            fs.writeFileSync(target, content);
            fs.chmodSync(target, parseInt(mode, 8));
        };
        write("resources.json", `${JSON.stringify(plan.resources, null, 2)}\n`);
        write("invokes.json", `${JSON.stringify(plan.invokes, null, 2)}\n`);
        write("outputs.json", `${JSON.stringify(plan.outputs, null, 2)}\n`);
        write("summary.md", summary(plan));
        // Written as they are derived: the files of every host at once would be the plan's largest object.
        for (const [file, { content, mode }] of hostFiles(plan.resources, plan.redactedFiles, plan.userData)) {
            write(path.join("hosts", file), content, mode);
        }
        for (const [file, content] of Object.entries(manifests(plan.resources))) {
            write(path.join("manifests", file), content);
        }
        if (plan.kubeconfig !== undefined) write("kubeconfig", plan.kubeconfig, options.showSecrets ? "0600" : "0644");
        // mkdtemp made the directory 0700: keep it so when it holds secrets.
        if (!options.showSecrets) fs.chmodSync(staging, 0o755);
        removePlan(outDir);
        fs.renameSync(staging, outDir);
    } catch (error) {
        fs.rmSync(staging, { recursive: true, force: true });
        throw error;
    }
}

/** Removes a plan directory, so that a failed run leaves nothing that could be read as its result. */
export function removePlan(outDir: string): void {
    fs.rmSync(outDir, { recursive: true, force: true });
}

/** Pulumi's --parallel values the summary models besides no limit: 4 × CPUs on 64, 8 and 2 cores. */
export const modeledParallelism = [256, 32, 8] as const;

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
        `Modeled time to a ready cluster: ${timeline.minutes.toFixed(1)} minutes, assuming Pulumi creates every ` +
            "resource as soon as its dependencies are done, with no limit on how many at once " +
            "(plan/latency.ts documents the figures).",
        "",
        "`pulumi up --parallel N` allows at most N resource operations at once (default: 4 × the CPUs of the " +
            "machine that runs it); below the number of steps that could run together, steps queue and the " +
            "cluster takes longer:",
        "",
        "| --parallel | modeled minutes |",
        "| ---: | ---: |",
        `| no limit | ${timeline.minutes.toFixed(1)} |`,
        ...modeledParallelism.map(
            (parallel) => `| ${parallel} | ${schedule(plan.resources, parallel).minutes.toFixed(1)} |`,
        ),
        "",
        "The critical path below is the one with no limit:",
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
 * Per host, by path under hosts/: `<host>/user-data` (decoded), `<host>/files/<absolute path>`
 * for every file the files steps install, with its mode on the host (key files only when secrets are shown;
 * without them, secret configuration files with their secret values redacted), and
 * `<host>/steps/NN-<step>.sh` for every remote command, in dependency order. A path given twice (a file cloud-init
 * writes that a step installs again) is written twice, and the later content is the one the host keeps.
 */
function* hostFiles(
    resources: PlannedResource[],
    redactedFiles: Readonly<Record<string, HostFile[]>>,
    userData: Readonly<Record<string, string>>,
): Generator<[string, PlanFile]> {
    // A cloud's instances, or on cloud machines each machine's preparation step (`<machine>-prepare`, its instance).
    const machinesParents = new Set(
        resources.filter((resource) => resource.type === "kubeha:machines:Machines").map((resource) => resource.name),
    );
    const hosts = [
        ...resources.filter((resource) => resource.type.endsWith(":Instance")).map((resource) => resource.name),
        ...resources
            .filter((resource) => resource.type === remoteCommand && machinesParents.has(resource.parent ?? ""))
            .map((resource) => resource.name.replace(/-prepare$/, "")),
    ];
    const hostOf = (name: string) => hosts.find((host) => name.startsWith(`${host}-`));
    const hostByAddress = new Map(
        resources
            .filter((resource) => hosts.includes(resource.name) && typeof resource.inputs.privateIp === "string")
            .map((resource) => [resource.inputs.privateIp as string, resource.name]),
    );
    for (const [host, document] of Object.entries(userData)) {
        yield [`${host}/user-data`, { content: document, mode: "0644" }];
        // Files cloud-init writes at first boot land on the host too (0644 unless it is told otherwise).
        const { write_files: written = [] } = (parseYaml(document) ?? {}) as {
            write_files?: { path: string; content?: string; encoding?: string; permissions?: FileMode }[];
        };
        for (const file of written) {
            const base64 = file.encoding === "b64" || file.encoding === "base64";
            yield [
                `${host}/files${file.path}`,
                {
                    content: base64 ? Buffer.from(file.content ?? "", "base64").toString("utf8") : (file.content ?? ""),
                    mode: file.permissions ?? "0644",
                },
            ];
        }
    }
    const stepCounts = new Map<string, number>();
    for (const step of dependencyOrder(resources.filter((resource) => resource.type === remoteCommand))) {
        const host = hostOf(step.name);
        if (!host) continue;
        const stepName = step.name.slice(host.length + 1);
        const number = (stepCounts.get(host) ?? 0) + 1;
        stepCounts.set(host, number);
        yield [
            `${host}/steps/${String(number).padStart(2, "0")}-${stepName}.sh`,
            { content: stepScript(step, host, stepName, hostByAddress), mode: "0644" },
        ];
        const stdin = step.inputs.stdin;
        const carried =
            typeof stdin === "string" && stdin !== secretPlaceholder && carriesBundle(stdin)
                ? decodeBundle(bundleInStdin(stdin))
                : (redactedFiles[step.name] ?? []);
        for (const file of carried) yield [`${host}/files${file.path}`, { content: file.content, mode: file.mode }];
    }
}

/** What a step runs and where, with the environment it passes (secret values redacted unless shown). */
function stepScript(step: PlannedResource, host: string, stepName: string, hostByAddress: Map<string, string>): string {
    const environment = (step.inputs.environment ?? {}) as Record<string, unknown>;
    const connection = step.inputs.connection as { host?: string; proxy?: unknown } | undefined;
    const target = connection?.proxy ? (hostByAddress.get(String(connection.host)) ?? connection.host) : "the bastion";
    const route = connection?.proxy ? `${target}, through the bastion` : "the bastion";
    const command = String(step.inputs.create ?? step.inputs.update ?? step.inputs.delete ?? "");
    const when = step.inputs.create
        ? ""
        : step.inputs.update
          ? ", when its inputs change, not when it is created"
          : ", when the resource is deleted (the host or node goes)";
    const lines = [
        "#!/bin/sh",
        `# ${step.name}: runs over SSH on ${route}${target === host ? "" : `, on behalf of ${host}`}${when}`,
        `# runs: ${whatRuns(command, stepName)}`,
        `# after: ${step.dependencies.join(", ") || "-"}`,
        ...(step.inputs.triggers
            ? [
                  `# ${step.inputs.update && !step.inputs.create ? "replaced (running nothing)" : "re-runs"} when these change: ${JSON.stringify(step.inputs.triggers)}`,
              ]
            : []),
        ...Object.entries(environment).map(([key, value]) => `# env ${key}=${String(value)}`),
        command,
        // A step that also acts when deleted (a machine's preparation, whose delete resets the machine).
        ...(step.inputs.create && step.inputs.delete
            ? [
                  "# when the resource is deleted (the host leaves the stack, or pulumi destroy):",
                  String(step.inputs.delete),
              ]
            : []),
        "",
    ];
    return lines.join("\n");
}

/** The script a step's command runs: piped to `bash -s` (a standalone step), or the copy installed on the host. */
function whatRuns(command: string, stepName: string): string {
    const installed = new RegExp(`${scriptInstallDir}/(\\S+)`).exec(command);
    if (installed) return `${installed[0]}, the installed copy of scripts/${installed[1]}`;
    const standalone = Object.values(steps).find(
        (step) => "standalone" in step && step.standalone && step.name === stepName,
    );
    if (/\bbash -s$/.test(command) && standalone) {
        return `scripts/${standalone.script}, sent on stdin to bash -s${"stdin" in standalone ? `, followed by ${standalone.stdin}` : ""}`;
    }
    return "the command below";
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
