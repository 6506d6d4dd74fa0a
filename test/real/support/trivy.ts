// trivy (built by the toolchain on request: `npm run -s toolchain -- --trivy <version>`) and what the test reads
// from it: each passed, failed and excepted check of its built-in Kubernetes checks per file group
// (support/benchmark.ts compares them with the accepted findings).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { Finding, Outcome } from "./benchmark";

interface TrivyMisconfiguration {
    readonly ID: string;
    readonly Title: string;
    readonly Status: "PASS" | "FAIL" | "EXCEPTION";
}

interface TrivyReport {
    readonly Results?: { readonly Target: string; readonly Misconfigurations?: TrivyMisconfiguration[] }[];
}

const outcomes: Record<TrivyMisconfiguration["Status"], Outcome> = {
    PASS: "passed",
    FAIL: "failed",
    EXCEPTION: "skipped",
};

/**
 * trivy's built-in Kubernetes checks on every file below dir, in one run; the group of a file is its first directory
 * under dir. Offline, and proven so: in a network namespace of its own with no interface up, with the checks embedded
 * in the binary (--skip-check-update: no download of the checks bundle), no version check and no telemetry.
 */
export function runTrivy(trivy: string, dir: string, cacheDir: string): Finding[] {
    const result = spawnSync(
        "unshare",
        [
            "--net",
            trivy,
            "config",
            "--quiet",
            "--cache-dir",
            cacheDir,
            "--skip-check-update",
            "--skip-version-check",
            "--disable-telemetry",
            "--misconfig-scanners",
            "kubernetes",
            "--include-non-failures",
            "--format",
            "json",
            dir,
        ],
        { encoding: "utf8", timeout: 600_000, maxBuffer: 256 * 1024 * 1024 },
    );
    // Exit 0 with failed checks too (no --exit-code): anything else is an error.
    if (result.status !== 0) {
        throw new Error(`trivy exited ${result.status ?? result.signal}:\n${result.stderr}`);
    }
    const findings: Finding[] = [];
    for (const { Target, Misconfigurations } of (JSON.parse(result.stdout) as TrivyReport).Results ?? []) {
        const resource = objectOf(path.join(dir, Target));
        for (const item of Misconfigurations ?? []) {
            findings.push({
                group: Target.split("/")[0],
                check: item.ID,
                name: item.Title,
                resource,
                file: Target,
                outcome: outcomes[item.Status],
            });
        }
    }
    return findings;
}

/** The one object a scanned file holds (each manifest is a file of its own), as Kind.namespace.name. */
function objectOf(file: string): string {
    const documents = parseAllDocuments(fs.readFileSync(file, "utf8"));
    if (documents.length !== 1) throw new Error(`${file}: ${documents.length} YAML documents, expected one object`);
    const object = documents[0].toJS() as { kind: string; metadata: { name: string; namespace?: string } };
    return [object.kind, object.metadata.namespace, object.metadata.name].filter(Boolean).join(".");
}
