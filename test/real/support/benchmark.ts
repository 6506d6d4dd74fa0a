// What the benchmark tools' tests (checkov: cis.test.ts, trivy: trivy.test.ts) share: the files they scan, one
// folder per file group, their findings per group, and the comparison with each tool's accepted findings. The groups:
// - control-plane: the static pod manifests the real kubeadm (the toolchain's, the version the hosts run) writes
//   on master-1 from the dev plan's own kubeadm configuration;
// - etcd: each member's config file and unit from the plan (etcd runs from systemd, so as the equivalent pod: see
//   etcdAsPod); only a tool's etcd checks count there, the others would judge the wrapper;
// - manifests-dev, manifests-aws-dev: every Kubernetes object the program applies, in the dev plan (Aliyun, the
//   Kubernetes Dashboard) and the aws-dev plan with Headlamp and WireGuard (the other cloud, UI and backend).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { etcdConfigPath, etcdUnitPath } from "../../../render/etcd";
import { kubeadmConfigPaths } from "../../../render/kubeadm";
import { Plan, plan } from "../../support/plan";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "../../system/support/cluster";
import { output } from "../../system/support/etcd";
import { Bind, run, TestNetwork } from "../../system/support/netns";
import { toolchainBinary } from "../../system/support/toolchain";

export const scanGroups = ["control-plane", "etcd", "manifests-dev", "manifests-aws-dev"] as const;
export type ScanGroup = (typeof scanGroups)[number];

export interface ScanFiles {
    readonly cluster: PlannedCluster;
    /** The master whose files kubeadm wrote. */
    readonly master: string;
    /** Its root: /etc/kubernetes and /var/lib/kubelet as kubeadm wrote them. */
    readonly root: string;
    /** A folder per group (scanGroups) holding that group's files. */
    readonly scan: string;
}

const hostDirs = ["/etc/kubernetes", "/var/lib/kubelet"];

/**
 * Runs kubeadm init's phases that write files on the dev plan's first master (in its own network namespace, with the
 * plan's /etc/hosts, as on the host) and writes every group's files below workDir. Needs root (systemTestSkipReason).
 */
export async function writeScanFiles(network: TestNetwork, workDir: string): Promise<ScanFiles> {
    const cluster = plannedCluster("dev");
    const other: Plan = plan({
        stack: "aws-dev",
        config: { "kubeha:addons": { dashboard: "headlamp", cni: { backend: "wireguard" } } },
    });
    const master = cluster.layout.find((host) => host.role === "master")!.name;
    const root = hostRoot(cluster, master, workDir);
    for (const dir of hostDirs) fs.mkdirSync(path.join(root, dir), { recursive: true });
    const planned = cluster.layout.find((host) => host.name === master)!;
    await network.create(
        [{ name: master, ip: planned.privateIp, hostsFile: hostFile(cluster, master, "/etc/hosts") }],
        vpcPrefixLength(cluster),
    );
    // kubeadm init's phases that write files, as on the host (named as the host is: no --hostname-override).
    const binds: Bind[] = hostDirs.map((dir) => ({ source: path.join(root, dir), target: dir }));
    for (const phase of [["certs", "all"], ["kubeconfig", "all"], ["control-plane", "all"], ["kubelet-start"]]) {
        const argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', master];
        argv.push(toolchainBinary("kubeadm"), "init", "phase", ...phase, "--config", kubeadmConfigPaths.init);
        const result = await run(network.command(master, argv, binds), { timeoutMs: 120_000 });
        assert.equal(result.status, 0, `kubeadm init phase ${phase.join(" ")}\n${output(result)}`);
    }

    const scan = path.join(workDir, "scan");
    const copy = (group: ScanGroup, from: string) => {
        fs.mkdirSync(path.join(scan, group), { recursive: true });
        for (const file of fs.readdirSync(from).filter((name) => name.endsWith(".yaml")))
            fs.copyFileSync(path.join(from, file), path.join(scan, group, file));
    };
    copy("control-plane", path.join(root, "etc/kubernetes/manifests"));
    fs.mkdirSync(path.join(scan, "etcd"));
    for (const member of cluster.layout.filter((host) => host.etcdMember)) {
        const pod = etcdAsPod(
            member.name,
            hostFile(cluster, member.name, etcdUnitPath),
            hostFile(cluster, member.name, etcdConfigPath),
        );
        fs.writeFileSync(path.join(scan, "etcd", `${member.name}.yaml`), toYaml(pod));
    }
    copy("manifests-dev", path.join(cluster.plan.dir, "manifests"));
    copy("manifests-aws-dev", path.join(other.dir, "manifests"));
    assert.deepEqual(fs.readdirSync(path.join(scan, "control-plane")).sort(), [
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ]);
    return { cluster, master, root, scan };
}

export type Outcome = "passed" | "failed" | "skipped";

export interface Finding {
    readonly group: string;
    readonly check: string;
    readonly name: string;
    /** The object: Kind.namespace.name (checkov's resource id; for a pod template, checkov adds its labels) */
    readonly resource: string;
    readonly file: string;
    readonly outcome: Outcome;
}

/** A failed check kubeha cannot or chooses not to fix, for these resources of a group, with the reason (one file per tool). */
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
 * A tool's verdict on the scanned files: on the etcd members only `etcdChecks` count; every group must have passed
 * some check (the tool read the files); the counts are printed; every failed check must be in `acceptedFile` with its
 * reason, and every accepted one must still fail (the counts can only get better).
 */
export function assertAgainstAccepted(
    tool: string,
    scanned: readonly Finding[],
    etcdChecks: readonly string[],
    acceptedFile: string,
): void {
    const findings = scanned.filter((item) => item.group !== "etcd" || etcdChecks.includes(item.check));
    for (const group of scanGroups) {
        assert.ok(
            findings.some((item) => item.group === group && item.outcome === "passed"),
            `${tool} passed no check in ${group}: did it read the files?`,
        );
    }
    console.log(`${tool}, per file group:\n${countsTable(findings, scanGroups)}`);
    const { unaccepted, stale } = compareWithAccepted(findings, readAccepted(acceptedFile));
    const relative = path.relative(path.resolve(__dirname, "..", "..", ".."), acceptedFile);
    assert.deepEqual(
        unaccepted.map((item) => `${item.group} ${item.check} ${item.resource} (${item.name}; ${item.file})`),
        [],
        `failed checks not in ${relative}: fix them, or list them with the reason`,
    );
    assert.deepEqual(stale, [], `accepted findings that no longer fail: remove them from ${relative}`);
}

/**
 * etcd runs as a systemd service from a config file, not as a pod, and checkov and trivy read etcd's settings only
 * from a container's command line. This is the same member as a Pod whose command is the unit's ExecStart with each
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
