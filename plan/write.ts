// Writes a plan to disk in the layout other tools rely on (see README, "Offline plan").
import * as fs from "node:fs";
import * as path from "node:path";
import { PlannedResource, PlanResult } from "./run";

export function writePlan(plan: PlanResult, outDir: string): void {
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, "resources.json"), `${JSON.stringify(plan.resources, null, 2)}\n`);
    fs.writeFileSync(path.join(outDir, "outputs.json"), `${JSON.stringify(plan.outputs, null, 2)}\n`);
    fs.writeFileSync(path.join(outDir, "summary.md"), summary(plan));
    for (const [file, content] of Object.entries(hostFiles(plan.resources))) {
        const target = path.join(outDir, "hosts", file);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, content);
    }
}

function summary(plan: PlanResult): string {
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
    ];
    return lines.join("\n");
}

/** `<host>/user-data` for every host instance, keyed by path under hosts/. */
export function hostFiles(resources: PlannedResource[]): Record<string, string> {
    const files: Record<string, string> = {};
    for (const resource of resources) {
        if (!resource.type.endsWith(":Instance")) continue;
        const userData = resource.inputs.userData ?? resource.inputs.userDataBase64;
        if (typeof userData === "string") files[`${resource.name}/user-data`] = decodeUserData(userData);
    }
    return files;
}

/** Clouds take user-data as text or base64; the plan shows what the instance receives, decoded. */
function decodeUserData(value: string): string {
    if (value.startsWith("#")) return value;
    const decoded = Buffer.from(value, "base64").toString("utf8");
    return decoded.startsWith("#") ? decoded : value;
}
