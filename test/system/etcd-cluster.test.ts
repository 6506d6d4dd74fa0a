// System test: every etcd member of the dev plan runs Debian's etcd in a network namespace of its own at
// its planned address, from the plan's exact config file and certificates, bind-mounted at the paths the
// plan puts them (never rewritten). Names resolve through the /etc/hosts the plan's user-data gives each
// host, bind-mounted by `ip netns exec`.
//
// Version difference: production runs etcd 3.6 from the release tarball (the unit's ExecStart names
// /usr/local/bin/etcd); Debian ships 3.4 at /usr/bin/etcd. The test runs the unit's ExecStart with only
// the binary replaced. The config file is the same bytes for both: render/etcd.ts keeps to keys that 3.4
// reads with the meaning 3.6 gives them (log-outputs, logger: zap, pre-vote set explicitly).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { hostFqdn } from "../../config/layout";
import { etcdConfigPath, etcdctlEnvPath, etcdDiskMountPoint, etcdUnitPath, renderEtcdConfig } from "../../render/etcd";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "./support/cluster";
import { Bind, CommandResult, Processes, run, systemTestSkipReason, TestNetwork, waitFor } from "./support/netns";

const debianEtcd = "/usr/bin/etcd";
const httpProbe = path.join(__dirname, "support", "http-probe.mjs");

interface Member {
    readonly name: string;
    readonly fqdn: string;
    /** The member's etcd.yaml as the plan delivers it. */
    readonly config: EtcdConfigFile;
    readonly dataDisk: string;
    readonly log: string;
}

interface EtcdConfigFile {
    readonly name: string;
    readonly "data-dir": string;
    readonly "advertise-client-urls": string;
    readonly "initial-advertise-peer-urls": string;
    readonly "client-transport-security": { "cert-file": string; "key-file": string; "trusted-ca-file": string };
    readonly "peer-transport-security": { "cert-file": string; "key-file": string; "trusted-ca-file": string };
}

