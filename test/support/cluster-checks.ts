// What an operator relies on, checked on a running cluster, one test each: nodes and system pods, pod networking
// across nodes, DNS, Services, kubelet serving certificates, the pod firewall, a drain with the program's own
// removal script, and a lost worker. Shared by test:lab (a cluster the lab bootstrapped from the offline plan) and
// test:up (one a real `pulumi up` built): each says where the cluster is (ClusterUnderTest). The last two checks
// change the cluster (a worker removed, one stopped): register these checks after any that need it whole.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { stopMachine, machineCommand } from "../../lab/machines";
import { labTestImage } from "../../lab/mirrors";
import { inRouter } from "../../lab/network";
import { runRemote, SshConnection } from "../../lab/ssh";

/** A running cluster on lab machines, and what the checks need to know of it. */
export interface ClusterUnderTest {
    /** The lab (stack) it runs in: its machines and router. */
    readonly lab: string;
    /** A kubeconfig that reaches the API from where the checks run, and the kubectl to use it with. */
    readonly kubeconfig: string;
    readonly kubectl: string;
    readonly hosts: readonly { readonly name: string; readonly role: string; readonly privateIp: string }[];
    /** The cloud's metadata address inside instances. */
    readonly metadataAddress: string;
    /** The lab's mirrors' state (its test image). */
    readonly mirrors: string;
    /** Where the checks write the logs of what they run. */
    readonly logs: string;
    /** The inputs of the program's removal step of a node (`<node>-remove-node`): its connection, command, environment. */
    readonly removalStep: (node: string) => {
        connection: SshConnection;
        command: string;
        environment: Record<string, string>;
    };
}

let cluster: ClusterUnderTest;

function kubectl(args: readonly string[], input?: string): string {
    const result = spawnSync(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, ...args], {
        encoding: "utf8",
        input,
        timeout: 120_000,
    });
    if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr || result.stdout}`);
    return result.stdout;
}

/** Creates or updates one object (a plain object, sent as JSON). */
function apply(object: Record<string, unknown>): void {
    kubectl(["apply", "-f", "-"], JSON.stringify(object));
}

function kubectlJson<T>(args: readonly string[]): T {
    return JSON.parse(kubectl([...args, "-o", "json"])) as T;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until check returns a value (not undefined) or the time is up; the last error is the message. */
export async function eventually<T>(what: string, seconds: number, check: () => T | undefined): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let last = "";
    for (;;) {
        try {
            const value = check();
            if (value !== undefined) return value;
        } catch (error) {
            last = (error as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s ${last}`);
        await sleep(2000);
    }
}

interface Node {
    metadata: { name: string };
    spec: { unschedulable?: boolean };
    status: {
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
        nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
    };
}
interface Pod {
    metadata: { name: string; namespace: string; labels?: Record<string, string> };
    spec: { nodeName?: string };
    status: { phase: string; podIP?: string; containerStatuses?: { ready: boolean }[] };
}

const ready = (node: Node) => node.status.conditions.some((c) => c.type === "Ready" && c.status === "True");
const running = (pod: Pod) =>
    pod.status.phase === "Running" && (pod.status.containerStatuses ?? []).every((status) => status.ready);

function pods(namespace: string, selector?: string): Pod[] {
    const args = ["get", "pods", "-n", namespace, ...(selector ? ["-l", selector] : [])];
    return kubectlJson<{ items: Pod[] }>(args).items;
}

/** A pod of the lab's test image on one node: busybox httpd answering /cgi-bin/ip with the caller's address. */
function echoPod(name: string, node: string, labels: Record<string, string> = {}): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { app: "echo", ...labels } },
        spec: {
            nodeName: node,
            tolerations: [{ operator: "Exists" }],
            containers: [{ name: "echo", image: labTestImage(cluster.mirrors), ports: [{ containerPort: 8080 }] }],
        },
    };
}

function inPod(pod: string, command: string[]): string {
    return kubectl(["exec", pod, "--", ...command]);
}

/**
 * An HTTP GET from inside a pod with busybox nc (Debian's static busybox wget crashes resolving even a literal
 * address); the body, with the echo server's IPv4-mapped notation ([::ffff:10.244.1.2]) reduced to the address.
 */
function httpArgs(pod: string, host: string, port: number, path: string): string[] {
    const request = `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${host} ${port}`;
    return ["--kubeconfig", cluster.kubeconfig, "exec", pod, "--", "sh", "-c", request];
}

