// The etcd members of a planned cluster, run for real: the toolchain's etcd (the release the hosts run) with
// the unit's exact ExecStart, the plan's config file and certificates bind-mounted at the paths the plan puts
// them (never rewritten), and a data disk of its own per member. Each member runs in its host's network
// namespace and resolves the others' names through the /etc/hosts the plan gives that host.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { hostFqdn } from "../../../config/layout";
import { etcdConfigPath, etcdctlEnvPath, etcdDiskMountPoint, etcdUnitPath } from "../../../render/etcd";
import { hostFile, hostRoot, PlannedCluster } from "./cluster";
import { Bind, CommandResult, Processes, run, TestNetwork, waitFor } from "./netns";
import { toolchainBinary } from "./toolchain";

export interface EtcdMember {
    readonly name: string;
    readonly fqdn: string;
    /** The member's etcd.yaml as the plan delivers it. */
    readonly config: EtcdConfigFile;
    /** Stands in for the member's etcd disk (bound at the mount point). */
    readonly dataDisk: string;
    readonly log: string;
}

export interface EtcdConfigFile {
    readonly name: string;
    readonly "data-dir": string;
    readonly "advertise-client-urls": string;
    readonly "initial-advertise-peer-urls": string;
    readonly "client-transport-security": { "cert-file": string; "key-file": string; "trusted-ca-file": string };
    readonly "peer-transport-security": { "cert-file": string; "key-file": string; "trusted-ca-file": string };
}

/**
 * The binds a member's commands run with, given the directory holding its host's files: by default the plan's
 * etcd directories and the data disk. A test running more on the same hosts passes its own (a superset).
 */
export type MemberBinds = (member: EtcdMember, files: string) => Bind[];

export class PlannedEtcd {
    readonly members: EtcdMember[];
    /** etcdctl settings from the plan's environment file (the operators' way in). */
    readonly etcdctlEnv: Record<string, string>;
    private readonly bindsOf: MemberBinds;

    constructor(
        private readonly cluster: PlannedCluster,
        private readonly network: TestNetwork,
        private readonly processes: Processes,
        private readonly workDir: string,
        binds?: MemberBinds,
    ) {
        this.members = cluster.layout
            .filter((host) => host.etcdMember)
            .map((host) => {
                const config = parseYaml(hostFile(cluster, host.name, etcdConfigPath)) as EtcdConfigFile;
                // Also what keeps the test's etcd off this machine's own disk: only the mount point is bound.
                assert.ok(
                    config["data-dir"].startsWith(`${etcdDiskMountPoint}/`),
                    `${host.name}: data-dir not on the etcd disk`,
                );
                const dataDisk = path.join(workDir, `${host.name}-etcd-disk`);
                fs.mkdirSync(dataDisk, { recursive: true });
                return {
                    name: host.name,
                    fqdn: hostFqdn(host.name, cluster.config.network.privateDomain),
                    config,
                    dataDisk,
                    log: path.join(workDir, `${host.name}-etcd.log`),
                };
            });
        this.etcdctlEnv = parseEnvFile(hostFile(cluster, this.members[0].name, etcdctlEnvPath));
        this.bindsOf = binds ?? ((member, files) => this.etcdBinds(member, files));
    }

    /** The plan's files of member's host, written out once (see hostRoot). */
    files(member: EtcdMember): string {
        return hostRoot(this.cluster, member.name, this.workDir);
    }

    /** The unit's ExecStart, with the toolchain's etcd at the path the unit names. */
    command(member: EtcdMember): string[] {
        const unit = hostFile(this.cluster, member.name, etcdUnitPath);
        const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1].split(/\s+/);
        assert.ok(execStart && path.basename(execStart[0]) === "etcd", `no etcd ExecStart in ${etcdUnitPath}`);
        return [toolchainBinary("etcd"), ...execStart.slice(1)];
    }

    /** Starts member from its host's files, or from another copy of them (files). */
    start(member: EtcdMember, files = this.files(member)): void {
        this.processes.start(
            `etcd ${member.name}`,
            this.network.command(member.name, this.command(member), this.binds(member, files)),
            member.log,
        );
    }

    stop(member: EtcdMember): Promise<void> {
        return this.processes.stop(`etcd ${member.name}`);
    }

    /** The toolchain's etcdctl inside member's namespace with the plan's environment file, changed by overrides. */
    etcdctl(
        member: EtcdMember,
        args: string[],
        overrides: Record<string, string | undefined> = {},
    ): Promise<CommandResult> {
        const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
        // etcdctl's 5 s default fails writes on a loaded 2-core machine (seen beside a lab): the tests judge what
        // succeeds, not how fast. A test's own override still wins.
        const patient = { ETCDCTL_COMMAND_TIMEOUT: "15s" };
        for (const [key, value] of Object.entries({ ...this.etcdctlEnv, ...patient, ...overrides }))
            if (value !== undefined) env[key] = value;
        return run(this.network.command(member.name, [toolchainBinary("etcdctl"), ...args], this.binds(member)), {
            env,
            timeoutMs: 20_000,
        });
    }

    /** What member's commands run with: its host's files (or another copy of them) at their paths. */
    binds(member: EtcdMember, files = this.files(member)): Bind[] {
        return this.bindsOf(member, files);
    }

    clientUrl(member: EtcdMember): string {
        return member.config["advertise-client-urls"];
    }

    async waitHealthy(what: string, endpoints = this.etcdctlEnv.ETCDCTL_ENDPOINTS): Promise<void> {
        await waitFor(
            what,
            60_000,
            async () => {
                const result = await this.etcdctl(this.members[0], ["endpoint", "health"], {
                    ETCDCTL_ENDPOINTS: endpoints,
                });
                if (result.status !== 0) throw new Error(output(result) + this.logTails());
                return true;
            },
            500,
        );
    }

    logTails(): string {
        return this.members
            .map((member) => {
                const lines = fs.existsSync(member.log) ? fs.readFileSync(member.log, "utf8").trim().split("\n") : [];
                return `\n--- ${member.name} (last lines of ${member.log}):\n${lines.slice(-5).join("\n")}`;
            })
            .join("");
    }

    /** The plan's etcd directories of member (config, certificates) over their paths, and its data disk. */
    private etcdBinds(member: EtcdMember, files: string): Bind[] {
        const { config } = member;
        const paths = [
            etcdConfigPath,
            etcdctlEnvPath,
            ...Object.values(config["client-transport-security"]),
            ...Object.values(config["peer-transport-security"]),
            this.etcdctlEnv.ETCDCTL_CACERT,
            this.etcdctlEnv.ETCDCTL_CERT,
            this.etcdctlEnv.ETCDCTL_KEY,
        ].filter((value): value is string => typeof value === "string" && value.startsWith("/"));
        return [
            ...outermostDirectories(paths.map((file) => path.dirname(file))).map((dir) => ({
                source: path.join(files, dir),
                target: dir,
            })),
            { source: member.dataDisk, target: etcdDiskMountPoint },
        ];
    }
}

export function output(result: CommandResult): string {
    return `exit ${result.status}\n${result.stdout}${result.stderr}`;
}

function parseEnvFile(text: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
        if (match) env[match[1]] = match[2];
    }
    return env;
}

/** Directories of the list that are not inside another one of the list. */
function outermostDirectories(dirs: string[]): string[] {
    const unique = [...new Set(dirs)].sort();
    return unique.filter((dir) => !unique.some((other) => other !== dir && dir.startsWith(`${other}/`)));
}