describe("etcd cluster from the dev plan", { skip: systemTestSkipReason(), timeout: 170_000 }, () => {
    const network = new TestNetwork("kh-etcd");
    const processes = new Processes();
    let cluster: PlannedCluster;
    let workDir: string;
    let members: Member[];
    /** etcdctl settings from the plan's environment file (the operators' way in). */
    let etcdctlEnv: Record<string, string>;

    before(async () => {
        cluster = plannedCluster("dev");
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-etcd-"));
        members = cluster.layout
            .filter((host) => host.etcdMember)
            .map((host) => {
                const config = parseYaml(hostFile(cluster, host.name, etcdConfigPath)) as EtcdConfigFile;
                const dataDisk = path.join(workDir, `${host.name}-disk`);
                fs.mkdirSync(dataDisk);
                return {
                    name: host.name,
                    fqdn: hostFqdn(host.name, cluster.config.network.privateDomain),
                    config,
                    dataDisk,
                    log: path.join(workDir, `${host.name}.log`),
                };
            });
        assert.equal(members.length, 3, "the dev plan has three etcd members");
        for (const { name, config } of members) {
            // Also what keeps the test's etcd off this machine's own disk: only the mount point is bound.
            assert.ok(
                config["data-dir"].startsWith(`${etcdDiskMountPoint}/`),
                `${name}: data-dir not on the etcd disk`,
            );
        }
        etcdctlEnv = parseEnvFile(hostFile(cluster, members[0].name, etcdctlEnvPath));
        // Each member resolves the others' names through the /etc/hosts the plan gives it.
        const hosts = cluster.layout
            .filter((host) => host.etcdMember)
            .map((host) => ({
                name: host.name,
                ip: host.privateIp,
                hostsFile: hostFile(cluster, host.name, "/etc/hosts"),
            }));
        await network.create(hosts, vpcPrefixLength(cluster));
        for (const member of members) start(member);
    });

    after(async () => {
        await processes.stopAll();
        await network.destroy();
        if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    });

    /** The unit's ExecStart, with Debian's etcd in place of the release binary. */
    function etcdCommand(member: Member): string[] {
        const unit = hostFile(cluster, member.name, etcdUnitPath);
        const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1].split(/\s+/);
        assert.ok(execStart && path.basename(execStart[0]) === "etcd", `no etcd ExecStart in ${etcdUnitPath}`);
        return [debianEtcd, ...execStart.slice(1)];
    }

    /** The plan's files of member (config, certificates) over their paths, and the member's own data disk. */
    function bindsFor(member: Member, files = hostRoot(cluster, member.name, workDir)): Bind[] {
        const { config } = member;
        const paths = [
            etcdConfigPath,
            etcdctlEnvPath,
            ...Object.values(config["client-transport-security"]),
            ...Object.values(config["peer-transport-security"]),
            etcdctlEnv.ETCDCTL_CACERT,
            etcdctlEnv.ETCDCTL_CERT,
            etcdctlEnv.ETCDCTL_KEY,
        ].filter((value): value is string => typeof value === "string" && value.startsWith("/"));
        return [
            ...outermostDirectories(paths.map((file) => path.dirname(file))).map((dir) => ({
                source: path.join(files, dir),
                target: dir,
            })),
            { source: member.dataDisk, target: etcdDiskMountPoint },
        ];
    }

    function start(member: Member, files?: string): void {
        processes.start(
            member.name,
            network.command(member.name, etcdCommand(member), bindsFor(member, files)),
            member.log,
        );
    }

    /** etcdctl inside member's namespace with the plan's environment file, changed by overrides. */
    function etcdctl(member: Member, args: string[], overrides: Record<string, string | undefined> = {}) {
        const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
        for (const [key, value] of Object.entries({ ...etcdctlEnv, ...overrides }))
            if (value !== undefined) env[key] = value;
        return run(network.command(member.name, ["etcdctl", ...args], bindsFor(member)), { env, timeoutMs: 20_000 });
    }

    function clientUrl(member: Member): string {
        return member.config["advertise-client-urls"];
    }

    async function waitHealthy(what: string, endpoints: string): Promise<void> {
        await waitFor(
            what,
            60_000,
            async () => {
                const result = await etcdctl(members[0], ["endpoint", "health"], { ETCDCTL_ENDPOINTS: endpoints });
                if (result.status !== 0) throw new Error(output(result) + logTails());
                return true;
            },
            500,
        );
    }

    function logTails(): string {
        return members
            .map((member) => {
                const lines = fs.existsSync(member.log) ? fs.readFileSync(member.log, "utf8").trim().split("\n") : [];
                return `\n--- ${member.name} (last lines of ${member.log}):\n${lines.slice(-5).join("\n")}`;
            })
            .join("");
    }

    test("the cluster becomes healthy over mutual TLS, every member known by its name", async () => {
        await waitHealthy("every endpoint of the etcdctl environment file to be healthy", etcdctlEnv.ETCDCTL_ENDPOINTS);
        const list = await etcdctl(members[0], ["member", "list", "--write-out=json"]);
        assert.equal(list.status, 0, output(list));
        const listed = (
            JSON.parse(list.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] }
        ).members
            .map(({ name, peerURLs, clientURLs }) => ({ name, peerURLs, clientURLs }))
            .sort((a, b) => a.name.localeCompare(b.name));
        assert.deepEqual(
            listed,
            members.map((member) => ({
                name: member.name,
                peerURLs: [`https://${member.fqdn}:2380`],
                clientURLs: [`https://${member.fqdn}:2379`],
            })),
        );
    });

    test("a client without a certificate, or with one from another CA, is refused", async () => {
        const member = members[0];
        const noCertificate = await etcdctl(member, ["put", "kubeha/refused", "x"], {
            ETCDCTL_CERT: undefined,
            ETCDCTL_KEY: undefined,
            ETCDCTL_ENDPOINTS: clientUrl(member),
            ETCDCTL_DIAL_TIMEOUT: "2s",
            ETCDCTL_COMMAND_TIMEOUT: "3s",
        });
        assert.notEqual(
            noCertificate.status,
            0,
            `etcdctl without a client certificate succeeded:\n${output(noCertificate)}`,
        );

        const foreign = foreignClientCertificate(workDir);
        const ca = member.config["client-transport-security"]["trusted-ca-file"];
        const probe = (url: string, ...identity: string[]) =>
            run(network.command(member.name, [process.execPath, httpProbe, url, ca, ...identity], bindsFor(member)), {
                timeoutMs: 15_000,
            }).then(probeResult);
        const peer = member.config["peer-transport-security"];
        const peerUrl = member.config["initial-advertise-peer-urls"];
        // The same requests succeed with the plan's certificates, so a refusal is about the client identity.
        assert.deepEqual(await probe(`${clientUrl(member)}/health`, etcdctlEnv.ETCDCTL_CERT, etcdctlEnv.ETCDCTL_KEY), {
            status: 200,
        });
        assert.deepEqual(await probe(`${peerUrl}/members`, peer["cert-file"], peer["key-file"]), { status: 200 });
        // The server ends the TLS handshake with an alert: bad_certificate (Go < 1.21), certificate_required (later).
        const tlsRefusal = /BAD_CERTIFICATE|CERTIFICATE_REQUIRED/;
        for (const url of [`${clientUrl(member)}/health`, `${peerUrl}/members`]) {
            const anonymous = await probe(url);
            assert.match(anonymous.error ?? `answered ${anonymous.status}`, tlsRefusal, `${url} without a certificate`);
            const stranger = await probe(url, foreign.cert, foreign.key);
            assert.match(
                stranger.error ?? `answered ${stranger.status}`,
                tlsRefusal,
                `${url} with another CA's certificate`,
            );
        }
        const plain = await probe(clientUrl(member).replace("https:", "http:"));
        assert.notEqual(plain.status, 200, "the client port answered plain HTTP");
    });

    test("writes keep succeeding with one member stopped; it reads them back after it restarts", async () => {
        const stopped = members[2];
        const put = async (key: string, value: string) => {
            const result = await etcdctl(members[0], ["put", key, value]);
            assert.equal(result.status, 0, `put ${key}: ${output(result)}`);
        };
        await put("kubeha/before-stop", "written with every member up");
        await processes.stop(stopped.name);
        const down = await etcdctl(members[0], ["endpoint", "health"], { ETCDCTL_ENDPOINTS: clientUrl(stopped) });
        assert.notEqual(down.status, 0, `${stopped.name} still answers after it was stopped`);

        // Through the environment file's endpoints, the stopped member's among them, as an operator would.
        for (let i = 1; i <= 5; i++) await put(`kubeha/during-stop-${i}`, `written while ${stopped.name} was down`);

        start(stopped);
        await waitHealthy(`${stopped.name} to be healthy again`, clientUrl(stopped));
        // Serializable reads are answered from the member's own store, not forwarded to the leader.
        const localRead = (key: string) =>
            etcdctl(stopped, ["get", key, "--print-value-only", "--consistency=s"], {
                ETCDCTL_ENDPOINTS: clientUrl(stopped),
            });
        const before = await localRead("kubeha/before-stop");
        assert.equal(before.stdout.trim(), "written with every member up", output(before));
        await waitFor(`${stopped.name} to catch up with the writes it missed`, 30_000, async () => {
            const missed = await localRead("kubeha/during-stop-5");
            return missed.stdout.trim() === `written while ${stopped.name} was down` ? true : undefined;
        });
    });

    test("a replacement member joins with initial-cluster-state existing (seed 000 procedure)", async () => {
        const replaced = members[2];
        const host = cluster.layout.find((candidate) => candidate.name === replaced.name)!;
        const planned = hostFile(cluster, replaced.name, etcdConfigPath);
        const existing = renderEtcdConfig(cluster.config, cluster.layout, host, "existing").content;
        // The replacement config is the plan's file with one line switched.
        assert.deepEqual(changedLines(planned, existing), [
            ["initial-cluster-state: new", "initial-cluster-state: existing"],
        ]);

        const healthy = members
            .filter((member) => member !== replaced)
            .map(clientUrl)
            .join(",");
        await processes.stop(replaced.name);
        // The simple format shows IDs in hex; JSON's uint64 numbers do not survive JSON.parse.
        const list = await etcdctl(members[0], ["member", "list"], { ETCDCTL_ENDPOINTS: healthy });
        const id = list.stdout
            .split("\n")
            .map((line) => line.split(", "))
            .find((fields) => fields[2] === replaced.name)?.[0];
        assert.ok(id, output(list));
        const remove = await etcdctl(members[0], ["member", "remove", id], { ETCDCTL_ENDPOINTS: healthy });
        assert.equal(remove.status, 0, output(remove));
        const add = await etcdctl(
            members[0],
            ["member", "add", replaced.name, `--peer-urls=${replaced.config["initial-advertise-peer-urls"]}`],
            {
                ETCDCTL_ENDPOINTS: healthy,
            },
        );
        assert.equal(add.status, 0, output(add));

        // A new, empty disk and the plan's files with the replacement config in place of the planned one.
        fs.rmSync(replaced.dataDisk, { recursive: true });
        fs.mkdirSync(replaced.dataDisk);
        const files = path.join(workDir, `${replaced.name}-replacement-files`);
        fs.cpSync(hostRoot(cluster, replaced.name, workDir), files, { recursive: true });
        fs.writeFileSync(path.join(files, etcdConfigPath), existing);
        start(replaced, files);

        await waitHealthy("the replacement member to be healthy", clientUrl(replaced));
        await waitHealthy("every member to be healthy", etcdctlEnv.ETCDCTL_ENDPOINTS);
        await waitFor("the replacement member to hold the cluster's data", 30_000, async () => {
            const read = await etcdctl(
                replaced,
                ["get", "kubeha/before-stop", "--print-value-only", "--consistency=s"],
                {
                    ETCDCTL_ENDPOINTS: clientUrl(replaced),
                },
            );
            return read.stdout.trim() === "written with every member up" ? true : undefined;
        });
    });
});

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

/** Pairs of lines that differ between two texts of the same length in lines. */
function changedLines(a: string, b: string): [string, string][] {
    const linesA = a.split("\n");
    const linesB = b.split("\n");
    assert.equal(linesA.length, linesB.length);
    return linesA.flatMap((line, i) => (line === linesB[i] ? [] : [[line, linesB[i]] as [string, string]]));
}

/** A client certificate from a CA that is not the cluster's. */
function foreignClientCertificate(dir: string): { cert: string; key: string } {
    const cert = path.join(dir, "foreign-client.crt");
    const key = path.join(dir, "foreign-client.key");
    execFileSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            "/CN=not-a-cluster-client",
            "-days",
            "1",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
        { stdio: "pipe" },
    );
    return { cert, key };
}

function probeResult(result: CommandResult): { status?: number; error?: string } {
    if (result.status !== 0 || result.stdout.trim() === "") throw new Error(`http-probe failed: ${output(result)}`);
    return JSON.parse(result.stdout);
}

function output(result: CommandResult): string {
    return `exit ${result.status}\n${result.stdout}${result.stderr}`;
}
