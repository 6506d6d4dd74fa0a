// System test: nginx runs the local API proxy of a worker of the dev plan, from the plan's exact config
// file and systemd unit (its ExecStartPre and ExecStart, verbatim), in a network namespace at the worker's
// planned address, in front of stand-in apiservers at the masters' planned addresses. Each stand-in greets
// a connection with its master's name, so the test sees which master nginx chose. The worker resolves the
// masters' names through the /etc/hosts of its user-data, as nginx on the host does.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { PlannedHost } from "../../config/layout";
import { ports } from "../../config/ports";
import { apiProxyConfigPath } from "../../render/api-proxy";
import { apiProxyService } from "./support/api-proxy";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "./support/cluster";
import { Bind, Processes, run, runOrThrow, systemTestSkipReason, TestNetwork, waitFor } from "./support/netns";

const standIn = path.join(__dirname, "support", "stand-in-apiserver.mjs");
const greetingClient = path.join(__dirname, "support", "greeting-client.mjs");

interface Greeting {
    readonly greeting?: string;
    readonly error?: string;
    readonly ms: number;
}

describe("local API proxy of a dev-plan worker", { skip: systemTestSkipReason(), timeout: 170_000 }, () => {
    const network = new TestNetwork("kh-proxy");
    const processes = new Processes();
    let cluster: PlannedCluster;
    let workDir: string;
    let worker: PlannedHost;
    let masters: PlannedHost[];
    let unit: { execStartPre: string[]; execStart: string[]; binds: Bind[] };
    let listen: { address: string; port: number };
    let connectTimeoutMs: number;

    before(async () => {
        cluster = plannedCluster("dev");
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-api-proxy-"));
        masters = cluster.layout.filter((host) => host.role === "master");
        worker = cluster.layout.find((host) => host.role === "worker")!;
        assert.ok(worker, "the dev plan has a worker");

        const service = apiProxyService(cluster, worker.name);
        const runtimeDir = path.join(workDir, "run");
        fs.mkdirSync(runtimeDir);
        unit = {
            execStartPre: service.execStartPre,
            execStart: service.execStart,
            // The plan's config directory over its path, and what systemd's RuntimeDirectory= would create.
            binds: [
                {
                    source: path.join(hostRoot(cluster, worker.name, workDir), path.dirname(apiProxyConfigPath)),
                    target: path.dirname(apiProxyConfigPath),
                },
                { source: runtimeDir, target: service.runtimeDirectory },
            ],
        };
        const config = hostFile(cluster, worker.name, apiProxyConfigPath);
        const listenMatch = /^\s*listen\s+([\d.]+):(\d+)/m.exec(config);
        assert.ok(listenMatch, "the proxy config has no listen address");
        listen = { address: listenMatch[1], port: Number(listenMatch[2]) };
        const timeoutMatch = /^\s*proxy_connect_timeout\s+(\d+)s;/m.exec(config);
        assert.ok(timeoutMatch, "the proxy config has no proxy_connect_timeout in seconds");
        connectTimeoutMs = Number(timeoutMatch[1]) * 1000;

        // Each host resolves names through the /etc/hosts the plan gives it (on the worker: the masters' names).
        const hosts = [worker, ...masters].map((host) => ({
            name: host.name,
            ip: host.privateIp,
            hostsFile: hostFile(cluster, host.name, "/etc/hosts"),
        }));
        await network.create(hosts, vpcPrefixLength(cluster));
        await Promise.all(masters.map(startMaster));
    });

    after(async () => {
        await processes.stopAll();
        await network.destroy();
        if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    });

    async function startMaster(master: PlannedHost): Promise<void> {
        const log = path.join(workDir, `${master.name}.log`);
        fs.writeFileSync(log, "");
        processes.start(
            master.name,
            network.command(master.name, [
                process.execPath,
                standIn,
                master.privateIp,
                String(ports.apiserver),
                master.name,
            ]),
            log,
        );
        await waitFor(`the stand-in apiserver on ${master.name}`, 10_000, async () =>
            fs.readFileSync(log, "utf8").includes("listening") ? true : undefined,
        );
    }

    /** count connections through the proxy, all held open at once, each with what greeted it. */
    async function connect(count: number): Promise<Greeting[]> {
        const result = await runOrThrow(
            network.command(worker.name, [
                process.execPath,
                greetingClient,
                listen.address,
                String(listen.port),
                String(count),
                "5000",
            ]),
            { timeoutMs: 30_000 },
        );
        return JSON.parse(result) as Greeting[];
    }

    function servedBy(greetings: Greeting[]): string[] {
        return greetings.map((greeting) => greeting.greeting ?? `failed: ${greeting.error}`);
    }

    /** Every master up and reachable, and the proxy back to using all of them (failed ones are retried after fail_timeout). */
    async function restoreAll(): Promise<void> {
        for (const master of masters) {
            await network.setReachable(master.name, true);
            if (!processes.isRunning(master.name)) await startMaster(master);
        }
        await waitFor("the proxy to use every master again", 20_000, async () => {
            const used = new Set(servedBy(await connect(masters.length)));
            return masters.every((master) => used.has(master.name)) ? true : undefined;
        });
    }

    test("listens on 127.0.0.1 at the configured proxy port, never the apiserver's 6443", () => {
        assert.deepEqual(listen, { address: "127.0.0.1", port: cluster.config.network.apiProxyPort });
        assert.notEqual(listen.port, ports.apiserver);
    });

    test("the unit's pre-check (nginx -t) passes on the plan's config", async () => {
        const check = await run(network.command(worker.name, unit.execStartPre, unit.binds), { timeoutMs: 20_000 });
        assert.equal(check.status, 0, check.stderr);
        assert.match(check.stderr, /test is successful/);
    });

    test("the unit's ExecStart serves connections, spread over every master", async () => {
        processes.start(
            "nginx",
            network.command(worker.name, unit.execStart, unit.binds),
            path.join(workDir, "nginx.log"),
        );
        await waitFor("nginx to accept and proxy a connection", 15_000, async () => {
            const [first] = await connect(1);
            return first.greeting ? true : undefined;
        });
        // Every client is 127.0.0.1: a hash on the client address would send all of them to one master.
        const held = servedBy(await connect(masters.length)).sort();
        assert.deepEqual(held, masters.map((master) => master.name).sort());
    });

    test("connections succeed while any one master is up", async () => {
        for (const survivor of masters) {
            for (const master of masters) if (master !== survivor) await processes.stop(master.name);
            const greetings = await connect(2 * masters.length);
            assert.deepEqual(
                servedBy(greetings),
                greetings.map(() => survivor.name),
                `only ${survivor.name} up`,
            );
            await restoreAll();
        }
    });

    test("a master that does not answer at all (powered off) costs at most the connect timeout", async () => {
        const [survivor, stopped, silent] = masters;
        await processes.stop(stopped.name);
        await network.setReachable(silent.name, false);
        const greetings = await connect(2 * masters.length);
        assert.deepEqual(
            servedBy(greetings),
            greetings.map(() => survivor.name),
        );
        for (const greeting of greetings) {
            assert.ok(greeting.ms < connectTimeoutMs + 1000, `a connection took ${greeting.ms} ms`);
        }
        await restoreAll();
    });

    test("a master that comes back is used again", async () => {
        const [returning] = masters;
        await processes.stop(returning.name);
        const without = servedBy(await connect(2 * masters.length));
        assert.ok(
            !without.includes(returning.name) && without.every((name) => !name.startsWith("failed")),
            without.join(),
        );
        await startMaster(returning);
        // nginx retries a failed master after fail_timeout; 15 s leaves room for several rounds.
        await waitFor(`${returning.name} to be used again`, 15_000, async () =>
            servedBy(await connect(masters.length)).includes(returning.name) ? true : undefined,
        );
    });
});
