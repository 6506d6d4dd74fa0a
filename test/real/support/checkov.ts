// checkov (PyPI; installed by .ci/run into a venv, as moto is) and what the test reads from it: each failed,
// passed and skipped check per file group (support/benchmark.ts compares them with the accepted findings).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Finding } from "./benchmark";

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
