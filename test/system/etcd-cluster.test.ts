// System test: every etcd member of the dev plan runs etcd 3.6 (the toolchain's build of the release the hosts
// run) in a network namespace of its own at its planned address, from the plan's exact config file, unit
// command line and certificates, bind-mounted at the paths the plan puts them (never rewritten). Names resolve
// through the /etc/hosts the plan's user-data gives each host, bind-mounted by `ip netns exec`.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdConfigPath, renderEtcdConfig } from "../../render/etcd";
import { selfSignedCertificate } from "../support/openssl";
import { hostFile, PlannedCluster, plannedCluster, vpcPrefixLength } from "./support/cluster";
import { EtcdMember, output, PlannedEtcd } from "./support/etcd";
import { CommandResult, Processes, run, systemTestSkipReason, TestNetwork, waitFor } from "./support/netns";

const httpProbe = path.join(__dirname, "support", "http-probe.mjs");

describe("etcd cluster from the dev plan", { skip: systemTestSkipReason(), timeout: 170_000 }, () => {
    const network = new TestNetwork("kh-etcd");
    const processes = new Processes();
    let cluster: PlannedCluster;
    let workDir: string;
    let etcd: PlannedEtcd;
    let members: EtcdMember[];

    before(async () => {
        cluster = plannedCluster("dev");
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-etcd-"));
        etcd = new PlannedEtcd(cluster, network, processes, workDir);
        members = etcd.members;
        assert.equal(members.length, 3, "the dev plan has three etcd members");
        // Each member resolves the others' names through the /etc/hosts the plan gives it.
        const hosts = members.map((member) => ({
            name: member.name,
            ip: cluster.layout.find((host) => host.name === member.name)!.privateIp,
            hostsFile: hostFile(cluster, member.name, "/etc/hosts"),
        }));
        await network.create(hosts, vpcPrefixLength(cluster));
        for (const member of members) etcd.start(member);
    });

    after(async () => {
        await processes.stopAll();
        await network.destroy();
        if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    });

    test("the cluster becomes healthy over mutual TLS, every member known by its name", async () => {
        await etcd.waitHealthy(
            "every endpoint of the etcdctl environment file to be healthy",
            etcd.etcdctlEnv.ETCDCTL_ENDPOINTS,
        );
        const list = await etcd.etcdctl(members[0], ["member", "list", "--write-out=json"]);
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
        const noCertificate = await etcd.etcdctl(member, ["put", "kubeha/refused", "x"], {
            ETCDCTL_CERT: undefined,
            ETCDCTL_KEY: undefined,
            ETCDCTL_ENDPOINTS: etcd.clientUrl(member),
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
            run(network.command(member.name, [process.execPath, httpProbe, url, ca, ...identity], etcd.binds(member)), {
                timeoutMs: 15_000,
            }).then(probeResult);
        const peer = member.config["peer-transport-security"];
        const peerUrl = member.config["initial-advertise-peer-urls"];
        // The same requests succeed with the plan's certificates, so a refusal is about the client identity.
        assert.deepEqual(
            await probe(`${etcd.clientUrl(member)}/health`, etcd.etcdctlEnv.ETCDCTL_CERT, etcd.etcdctlEnv.ETCDCTL_KEY),
            {
                status: 200,
            },
        );
        assert.deepEqual(await probe(`${peerUrl}/members`, peer["cert-file"], peer["key-file"]), { status: 200 });
        // etcd ends the TLS handshake with an alert that names why: no certificate, or one from an unknown CA.
        for (const url of [`${etcd.clientUrl(member)}/health`, `${peerUrl}/members`]) {
            const anonymous = await probe(url);
            assert.match(
                anonymous.error ?? `answered ${anonymous.status}`,
                /CERTIFICATE_REQUIRED/,
                `${url} without a certificate`,
            );
            const stranger = await probe(url, foreign.cert, foreign.key);
            assert.match(
                stranger.error ?? `answered ${stranger.status}`,
                /UNKNOWN_CA/,
                `${url} with another CA's certificate`,
            );
        }
        const plain = await probe(etcd.clientUrl(member).replace("https:", "http:"));
        assert.notEqual(plain.status, 200, "the client port answered plain HTTP");
    });

    test("writes keep succeeding with one member stopped; it reads them back after it restarts", async () => {
        const stopped = members[2];
        const put = async (key: string, value: string) => {
            const result = await etcd.etcdctl(members[0], ["put", key, value]);
            assert.equal(result.status, 0, `put ${key}: ${output(result)}`);
        };
        await put("kubeha/before-stop", "written with every member up");
        await etcd.stop(stopped);
        const down = await etcd.etcdctl(members[0], ["endpoint", "health"], {
            ETCDCTL_ENDPOINTS: etcd.clientUrl(stopped),
        });
        assert.notEqual(down.status, 0, `${stopped.name} still answers after it was stopped`);

        // Through the environment file's endpoints, the stopped member's among them, as an operator would.
        for (let i = 1; i <= 5; i++) await put(`kubeha/during-stop-${i}`, `written while ${stopped.name} was down`);

        etcd.start(stopped);
        await etcd.waitHealthy(`${stopped.name} to be healthy again`, etcd.clientUrl(stopped));
        // Serializable reads are answered from the member's own store, not forwarded to the leader.
        const localRead = (key: string) =>
            etcd.etcdctl(stopped, ["get", key, "--print-value-only", "--consistency=s"], {
                ETCDCTL_ENDPOINTS: etcd.clientUrl(stopped),
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
            .map((member) => etcd.clientUrl(member))
            .join(",");
        await etcd.stop(replaced);
        // The simple format shows IDs in hex; JSON's uint64 numbers do not survive JSON.parse.
        const list = await etcd.etcdctl(members[0], ["member", "list"], { ETCDCTL_ENDPOINTS: healthy });
        const id = list.stdout
            .split("\n")
            .map((line) => line.split(", "))
            .find((fields) => fields[2] === replaced.name)?.[0];
        assert.ok(id, output(list));
        const remove = await etcd.etcdctl(members[0], ["member", "remove", id], { ETCDCTL_ENDPOINTS: healthy });
        assert.equal(remove.status, 0, output(remove));
        const add = await etcd.etcdctl(
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
        fs.cpSync(etcd.files(replaced), files, { recursive: true });
        fs.writeFileSync(path.join(files, etcdConfigPath), existing);
        etcd.start(replaced, files);

        await etcd.waitHealthy("the replacement member to be healthy", etcd.clientUrl(replaced));
        await etcd.waitHealthy("every member to be healthy", etcd.etcdctlEnv.ETCDCTL_ENDPOINTS);
        await waitFor("the replacement member to hold the cluster's data", 30_000, async () => {
            const read = await etcd.etcdctl(
                replaced,
                ["get", "kubeha/before-stop", "--print-value-only", "--consistency=s"],
                {
                    ETCDCTL_ENDPOINTS: etcd.clientUrl(replaced),
                },
            );
            return read.stdout.trim() === "written with every member up" ? true : undefined;
        });
    });
});

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
    selfSignedCertificate(cert, key, "/CN=not-a-cluster-client", ["-addext", "extendedKeyUsage=clientAuth"]);
    return { cert, key };
}

function probeResult(result: CommandResult): { status?: number; error?: string } {
    if (result.status !== 0 || result.stdout.trim() === "") throw new Error(`http-probe failed: ${output(result)}`);
    return JSON.parse(result.stdout);
}
