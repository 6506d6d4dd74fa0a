// checkov (PyPI; installed by .ci/run into a venv, as moto is) and what the test reads from it: each failed,
// passed and skipped check per file group, compared with the accepted findings (test/fixtures/cis-accepted.json).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

/** Where .ci/run installs checkov: a venv of its own under the user's cache. */
export const checkovVenv = path.join(
    process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"),
    "kubeha",
    "checkov",
);
export const checkovBinary = path.join(checkovVenv, "bin", "checkov");

export function checkovSkipReason(): string | undefined {
    return fs.existsSync(checkovBinary)
        ? undefined
        : `checkov is not installed in ${checkovVenv} (.ci/run installs it: python3 -m venv ${checkovVenv} && ${checkovVenv}/bin/pip install checkov)`;
}

export type Outcome = "passed" | "failed" | "skipped";

export interface Finding {
    readonly group: string;
    readonly check: string;
    readonly name: string;
    /** checkov's resource id: Kind.namespace.name */
    readonly resource: string;
    readonly file: string;
    readonly outcome: Outcome;
}

interface CheckovRecord {
    readonly check_id: string;
    readonly check_name: string;
    readonly resource: string;
    readonly file_path: string;
}

interface CheckovReport {
    readonly check_type: string;
    readonly results: Record<"passed_checks" | "failed_checks" | "skipped_checks", CheckovRecord[]>;
    readonly summary: { readonly parsing_errors: number };
}

/**
 * checkov's Kubernetes checks on every file below dir, in one run (its start-up alone takes seconds); the group of
 * a file is its first directory under dir. Offline: nothing is downloaded, nothing is sent.
 */
export function runCheckov(dir: string): Finding[] {
    const result = spawnSync(
        checkovBinary,
        ["--framework", "kubernetes", "--directory", dir, "--output", "json", "--compact", "--skip-download"],
        {
            encoding: "utf8",
            timeout: 600_000,
            maxBuffer: 256 * 1024 * 1024,
            env: { ...process.env, LOG_LEVEL: "ERROR" },
        },
    );
    // Without --quiet: the passed checks are part of the counts. checkov exits 1 when a check failed: that is a result, not an error.
    if (result.status !== 0 && result.status !== 1) {
        throw new Error(
            `checkov exited ${result.status ?? result.signal}:\n${result.stderr}\n${result.stdout.slice(0, 2000)}`,
        );
    }
    const parsed = JSON.parse(result.stdout) as CheckovReport | CheckovReport[];
    const reports = Array.isArray(parsed) ? parsed : [parsed];
    const findings: Finding[] = [];
    for (const report of reports) {
        if (report.summary.parsing_errors > 0)
            throw new Error(`checkov could not parse ${report.summary.parsing_errors} file(s)`);
        for (const [key, outcome] of [
            ["passed_checks", "passed"],
            ["failed_checks", "failed"],
            ["skipped_checks", "skipped"],
        ] as const) {
            for (const record of report.results[key] ?? []) {
                const file = record.file_path.replace(/^\/+/, "");
                findings.push({
                    group: file.split("/")[0],
                    check: record.check_id,
                    name: record.check_name,
                    resource: record.resource,
                    file,
                    outcome,
                });
            }
        }
    }
    return findings;
}

/** A failed check kubeha cannot or chooses not to fix, for these resources of a group, with the reason. */
export interface AcceptedFinding {
    readonly group: string;
    readonly check: string;
    readonly resources: readonly string[];
    readonly reason: string;
}

export function readAccepted(file: string): AcceptedFinding[] {
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { accepted: AcceptedFinding[] }).accepted;
}

/** passed/failed/skipped per group, as a table for the test's output. */
export function countsTable(findings: readonly Finding[], groups: readonly string[]): string {
    const rows = groups.map((group) => {
        const of = (outcome: Outcome) =>
            findings.filter((item) => item.group === group && item.outcome === outcome).length;
        return [group, of("passed"), of("failed"), of("skipped")];
    });
    const header = ["file group", "passed", "failed", "skipped"];
    const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => String(row[i]).length)));
    const line = (cells: readonly (string | number)[]) =>
        cells
            .map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])))
            .join("  ");
    return [line(header), ...rows.map(line)].join("\n");
}

/** The failed checks no accepted finding covers, and the accepted findings no failed check needs any more. */
export function compareWithAccepted(
    findings: readonly Finding[],
    accepted: readonly AcceptedFinding[],
): { unaccepted: Finding[]; stale: string[] } {
    const covers = (entry: AcceptedFinding, item: Finding) =>
        entry.group === item.group && entry.check === item.check && entry.resources.includes(item.resource);
    const failed = findings.filter((item) => item.outcome === "failed");
    const unaccepted = failed.filter((item) => !accepted.some((entry) => covers(entry, item)));
    const stale = accepted.flatMap((entry) =>
        entry.resources
            .filter((resource) => !failed.some((item) => covers({ ...entry, resources: [resource] }, item)))
            .map((resource) => `${entry.group} ${entry.check} ${resource}`),
    );
    return { unaccepted, stale };
}

/**
 * etcd runs as a systemd service from a config file, not as a pod, and checkov reads etcd's settings only from a
 * container's command line. This is the same member as a Pod whose command is the unit's ExecStart with each
 * setting of the config file as the flag etcd gives it (etcd's config keys are its flag names; the
 * transport-security blocks are the flags without, and with, their peer- prefix).
 */
export function etcdAsPod(member: string, unit: string, configYaml: string): Record<string, unknown> {
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    if (!execStart) throw new Error("the etcd unit has no ExecStart");
    const [binary, ...unitArgs] = execStart.trim().split(/\s+/);
    const config = parseYaml(configYaml) as Record<string, unknown>;
    const flags: string[] = [];
    const flag = (name: string, value: unknown) =>
        flags.push(`--${name}=${Array.isArray(value) ? value.join(",") : String(value)}`);
    for (const [key, value] of Object.entries(config)) {
        if (key === "client-transport-security" || key === "peer-transport-security") {
            const prefix = key === "peer-transport-security" ? "peer-" : "";
            for (const [inner, innerValue] of Object.entries(value as Record<string, unknown>))
                flag(`${prefix}${inner}`, innerValue);
        } else flag(key, value);
    }
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `etcd-${member}`, namespace: "kube-system" },
        spec: {
            containers: [{ name: "etcd", image: "etcd", command: [path.basename(binary), ...unitArgs, ...flags] }],
        },
    };
}