function httpBody(response: string): string {
    const body = response
        .split(/\r?\n\r?\n/)
        .slice(1)
        .join("\n\n")
        .trim();
    if (!/^HTTP\/1\.[01] 200 /.test(response)) throw new Error(`no 200 answer: ${response.slice(0, 200)}`);
    return body.replace(/^\[::ffff:(.*)\]$/, "$1");
}

function httpFromPod(pod: string, host: string, port: number, path: string): string {
    const result = spawnSync(cluster.kubectl, httpArgs(pod, host, port, path), { encoding: "utf8", timeout: 30_000 });
    if (result.status !== 0) throw new Error(`GET http://${host}:${port}${path} from ${pod}: ${result.stderr}`);
    return httpBody(result.stdout);
}

/** The same, not blocking the test's event loop (the drain runs meanwhile). */
function httpFromPodAsync(pod: string, host: string, port: number, path: string): Promise<boolean> {
    return new Promise((resolve) => {
        const child = spawn(cluster.kubectl, httpArgs(pod, host, port, path), { stdio: ["ignore", "pipe", "ignore"] });
        let out = "";
        child.stdout.on("data", (chunk) => (out += chunk));
        const timer = setTimeout(() => child.kill(), 30_000);
        child.on("close", (status) => {
            clearTimeout(timer);
            try {
                resolve(status === 0 && httpBody(out).length > 0);
            } catch {
                resolve(false);
            }
        });
    });
}

const planned = () => cluster.hosts.filter((host) => host.role === "master" || host.role === "worker");

/** Registers the checks, in order, in the caller's describe, on the cluster `target` gives (it may throw: no cluster). */
export function clusterChecks(target: () => ClusterUnderTest): void {
    // The target is asked as each check starts: a caller's earlier checks may build the cluster, or fail to.
    const check = (name: string, body: () => Promise<void> | void) =>
        test(name, async () => {
            cluster = target();
            await body();
        });
    check("every node Ready with containerd, named and addressed as planned", async () => {
        const nodes = await eventually("all nodes Ready", 300, () => {
            const items = kubectlJson<{ items: Node[] }>(["get", "nodes"]).items;
            return items.length === planned().length && items.every(ready) ? items : undefined;
        });
        for (const host of planned()) {
            const node = nodes.find((candidate) => candidate.metadata.name === host.name);
            assert.ok(node, `node ${host.name} registered`);
            assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/2\./);
            const internal = node.status.addresses.find((address) => address.type === "InternalIP")?.address;
            assert.equal(internal, host.privateIp, `${host.name}'s InternalIP`);
        }
    });

    check(
        "every kube-system pod Running: control plane static pods, CoreDNS, kube-proxy, flannel on each node",
        async () => {
            await eventually("kube-system and flannel pods Running", 300, () => {
                const system = pods("kube-system");
                const flannel = pods("kube-flannel");
                const names = system.map((pod) => pod.metadata.name);
                for (const host of planned()) {
                    if (host.role === "master")
                        for (const component of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
                            assert.ok(names.includes(`${component}-${host.name}`), `${component}-${host.name}`);
                    assert.ok(
                        system.some(
                            (pod) => pod.metadata.name.startsWith("kube-proxy-") && pod.spec.nodeName === host.name,
                        ),
                        `kube-proxy on ${host.name}`,
                    );
                    assert.ok(
                        flannel.some((pod) => pod.spec.nodeName === host.name),
                        `flannel on ${host.name}`,
                    );
                }
                assert.ok(
                    names.some((name) => name.startsWith("coredns-")),
                    "CoreDNS",
                );
                const notRunning = [...system, ...flannel]
                    .filter((pod) => !running(pod))
                    .map((pod) => pod.metadata.name);
                assert.deepEqual(notRunning, [], "pods not Running and ready");
                return true;
            });
        },
    );

    check("a pod on worker-1 reaches pods on worker-2 and master-1 over vxlan, its source address kept", async () => {
        const pairs = [
            ["echo-worker-1", "worker-1"],
            ["echo-worker-2", "worker-2"],
            ["echo-master-1", "master-1"],
        ];
        for (const [name, node] of pairs) apply(echoPod(name, node));
        const byName = await eventually("echo pods Running", 180, () => {
            const found = pods("default", "app=echo");
            return pairs.every(([name]) => found.some((pod) => pod.metadata.name === name && running(pod)))
                ? new Map(found.map((pod) => [pod.metadata.name, pod]))
                : undefined;
        });
        const source = byName.get("echo-worker-1")!.status.podIP!;
        for (const target of ["echo-worker-2", "echo-master-1"]) {
            const address = byName.get(target)!.status.podIP!;
            const seen = httpFromPod("echo-worker-1", address, 8080, "/cgi-bin/ip");
            assert.equal(seen, source, `${target} sees worker-1's pod address`);
        }
    });

    check(
        "CoreDNS answers kubernetes.default and a Service's name; kube-proxy carries a ClusterIP and a NodePort",
        async () => {
            const domain = clusterDomain();
            apply({
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "echo" },
                spec: {
                    type: "NodePort",
                    selector: { app: "echo", serves: "yes" },
                    ports: [{ port: 8080, targetPort: 8080 }],
                },
            });
            kubectl(["label", "pod", "echo-worker-2", "echo-master-1", "serves=yes", "--overwrite"]);
            const kubernetes = inPod("echo-worker-1", ["nslookup", `kubernetes.default.svc.${domain}`]);
            const serviceIp = kubectl(["get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
            assert.match(kubernetes, new RegExp(`Address:\\s+${serviceIp.replaceAll(".", "\\.")}`));
            const echo = kubectlJson<{ spec: { clusterIP: string; ports: { nodePort: number }[] } }>([
                "get",
                "service",
                "echo",
            ]);
            const named = inPod("echo-worker-1", ["nslookup", `echo.default.svc.${domain}`]);
            assert.match(named, new RegExp(`Address:\\s+${echo.spec.clusterIP.replaceAll(".", "\\.")}`));
            await eventually("the ClusterIP answers from worker-1's pod", 60, () =>
                httpFromPod("echo-worker-1", `echo.default.svc.${domain}`, 8080, "/cgi-bin/ip"),
            );
            const worker1 = planned().find((host) => host.name === "worker-1")!;
            const nodePort = echo.spec.ports[0].nodePort;
            const [command, ...args] = inRouter(cluster.lab, [
                "curl",
                "-sS",
                "-m",
                "5",
                `http://${worker1.privateIp}:${nodePort}/cgi-bin/ip`,
            ]);
            const viaNodePort = execFileSync(command, args, { encoding: "utf8" });
            const seen = viaNodePort.trim().replace(/^\[::ffff:(.*)\]$/, "$1");
            assert.match(seen, /^\d+\.\d+\.\d+\.\d+$/, "the NodePort answers from outside the cluster");
        },
    );

    check("kubelet serving certificates come through the plan's approver; kubectl logs and exec work", () => {
        const csrs = kubectlJson<{
            items: {
                spec: { signerName: string; username: string };
                status: { certificate?: string; conditions?: { type: string }[] };
            }[];
        }>(["get", "csr"]).items.filter((csr) => csr.spec.signerName === "kubernetes.io/kubelet-serving");
        for (const host of planned()) {
            const issued = csrs.some(
                (csr) =>
                    csr.spec.username === `system:node:${host.name}` &&
                    csr.status.conditions?.some((c) => c.type === "Approved") &&
                    csr.status.certificate,
            );
            assert.ok(issued, `an approved and issued serving certificate for ${host.name}`);
        }
        assert.equal(kubectl(["exec", "echo-worker-2", "--", "echo", "exec works"]).trim(), "exec works");
        kubectl(["logs", "echo-worker-2"]);
    });

    check("a pod cannot reach the metadata address; its node can (the pod firewall)", () => {
        const metadata = `http://${cluster.metadataAddress}/`;
        assert.throws(() => httpFromPod("echo-worker-1", cluster.metadataAddress, 80, "/"), "the pod's request fails");
        const [command, ...args] = machineCommand(cluster.lab, "worker-1", ["curl", "-sS", "-m", "5", metadata]);
        assert.match(execFileSync(command, args, { encoding: "utf8" }), /metadata/);
    });

    check(
        "draining a worker with the program's removal script honours a PodDisruptionBudget; the Deployment keeps serving",
        async () => {
            const domain = clusterDomain();
            apply({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: "web" },
                spec: {
                    replicas: 2,
                    selector: { matchLabels: { app: "web" } },
                    template: {
                        metadata: { labels: { app: "web" } },
                        spec: {
                            affinity: {
                                podAntiAffinity: {
                                    requiredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            labelSelector: { matchLabels: { app: "web" } },
                                            topologyKey: "kubernetes.io/hostname",
                                        },
                                    ],
                                },
                            },
                            containers: [
                                { name: "web", image: labTestImage(cluster.mirrors), ports: [{ containerPort: 8080 }] },
                            ],
                        },
                    },
                },
            });
            apply({
                apiVersion: "policy/v1",
                kind: "PodDisruptionBudget",
                metadata: { name: "web" },
                spec: { minAvailable: 1, selector: { matchLabels: { app: "web" } } },
            });
            kubectl(["expose", "deployment", "web", "--port", "8080"]);
            kubectl(["rollout", "status", "deployment/web", "--timeout", "180s"]);
            const victim = pods("default", "app=web")[0].spec.nodeName!;
            const removal = cluster.removalStep(victim);
            let failures = 0;
            let requests = 0;
            let draining = true;
            const load = (async () => {
                while (draining) {
                    requests++;
                    const served = await httpFromPodAsync(
                        "echo-master-1",
                        `web.default.svc.${domain}`,
                        8080,
                        "/cgi-bin/ip",
                    );
                    if (!served) failures++;
                    await sleep(500);
                }
            })();
            const log = fs.createWriteStream(path.join(cluster.logs, `${victim}-remove-node.log`));
            const outcome = await runRemote({
                ...removal,
                log,
                wrap: (argv) => inRouter(cluster.lab, argv),
            });
            log.end();
            draining = false;
            await load;
            process.stdout.write(`# drain of ${victim}: ${requests} requests, ${failures} failed\n`);
            assert.equal(outcome.status, 0, `the removal script succeeded (${outcome.failure ?? "see its log"})`);
            assert.equal(failures, 0, "no request to the Deployment failed during the drain");
            const nodes = kubectlJson<{ items: Node[] }>(["get", "nodes"]).items.map((node) => node.metadata.name);
            assert.ok(!nodes.includes(victim), `${victim} was removed`);
            await eventually("web back to 2 ready replicas", 180, () =>
                kubectl(["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]) === "2"
                    ? true
                    : undefined,
            );
        },
    );

    check("a stopped worker goes NotReady within the grace period and its pods are recreated elsewhere", async () => {
        const grace = clusterFlagSeconds("controllerManager", "node-monitor-grace-period");
        const toleration = clusterFlagSeconds("apiServer", "default-not-ready-toleration-seconds");
        const nodes = kubectlJson<{ items: Node[] }>(["get", "nodes"]).items.filter(
            (node) => node.metadata.name.startsWith("worker-") && ready(node),
        );
        const webPods = pods("default", "app=web");
        const victim = webPods
            .map((pod) => pod.spec.nodeName!)
            .find((name) => nodes.some((n) => n.metadata.name === name));
        assert.ok(victim, "a worker running a web pod");
        const stoppedAt = Date.now();
        await stopMachine(cluster.lab, victim);
        const notReadyAfter = await eventually(`${victim} NotReady`, grace + 60, () => {
            const node = kubectlJson<Node>(["get", "node", victim]);
            return ready(node) ? undefined : (Date.now() - stoppedAt) / 1000;
        });
        const recreatedAfter = await eventually("web pods Running elsewhere", grace + toleration + 180, () => {
            const current = pods("default", "app=web").filter((pod) => pod.spec.nodeName !== victim && running(pod));
            return current.length >= 1 &&
                pods("default", "app=web").some(
                    (pod) =>
                        pod.spec.nodeName !== victim && !webPods.some((old) => old.metadata.name === pod.metadata.name),
                )
                ? (Date.now() - stoppedAt) / 1000
                : undefined;
        });
        process.stdout.write(
            `# ${victim} stopped: NotReady after ${notReadyAfter} s, its pod recreated after ${recreatedAfter} s\n`,
        );
        assert.ok(notReadyAfter <= grace + 15, `NotReady after ${notReadyAfter} s, the grace period is ${grace} s`);
    });
}

interface ClusterConfiguration {
    kind: string;
    apiServer?: { extraArgs?: { name: string; value: string }[] };
    controllerManager?: { extraArgs?: { name: string; value: string }[] };
    networking?: { dnsDomain?: string };
}

/** kubeadm's ClusterConfiguration as the cluster holds it (kube-system/kubeadm-config). */
function clusterConfiguration(): ClusterConfiguration {
    const text = kubectl([
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    return { kind: "ClusterConfiguration", ...(parseYaml(text) as Omit<ClusterConfiguration, "kind">) };
}

function clusterDomain(): string {
    return clusterConfiguration().networking?.dnsDomain ?? "cluster.local";
}

/** A control-plane flag the plan sets, in seconds ("50s" or "60"). */
function clusterFlagSeconds(component: "apiServer" | "controllerManager", flag: string): number {
    const value = clusterConfiguration()[component]?.extraArgs?.find((arg) => arg.name === flag)?.value;
    assert.ok(value, `the cluster sets --${flag}`);
    return Number.parseInt(value, 10);
}
