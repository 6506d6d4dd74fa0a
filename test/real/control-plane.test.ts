// The real control plane from the dev plan (with its secrets): etcd 3.6, kubeadm, kube-apiserver,
// kube-controller-manager, kube-scheduler and kubectl at exactly the versions the program deploys (built by
// the toolchain), driven by the plan's own files. Every master and one worker is a network namespace at its
// planned address; each host's commands see that host's files at their paths (its /etc/kubernetes, /etc/etcd,
// /etc/kubeha, /var/lib/etcd, /var/lib/kubelet, /var/log/kubernetes, bind-mounted from a directory of its own
// that starts as the plan's files, byte for byte) and resolve names through the plan's /etc/hosts. The local
// API proxy is nginx with the plan's config and unit command lines on every host.
//
// What cannot run here: the kubelet and containerd (so no pod ever runs: the control plane runs as processes
// with the static pod manifests' exact command lines, and kubeadm's phases that need a kubelet are left out)
// and the cloud APIs. Each test is one claim; the spec reporter prints one line per proven claim.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { hostFqdn, PlannedHost } from "../../config/layout";
import { ports } from "../../config/ports";
import {
    etcdVersion,
    exactKubernetesVersion,
    KubernetesMinor,
    kubernetesPatches,
    supportedKubernetesMinors,
} from "../../config/versions";
import { apiProxyConfigPath } from "../../render/api-proxy";
import { apiserverFiles, encryptionKeyName } from "../../render/apiserver-files";
import { etcdConfigPath, etcdDiskMountPoint } from "../../render/etcd";
import { controlPlaneEndpoint, kubeadmConfigPaths } from "../../render/kubeadm";
import { kubeconfigRenewal } from "../../render/kubeconfig-renewal";
import { kubernetesPki } from "../../render/pki-files";
import type { PlannedResource } from "../../plan/run";
import { certificateRequest, selfSignedCertificate, signRequest } from "../support/openssl";
import { Plan, plan, projectDir } from "../support/plan";
import { apiProxyService } from "../system/support/api-proxy";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "../system/support/cluster";
import { output, PlannedEtcd } from "../system/support/etcd";
import {
    Bind,
    CommandResult,
    Processes,
    run,
    systemTestSkipReason,
    TestNetwork,
    waitFor,
} from "../system/support/netns";
import { toolchainBinary, toolchainRelease } from "../system/support/toolchain";
import { readStaticPod } from "./support/static-pod";

const kubernetesDir = "/etc/kubernetes";
const pkiDir = path.dirname(kubernetesPki.caCert);
const manifestsDir = `${kubernetesDir}/manifests`;
/** What the host's own programs write (audit log; what kubeadm writes for the kubelet). */
const hostStateDirs = ["/var/log/kubernetes", "/var/lib/kubelet"];
const controlPlaneComponents = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;
/** The web UI the dev stack does not choose, planned too so that every UI's manifests meet the apiserver. */
const otherUiConfig = {
    "kubeha:addons": { dashboard: "headlamp", cni: { backend: "wireguard" }, longLivedDashboardToken: true },
};

interface AuditEvent {
    readonly level: string;
    readonly stage: string;
    readonly verb: string;
    readonly requestURI: string;
    readonly objectRef?: { readonly resource?: string; readonly namespace?: string; readonly name?: string };
    readonly requestObject?: unknown;
    readonly responseObject?: unknown;
    readonly annotations?: Record<string, string>;
}

describe("the real control plane from the dev plan", { skip: systemTestSkipReason() }, () => {
    const network = new TestNetwork("kh-real");
    const processes = new Processes();
    let cluster: PlannedCluster;
    let workDir: string;
    let etcd: PlannedEtcd;
    let masters: PlannedHost[];
    let worker: PlannedHost;
    /** Where the controlPlaneEndpoint leads on every host: the local proxy. */
    let endpoint: string;
    let emptyKubeconfig: string;
    let failed = false;

    before(async () => {
        cluster = plannedCluster("dev");
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-real-"));
        masters = cluster.layout.filter((host) => host.role === "master");
        worker = cluster.layout.find((host) => host.role === "worker")!;
        assert.equal(masters.length, 3, "the dev plan has three masters");
        endpoint = `https://${controlPlaneEndpoint(cluster.config)}`;
        emptyKubeconfig = path.join(workDir, "no-credentials.kubeconfig");
        fs.writeFileSync(emptyKubeconfig, "apiVersion: v1\nkind: Config\n");
        const hosts = [...masters, worker];
        for (const host of hosts) {
            const root = hostRoot(cluster, host.name, workDir);
            for (const dir of hostStateDirs) fs.mkdirSync(path.join(root, dir), { recursive: true });
            fs.mkdirSync(path.join(root, apiProxyService(cluster, host.name).runtimeDirectory), { recursive: true });
        }
        etcd = new PlannedEtcd(cluster, network, processes, workDir, (member, files) => binds(member.name, files));
        await network.create(
            hosts.map((host) => ({
                name: host.name,
                ip: host.privateIp,
                hostsFile: hostFile(cluster, host.name, "/etc/hosts"),
            })),
            vpcPrefixLength(cluster),
        );
        for (const host of hosts) await startApiProxy(host);
    });

    after(async () => {
        await processes.stopAll();
        await network.destroy();
        if (!workDir) return;
        if (failed) console.error(`kept the hosts' files and logs for a look: ${workDir}`);
        else fs.rmSync(workDir, { recursive: true, force: true });
    });

    /** A test of one claim; a failure keeps the work directory. */
    function check(claim: string, body: () => Promise<void>): void {
        test(claim, async () => {
            try {
                await body();
            } catch (error) {
                failed = true;
                throw error;
            }
        });
    }

    function root(host: string): string {
        return hostRoot(cluster, host, workDir);
    }

    /** The host's own directories over their paths (those the plan gives it), and its etcd disk. */
    function binds(host: string, files = root(host)): Bind[] {
        const own = [kubernetesDir, path.dirname(etcdConfigPath), path.dirname(apiProxyConfigPath), ...hostStateDirs];
        own.push(apiProxyService(cluster, host).runtimeDirectory);
        const result = own
            .filter((dir) => fs.existsSync(path.join(files, dir)))
            .map((dir) => ({ source: path.join(files, dir), target: dir }));
        const member = etcd?.members.find((candidate) => candidate.name === host);
        if (member) result.push({ source: member.dataDisk, target: etcdDiskMountPoint });
        return result;
    }

    function onHost(host: string, argv: string[], timeoutMs = 60_000): Promise<CommandResult> {
        return run(network.command(host, argv, binds(host)), { timeoutMs });
    }

    async function succeeds(host: string, argv: string[], timeoutMs?: number): Promise<string> {
        const result = await onHost(host, argv, timeoutMs);
        assert.equal(result.status, 0, `${host}: ${argv.join(" ")}\n${output(result)}`);
        return result.stdout;
    }

    function kubeadm(host: string, ...args: string[]): Promise<string> {
        return succeeds(host, [toolchainBinary("kubeadm"), ...args], 240_000);
    }

    /** kubectl on host with kubeconfig (default: the plan's admin kubeconfig through the local proxy). */
    function kubectl(host: string, args: string[], kubeconfig?: string): Promise<CommandResult> {
        const access = kubeconfig
            ? ["--kubeconfig", kubeconfig]
            : ["--kubeconfig", path.join(cluster.plan.dir, "kubeconfig"), "--server", endpoint];
        return onHost(host, [toolchainBinary("kubectl"), ...access, "--request-timeout=20s", ...args]);
    }

    /** kubectl as the operator: the plan's admin kubeconfig on the worker, through its local proxy. */
    async function admin(...args: string[]): Promise<string> {
        const result = await kubectl(worker.name, args);
        assert.equal(result.status, 0, `kubectl ${args.join(" ")}\n${output(result)}`);
        return result.stdout;
    }

    /** kubectl with no kubeconfig credentials: the identity comes from the flags. */
    function kubectlAs(host: string, identity: string[], args: string[]): Promise<CommandResult> {
        return kubectl(
            host,
            [`--server=${endpoint}`, `--certificate-authority=${kubernetesPki.caCert}`, ...identity, ...args],
            emptyKubeconfig,
        );
    }

    function directApiserver(master: PlannedHost): string {
        return `https://${hostFqdn(master.name, cluster.config.network.privateDomain)}:${ports.apiserver}`;
    }

    function logOf(label: string): string {
        return path.join(workDir, `${label.replace(/ /g, "-")}.log`);
    }

    function tail(label: string, lines = 15): string {
        const file = logOf(label);
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n") : [];
        return `\n--- ${label} (last lines of ${file}):\n${text.slice(-lines).join("\n")}`;
    }

    async function startApiProxy(host: PlannedHost): Promise<void> {
        const service = apiProxyService(cluster, host.name);
        const check = await onHost(host.name, service.execStartPre);
        assert.equal(check.status, 0, `${host.name}: nginx -t\n${output(check)}`);
        const label = `api-proxy ${host.name}`;
        processes.start(label, network.command(host.name, service.execStart, binds(host.name)), logOf(label));
    }

    /** A master's control-plane component as the kubelet would run its static pod: the manifest's command line. */
    function startComponent(master: PlannedHost, component: (typeof controlPlaneComponents)[number]): void {
        const pod = readStaticPod(path.join(root(master.name), manifestsDir, `${component}.yaml`));
        assert.equal(pod.command[0], component);
        for (const dir of pod.createdDirectories) {
            const own = binds(master.name).find((bind) => dir === bind.target || dir.startsWith(`${bind.target}/`));
            if (own) fs.mkdirSync(path.join(own.source, path.relative(own.target, dir)), { recursive: true });
        }
        const argv = [toolchainBinary(component), ...pod.command.slice(1)];
        const label = `${component} ${master.name}`;
        processes.start(label, network.command(master.name, argv, binds(master.name)), logOf(label), { restart: true });
    }

    async function waitReady(master: PlannedHost, timeoutMs = 180_000): Promise<void> {
        await waitFor(
            `${master.name}'s kube-apiserver to be ready`,
            timeoutMs,
            async () => {
                if (!processes.isRunning(`kube-apiserver ${master.name}`)) {
                    throw new Error(`kube-apiserver on ${master.name} exited${tail(`kube-apiserver ${master.name}`)}`);
                }
                const ready = await kubectl(worker.name, [
                    "--server",
                    directApiserver(master),
                    "get",
                    "--raw",
                    "/readyz",
                ]);
                if (ready.status !== 0) throw new Error(output(ready));
                return ready.stdout.trim() === "ok" ? true : undefined;
            },
            1000,
        );
    }

    /** Every file of the plan under the host's /etc/kubernetes/pki, and every file there now: the same bytes. */
    function assertPkiUnchanged(host: string): void {
        const planned = path.join(cluster.plan.dir, "hosts", host, "files", pkiDir);
        const now = path.join(root(host), pkiDir);
        const list = (dir: string) =>
            listFiles(dir)
                .map((file) => path.relative(dir, file))
                .sort();
        assert.deepEqual(list(now), list(planned), `${host}: kubeadm added or removed files in ${pkiDir}`);
        for (const file of list(planned)) {
            assert.ok(
                fs.readFileSync(path.join(now, file)).equals(fs.readFileSync(path.join(planned, file))),
                `${host}: kubeadm changed ${pkiDir}/${file}`,
            );
        }
    }

    function auditLog(master: PlannedHost): AuditEvent[] {
        const file = path.join(root(master.name), apiserverFiles.auditLog);
        if (!fs.existsSync(file)) return [];
        return fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as AuditEvent);
    }

    check("kubeadm config validate accepts every host's kubeadm configuration, without a warning", async () => {
        const configs = cluster.layout.flatMap((host) =>
            Object.values(kubeadmConfigPaths)
                .map((file) => path.join(cluster.plan.dir, "hosts", host.name, "files", file))
                .filter((file) => fs.existsSync(file)),
        );
        assert.equal(
            configs.length,
            cluster.layout.filter((host) => host.role !== "bastion").length,
            "one kubeadm configuration per node",
        );
        for (const config of configs) {
            // In a namespace without a way out: what kubeadm would fetch online would show as a warning.
            const result = await onHost(masters[0].name, [
                toolchainBinary("kubeadm"),
                "config",
                "validate",
                "--config",
                config,
            ]);
            assert.equal(result.status, 0, `${config}\n${output(result)}`);
            assert.equal(result.stdout.trim(), "ok", config);
            assert.deepEqual(
                result.stderr.split("\n").filter((line) => /^W\d{4}/.test(line)),
                [],
                `${config}: kubeadm warned`,
            );
        }
    });

    check(
        `etcd ${etcdVersion} forms the 3-member cluster from the plan's config files, unit command line and certificates`,
        async () => {
            for (const member of etcd.members) etcd.start(member);
            await etcd.waitHealthy("every etcd member to be healthy");
            const status = await etcd.etcdctl(etcd.members[0], ["endpoint", "status", "--write-out=json"]);
            assert.equal(status.status, 0, output(status));
            const versions = (JSON.parse(status.stdout) as { Status: { version: string } }[]).map(
                (entry) => entry.Status.version,
            );
            assert.deepEqual(
                versions,
                etcd.members.map(() => etcdVersion),
            );
        },
    );

    check(
        "master-1: kubeadm init phases certs, kubeconfig and control-plane use the plan's PKI as it is (no file in /etc/kubernetes/pki changed or added)",
        async () => {
            const [first] = masters;
            for (const phase of ["certs", "kubeconfig", "control-plane"]) {
                await kubeadm(first.name, "init", "phase", phase, "all", "--config", kubeadmConfigPaths.init);
            }
            assertPkiUnchanged(first.name);
        },
    );

    check(
        "master-1: kube-apiserver, kube-controller-manager and kube-scheduler run with the static pod manifests' exact command lines; the apiserver is ready",
        async () => {
            for (const component of controlPlaneComponents) startComponent(masters[0], component);
            await waitReady(masters[0]);
        },
    );

    check(
        "master-1: kubeadm init phases upload-config, bootstrap-token (the plan's token), addon coredns and addon kube-proxy succeed against the live API",
        async () => {
            const [first] = masters;
            for (const phase of [
                ["upload-config", "all"],
                ["bootstrap-token"],
                ["addon", "coredns"],
                ["addon", "kube-proxy"],
            ]) {
                await kubeadm(first.name, "init", "phase", ...phase, "--config", kubeadmConfigPaths.init);
            }
            const init = parseYaml(hostFile(cluster, first.name, kubeadmConfigPaths.init).split("\n---\n")[0]) as {
                bootstrapTokens: { token: string }[];
            };
            const [tokenId] = init.bootstrapTokens[0].token.split(".");
            await admin(
                "-n",
                "kube-system",
                "get",
                `secret/bootstrap-token-${tokenId}`,
                "configmap/kubeadm-config",
                "configmap/kube-proxy",
                "deployment/coredns",
                "daemonset/kube-proxy",
            );
            await admin("-n", "kube-public", "get", "configmap/cluster-info");
        },
    );

    check(
        "master-2 and master-3: kubeadm join phase control-plane-prepare discovers the cluster with the plan's token and CA hash and uses the plan's PKI as it is; their apiservers are ready",
        async () => {
            for (const master of masters.slice(1)) {
                await kubeadm(
                    master.name,
                    "join",
                    "phase",
                    "control-plane-prepare",
                    "all",
                    "--config",
                    kubeadmConfigPaths.join,
                );
                assertPkiUnchanged(master.name);
                for (const component of controlPlaneComponents) startComponent(master, component);
            }
            for (const master of masters.slice(1)) await waitReady(master);
        },
    );

    check(
        "every apiserver is ready; through the worker's local proxy at the controlPlaneEndpoint, kubectl reaches all three, TLS verified against the plan's CA (another CA is refused)",
        async () => {
            for (const master of masters) await waitReady(master, 10_000);
            // Each kubectl run is a new connection to the proxy; each apiserver logs the requests it serves.
            const seen = new Set<string>();
            for (let i = 0; i < 30 && seen.size < masters.length; i++) {
                const probe = `kubeha-proxy-probe-${i}`;
                await admin("get", "configmaps", "-n", "default", "-l", probe, "-o", "name");
                await waitFor(`the request ${probe} in an audit log`, 10_000, async () => {
                    const master = masters.find((candidate) =>
                        auditLog(candidate).some((event) => event.requestURI.includes(probe)),
                    );
                    if (master) seen.add(master.name);
                    return master ? true : undefined;
                });
            }
            assert.deepEqual(
                [...seen].sort(),
                masters.map((master) => master.name),
            );

            const foreign = foreignCa(workDir);
            const refused = await kubectl(worker.name, [
                "--certificate-authority",
                foreign.caCert,
                "get",
                "--raw",
                "/readyz",
            ]);
            assert.notEqual(refused.status, 0, "kubectl trusted an apiserver certificate from another CA");
            assert.match(refused.stderr, /certificate signed by unknown authority/);
        },
    );

    check(
        "the plan's admin kubeconfig is cluster-admin through kubeadm:cluster-admins (without that binding it is nothing), not system:masters; a client certificate from another CA is refused",
        async () => {
            const whoami = JSON.parse(await admin("auth", "whoami", "-o", "json")) as {
                status: { userInfo: { groups: string[] } };
            };
            assert.ok(whoami.status.userInfo.groups.includes("kubeadm:cluster-admins"), JSON.stringify(whoami));
            assert.ok(
                !whoami.status.userInfo.groups.includes("system:masters"),
                "the admin identity is in system:masters",
            );
            assert.equal((await admin("auth", "can-i", "*", "*")).trim(), "yes");

            // Break glass: kubeadm's super-admin (system:masters) on master-1 takes the binding away and gives it back.
            const superAdmin = (...args: string[]) =>
                succeeds(masters[0].name, [
                    toolchainBinary("kubectl"),
                    "--kubeconfig",
                    `${kubernetesDir}/super-admin.conf`,
                    ...args,
                ]);
            const binding = JSON.parse(
                await superAdmin("get", "clusterrolebinding", "kubeadm:cluster-admins", "-o", "json"),
            ) as {
                roleRef: { name: string };
                subjects: { kind: string; name: string }[];
            };
            assert.equal(binding.roleRef.name, "cluster-admin");
            assert.deepEqual(
                binding.subjects.map(({ kind, name }) => ({ kind, name })),
                [{ kind: "Group", name: "kubeadm:cluster-admins" }],
            );
            const saved = path.join(root(masters[0].name), kubernetesDir, "kubeadm-cluster-admins.json");
            fs.writeFileSync(
                saved,
                JSON.stringify({
                    apiVersion: "rbac.authorization.k8s.io/v1",
                    kind: "ClusterRoleBinding",
                    metadata: { name: "kubeadm:cluster-admins" },
                    roleRef: binding.roleRef,
                    subjects: binding.subjects,
                }),
            );
            await superAdmin("delete", "clusterrolebinding", "kubeadm:cluster-admins");
            try {
                const without = await kubectl(worker.name, ["auth", "can-i", "*", "*"]);
                assert.equal(without.stdout.trim(), "no", output(without));
            } finally {
                await superAdmin("create", "-f", `${kubernetesDir}/kubeadm-cluster-admins.json`);
            }
            await waitFor("the admin to be cluster-admin again", 10_000, async () =>
                (await admin("auth", "can-i", "*", "*")).trim() === "yes" ? true : undefined,
            );

            const foreign = foreignCa(workDir);
            const stranger = await kubectlAs(
                worker.name,
                [`--client-certificate=${foreign.clientCert}`, `--client-key=${foreign.clientKey}`],
                ["get", "namespaces"],
            );
            assert.notEqual(stranger.status, 0, "a client certificate from another CA was accepted");
            assert.match(stranger.stderr, /Unauthorized|must be logged in/);
        },
    );

    check(
        `a Secret written through the API is stored encrypted in etcd (secretbox, key ${encryptionKeyName}); a ConfigMap is not`,
        async () => {
            const marker = "kubeha-plaintext-marker";
            await admin(
                "create",
                "secret",
                "generic",
                "kubeha-encryption-probe",
                "-n",
                "default",
                `--from-literal=value=${marker}`,
            );
            await admin(
                "create",
                "configmap",
                "kubeha-encryption-probe",
                "-n",
                "default",
                `--from-literal=value=${marker}`,
            );
            const raw = async (key: string) => {
                const result = await etcd.etcdctl(etcd.members[0], ["get", key, "--print-value-only"]);
                assert.equal(result.status, 0, output(result));
                assert.ok(result.stdout.length > 0, `nothing at ${key}`);
                return result.stdout;
            };
            const secret = await raw("/registry/secrets/default/kubeha-encryption-probe");
            assert.ok(
                secret.startsWith(`k8s:enc:secretbox:v1:${encryptionKeyName}:`),
                `stored as ${JSON.stringify(secret.slice(0, 40))}`,
            );
            assert.ok(!secret.includes(marker), "the secret's value is readable in etcd");
            const configMap = await raw("/registry/configmaps/default/kubeha-encryption-probe");
            assert.ok(
                !configMap.startsWith("k8s:enc:") && configMap.includes(marker),
                "a ConfigMap is stored as it is",
            );
        },
    );

    check(
        "the audit log records requests as the policy says: Secrets at Metadata (their data never logged), namespace writes with request and response, reads at Request, /version and events not at all, no RequestReceived stage",
        async () => {
            const [first] = masters;
            const direct = (...args: string[]) => admin("--server", directApiserver(first), ...args);
            await direct(
                "create",
                "secret",
                "generic",
                "kubeha-audit-secret",
                "-n",
                "default",
                "--from-literal=value=kubeha-audit-plaintext",
            );
            await direct("create", "namespace", "kubeha-audit");
            await direct("get", "pods", "-n", "kubeha-audit");
            await direct("get", "events", "-n", "kubeha-audit");
            await direct("version");
            const events = await waitFor("the audit events of these requests", 15_000, async () => {
                const all = auditLog(first);
                return all.some(
                    (event) => event.objectRef?.namespace === "kubeha-audit" && event.objectRef.resource === "pods",
                )
                    ? all
                    : undefined;
            });
            const find = (what: string, predicate: (event: AuditEvent) => boolean) => {
                const found = events.filter(predicate);
                assert.ok(found.length > 0, `no audit event for ${what}`);
                return found;
            };
            for (const event of find(
                "the Secret's create",
                (e) =>
                    e.verb === "create" &&
                    e.objectRef?.resource === "secrets" &&
                    e.objectRef.name === "kubeha-audit-secret",
            )) {
                assert.equal(event.level, "Metadata");
                assert.equal(event.requestObject, undefined);
            }
            assert.ok(
                !fs
                    .readFileSync(path.join(root(first.name), apiserverFiles.auditLog), "utf8")
                    .includes("kubeha-audit-plaintext"),
                "a Secret's value is in the audit log",
            );
            for (const event of find(
                "the namespace's create",
                (e) =>
                    e.verb === "create" &&
                    e.objectRef?.resource === "namespaces" &&
                    e.objectRef.name === "kubeha-audit",
            )) {
                assert.equal(event.level, "RequestResponse");
                assert.ok(event.requestObject && event.responseObject, "request and response logged");
            }
            for (const event of find(
                "the pods' list",
                (e) =>
                    e.verb === "list" && e.objectRef?.resource === "pods" && e.objectRef.namespace === "kubeha-audit",
            )) {
                assert.equal(event.level, "Request");
                assert.equal(event.responseObject, undefined);
            }
            assert.deepEqual(
                events.filter((e) => e.objectRef?.resource === "events"),
                [],
                "events are logged",
            );
            assert.deepEqual(
                events.filter((e) => e.requestURI === "/version" || e.requestURI.startsWith("/version?")),
                [],
                "/version is logged",
            );
            assert.deepEqual(
                events.filter((e) => e.stage === "RequestReceived"),
                [],
                "the RequestReceived stage is logged",
            );
        },
    );

    check(
        "worker-1: kubeadm join phase kubelet-start refuses the cluster with a wrong CA hash; with the plan's JoinConfiguration it discovers the live cluster (token, CA hash) and writes the kubelet's bootstrap kubeconfig and the cluster's kubelet configuration",
        async () => {
            const joinFile = path.join(root(worker.name), kubeadmConfigPaths.join);
            const planned = fs.readFileSync(joinFile, "utf8");
            const [plannedHash] = /sha256:[0-9a-f]{64}/.exec(planned) ?? [""];
            assert.equal(
                plannedHash,
                caCertHash(fs.readFileSync(path.join(root(worker.name), kubernetesPki.caCert), "utf8")),
            );
            // The hash of another CA's key, as a join configuration rendered for another cluster would pin.
            const wrongHash = caCertHash(fs.readFileSync(foreignCa(workDir).caCert, "utf8"));
            const wrongFile = path.join(path.dirname(kubeadmConfigPaths.join), "join-wrong-ca-hash.yaml");
            fs.writeFileSync(path.join(root(worker.name), wrongFile), planned.replace(plannedHash, wrongHash));
            const refused = await onHost(
                worker.name,
                [toolchainBinary("kubeadm"), "join", "phase", "kubelet-start", "--config", wrongFile],
                120_000,
            );
            assert.notEqual(refused.status, 0, `kubeadm joined a cluster whose CA it does not pin\n${output(refused)}`);
            assert.match(refused.stderr, /none of the public keys .* are pinned/);
            const bootstrapFile = path.join(root(worker.name), kubernetesDir, "bootstrap-kubelet.conf");
            assert.ok(!fs.existsSync(bootstrapFile), "a bootstrap kubeconfig was written for a refused cluster");

            await kubeadm(worker.name, "join", "phase", "kubelet-start", "--config", kubeadmConfigPaths.join);
            const bootstrap = parseYaml(fs.readFileSync(bootstrapFile, "utf8")) as {
                clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
                users: { user: { token: string } }[];
            };
            const join = parseYaml(planned) as { discovery: { bootstrapToken: { token: string } } };
            assert.equal(bootstrap.clusters[0].cluster.server, endpoint);
            assert.equal(
                Buffer.from(bootstrap.clusters[0].cluster["certificate-authority-data"], "base64").toString("utf8"),
                fs.readFileSync(path.join(root(worker.name), kubernetesPki.caCert), "utf8"),
            );
            assert.equal(bootstrap.users[0].user.token, join.discovery.bootstrapToken.token);
            // The KubeletConfiguration master-1 uploaded, as kubeadm hands it to the worker's kubelet.
            const kubeletConfig = parseYaml(
                fs.readFileSync(path.join(root(worker.name), "var/lib/kubelet/config.yaml"), "utf8"),
            ) as Record<string, unknown>;
            const plannedKubelet = hostFile(cluster, masters[0].name, kubeadmConfigPaths.init)
                .split("\n---\n")
                .map((document) => parseYaml(document) as Record<string, unknown>)
                .find((document) => document.kind === "KubeletConfiguration")!;
            assertSettings(kubeletConfig, plannedKubelet, "the worker's kubelet config");
            assertPkiUnchanged(worker.name);
        },
    );

    check(
        "worker-1: a client certificate request made with that bootstrap kubeconfig, as the kubelet's TLS bootstrap makes it, is approved and signed by the controller-manager with the plan's CA",
        async () => {
            const request = certificateRequest(
                path.join(workDir, "node.key"),
                `/O=system:nodes/CN=system:node:${worker.name}`,
            );
            const name = `kubeha-node-csr-${worker.name}`;
            const csr = {
                apiVersion: "certificates.k8s.io/v1",
                kind: "CertificateSigningRequest",
                metadata: { name },
                spec: {
                    request: Buffer.from(request).toString("base64"),
                    signerName: "kubernetes.io/kube-apiserver-client-kubelet",
                    usages: ["digital signature", "client auth"],
                },
            };
            const csrFile = path.join(root(worker.name), kubernetesDir, "node-csr.json");
            fs.writeFileSync(csrFile, JSON.stringify(csr));
            const created = await kubectl(
                worker.name,
                ["create", "-f", `${kubernetesDir}/node-csr.json`],
                `${kubernetesDir}/bootstrap-kubelet.conf`,
            );
            assert.equal(created.status, 0, output(created));
            const issued = await waitFor("the controller-manager to approve and sign the request", 60_000, async () => {
                const status = JSON.parse(await admin("get", "csr", name, "-o", "json")) as {
                    status: { certificate?: string; conditions?: { type: string; reason: string }[] };
                };
                return status.status.certificate ? status.status : undefined;
            });
            assert.deepEqual(
                issued.conditions?.map(({ type, reason }) => ({ type, reason })),
                [{ type: "Approved", reason: "AutoApproved" }],
            );
            const certificate = path.join(workDir, "node.crt");
            fs.writeFileSync(certificate, Buffer.from(issued.certificate!, "base64"));
            const verified = execFileSync(
                "openssl",
                ["verify", "-CAfile", path.join(root(worker.name), kubernetesPki.caCert), certificate],
                { encoding: "utf8" },
            );
            assert.match(verified, /: OK/);
            const subject = execFileSync("openssl", ["x509", "-noout", "-subject", "-in", certificate], {
                encoding: "utf8",
            });
            assert.match(subject, new RegExp(`O ?= ?system:nodes, CN ?= ?system:node:${worker.name}`));
        },
    );

    check(
        "worker-1: the kubelet's client certificate rotation: a renewal request made with its current certificate (as the kubelet makes it once rotateCertificates is due) is approved and signed by the controller-manager",
        async () => {
            const certificate = path.join(workDir, "node.crt");
            const key = path.join(workDir, "node.key");
            assert.ok(fs.existsSync(certificate), "the node's client certificate from the TLS bootstrap check");
            // A new key, as the kubelet's rotation makes one; the request is sent with the current certificate and key.
            const request = certificateRequest(
                path.join(workDir, "node-renewal.key"),
                `/O=system:nodes/CN=system:node:${worker.name}`,
            );
            const name = `kubeha-node-renewal-${worker.name}`;
            const csr = {
                apiVersion: "certificates.k8s.io/v1",
                kind: "CertificateSigningRequest",
                metadata: { name },
                spec: {
                    request: Buffer.from(request).toString("base64"),
                    signerName: "kubernetes.io/kube-apiserver-client-kubelet",
                    usages: ["digital signature", "client auth"],
                },
            };
            const csrFile = path.join(root(worker.name), kubernetesDir, "node-renewal-csr.json");
            fs.writeFileSync(csrFile, JSON.stringify(csr));
            for (const [file, target] of [
                [certificate, "node.crt"],
                [key, "node.key"],
            ])
                fs.copyFileSync(file, path.join(root(worker.name), kubernetesDir, target));
            const created = await kubectlAs(
                worker.name,
                [`--client-certificate=${kubernetesDir}/node.crt`, `--client-key=${kubernetesDir}/node.key`],
                ["create", "-f", `${kubernetesDir}/node-renewal-csr.json`],
            );
            assert.equal(created.status, 0, output(created));
            const issued = await waitFor("the controller-manager to approve and sign the renewal", 60_000, async () => {
                const status = JSON.parse(await admin("get", "csr", name, "-o", "json")) as {
                    spec: { username: string };
                    status: { certificate?: string; conditions?: { type: string; reason: string }[] };
                };
                return status.status.certificate ? status : undefined;
            });
            assert.equal(issued.spec.username, `system:node:${worker.name}`, "asked as the node itself");
            assert.deepEqual(
                issued.status.conditions?.map(({ type, reason }) => ({ type, reason })),
                [{ type: "Approved", reason: "AutoApproved" }],
            );
            const renewed = new X509Certificate(Buffer.from(issued.status.certificate!, "base64"));
            const current = new X509Certificate(fs.readFileSync(certificate));
            assert.ok(
                renewed.verify(
                    new X509Certificate(fs.readFileSync(path.join(root(worker.name), kubernetesPki.caCert))).publicKey,
                ),
            );
            assert.notEqual(renewed.serialNumber, current.serialNumber);
            assert.ok(
                Date.parse(renewed.validTo) >= Date.parse(current.validTo),
                "expires no earlier than the one it renews",
            );
        },
    );

    check(
        "kubeadm's kubeconfig certificates on every master: scripts/renew-kubeconfigs.sh with the planned window renews none of today's; with a window beyond their validity it renews each with the real kubeadm (the plan's CA, ECDSA P-256, same subject, later expiry); the controller-manager and scheduler restarted on them work, admin.conf too",
        async () => {
            const service = hostFile(cluster, masters[0].name, `/etc/systemd/system/${kubeconfigRenewal.service}`);
            const plannedWindow = /^Environment=KUBEHA_RENEW_BEFORE_HOURS=(\d+)$/m.exec(service)?.[1];
            assert.equal(plannedWindow, String(cluster.config.pki.earlyRenewalHours));
            // kubeadm alone on PATH: no crictl here (the test restarts the components as the kubelet would).
            const bin = path.join(workDir, "renewal-bin");
            fs.mkdirSync(bin, { recursive: true });
            if (!fs.existsSync(path.join(bin, "kubeadm")))
                fs.symlinkSync(toolchainBinary("kubeadm"), path.join(bin, "kubeadm"));
            const logs = path.join(workDir, "renewal-logs");
            fs.mkdirSync(logs, { recursive: true });
            const renew = (master: PlannedHost, hours: string) =>
                run(
                    network.command(
                        master.name,
                        [
                            "env",
                            `PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
                            `KUBEHA_RENEW_BEFORE_HOURS=${hours}`,
                            `KUBEHA_KUBEADM_CONFIG=${kubeconfigRenewal.kubeadmConfig}`,
                            path.join(projectDir, "scripts/renew-kubeconfigs.sh"),
                        ],
                        [...binds(master.name), { source: logs, target: "/var/log/kubeha" }],
                    ),
                    { timeoutMs: 120_000 },
                );
            const embedded = (master: PlannedHost, name: string) =>
                kubeconfigCertificate(path.join(root(master.name), kubernetesDir, name));
            const ca = new X509Certificate(fs.readFileSync(path.join(root(masters[0].name), kubernetesPki.caCert)));
            for (const master of masters) {
                const present = kubeconfigRenewal.kubeconfigs.filter((name) =>
                    fs.existsSync(path.join(root(master.name), kubernetesDir, name)),
                );
                assert.deepEqual(
                    present,
                    master === masters[0]
                        ? ["admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"]
                        : ["admin.conf", "controller-manager.conf", "scheduler.conf"],
                    `${master.name}: the kubeconfigs kubeadm wrote`,
                );
                const before = new Map(present.map((name) => [name, embedded(master, name)]));
                const none = await renew(master, plannedWindow!);
                assert.equal(none.status, 0, output(none));
                assert.match(none.stderr, /0 kubeconfig certificate\(s\) renewed/);
                for (const name of present)
                    assert.equal(embedded(master, name).serialNumber, before.get(name)!.serialNumber);

                const all = await renew(master, String(cluster.config.pki.certValidityHours + 24));
                assert.equal(all.status, 0, output(all));
                assert.match(all.stderr, new RegExp(`${present.length} kubeconfig certificate\\(s\\) renewed`));
                for (const name of present) {
                    const old = before.get(name)!;
                    const renewed = embedded(master, name);
                    assert.notEqual(renewed.serialNumber, old.serialNumber, `${master.name} ${name}: not renewed`);
                    assert.equal(renewed.subject, old.subject, `${master.name} ${name}: subject`);
                    assert.ok(renewed.verify(ca.publicKey), `${master.name} ${name}: not signed by the plan's CA`);
                    assert.equal(
                        renewed.publicKey.asymmetricKeyDetails?.namedCurve,
                        "prime256v1",
                        `${master.name} ${name}: key`,
                    );
                    assert.ok(Date.parse(renewed.validTo) > Date.parse(old.validTo), `${master.name} ${name}: expiry`);
                }
                assertPkiUnchanged(master.name);
                // What the script's restart does on a host (the kubelet starts the container again).
                for (const component of ["kube-controller-manager", "kube-scheduler"] as const) {
                    await processes.stop(`${component} ${master.name}`);
                    startComponent(master, component);
                }
                const admin = await kubectl(
                    master.name,
                    [
                        "--server",
                        directApiserver(master),
                        "auth",
                        "whoami",
                        "-o",
                        "jsonpath={.status.userInfo.username}",
                    ],
                    `${kubernetesDir}/admin.conf`,
                );
                assert.equal(admin.status, 0, output(admin));
            }
            // Each restarted component authenticates with its renewed certificate: the lease holders renew.
            for (const lease of ["kube-controller-manager", "kube-scheduler"]) {
                const since = Date.now();
                await waitFor(`the ${lease} lease to be renewed after the restarts`, 90_000, async () => {
                    const renewTime = (
                        await admin("-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.renewTime}")
                    ).trim();
                    return Date.parse(renewTime) > since ? true : undefined;
                });
            }
        },
    );

    check(
        "every certificate on the masters (files under /etc/kubernetes and /etc/etcd, and those their kubeconfigs embed), listed with its issuer and expiry, has a renewal path in docs/operations.md's table; a kubeconfig's CA is the host's CA file",
        async () => {
            const rows = certificateTable(fs.readFileSync(path.join(projectDir, "docs", "operations.md"), "utf8"));
            const issuedByKubeha = rows.filter((row) => /kubeha/.test(row.issuedBy));
            const listing: string[][] = [["host", "certificate", "subject", "issuer", "expires", "renewed by"]];
            const unrenewed: string[] = [];
            const record = (host: string, where: string, certificate: X509Certificate, row?: CertificateRow) => {
                const cn = (name: string) => /CN=([^\n]*)/.exec(name)?.[1] ?? name.replace(/\n/g, ", ");
                const expires = new Date(certificate.validTo).toISOString().slice(0, 10);
                listing.push([
                    host,
                    where,
                    cn(certificate.subject),
                    cn(certificate.issuer),
                    expires,
                    row?.renewedBy.split(/[,:(]/)[0] ?? "NOBODY",
                ]);
                if (!row)
                    unrenewed.push(
                        `${host}:${where} (${cn(certificate.subject)}, issued by ${cn(certificate.issuer)})`,
                    );
            };
            for (const master of masters) {
                const hostCas = new Map<string, X509Certificate>();
                const files = [kubernetesDir, "/etc/etcd"].flatMap((dir) =>
                    listFiles(path.join(root(master.name), dir)),
                );
                for (const file of files) {
                    const where = `/${path.relative(root(master.name), file)}`;
                    const text = fs.readFileSync(file, "utf8");
                    const kubeconfig = /^kind: Config$/m.test(text)
                        ? (parseYaml(text) as {
                              clusters?: { cluster: Record<string, string> }[];
                              users?: { name: string; user: Record<string, string> }[];
                          })
                        : undefined;
                    if (kubeconfig) {
                        for (const { name, user } of kubeconfig.users ?? []) {
                            const data = user["client-certificate-data"];
                            if (!data) continue;
                            const row = rows.find((candidate) =>
                                candidate.certificate.includes(`\`${path.basename(where)}\``),
                            );
                            record(
                                master.name,
                                `${where} (user ${name})`,
                                new X509Certificate(Buffer.from(data, "base64")),
                                row,
                            );
                        }
                        continue;
                    }
                    const certificates = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
                    for (const pem of certificates) {
                        const certificate = new X509Certificate(pem);
                        if (certificate.ca) hostCas.set(where, certificate);
                        // The program's own: delivered with the host's files, byte for byte.
                        const planned = path.join(cluster.plan.dir, "hosts", master.name, "files", where);
                        const delivered = fs.existsSync(planned) && fs.readFileSync(planned, "utf8").includes(pem);
                        const row = delivered
                            ? issuedByKubeha.find((candidate) =>
                                  [...candidate.certificate.matchAll(/`(\/[^`]+)`/g)].some(([, dir]) =>
                                      where.startsWith(`${dir}/`),
                                  ),
                              )
                            : undefined;
                        record(master.name, where, certificate, row);
                    }
                }
                // Every CA a kubeconfig embeds is one of the host's CA files (so it is the CA the table covers).
                for (const file of files.filter((candidate) =>
                    /^kind: Config$/m.test(fs.readFileSync(candidate, "utf8")),
                )) {
                    const config = parseYaml(fs.readFileSync(file, "utf8")) as {
                        clusters: { cluster: Record<string, string> }[];
                    };
                    for (const { cluster: entry } of config.clusters) {
                        const embedded = new X509Certificate(
                            Buffer.from(entry["certificate-authority-data"], "base64"),
                        );
                        assert.ok(
                            [...hostCas.values()].some((ca) => ca.raw.equals(embedded.raw)),
                            `${master.name}:${file}: embeds a CA that is none of the host's CA files`,
                        );
                    }
                }
            }
            const widths = listing[0].map((_, i) => Math.max(...listing.map((line) => line[i].length)));
            console.log(listing.map((line) => line.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n"));
            assert.ok(listing.length > 3 * 12, `only ${listing.length - 1} certificates found`);
            assert.deepEqual(unrenewed, [], "certificates no renewal path in docs/operations.md covers");
        },
    );

    check(
        "every manifest the plans apply (flannel; the kubernetes-dashboard and headlamp UIs; both clouds' controllers, CSI drivers and StorageClasses) passes server-side apply; flannel's Network is the cluster's pod CIDR",
        async () => {
            const variants = [
                plan({ stack: "dev", config: otherUiConfig, showSecrets: true }),
                plan({ stack: "aws-dev", showSecrets: true }),
                cluster.plan,
            ];
            for (const variant of variants) {
                const dir = path.join(variant.dir, "manifests");
                const files = applyOrder(variant);
                assert.ok(
                    files.some((file) => file.includes("flannel")),
                    `${dir}: no flannel`,
                );
                for (const file of files)
                    await admin("apply", "--server-side", "--field-manager=kubeha", "-f", path.join(dir, file));
            }
            const flannel = JSON.parse(
                await admin("-n", "kube-flannel", "get", "configmap", "kube-flannel-cfg", "-o", "json"),
            ) as { data: Record<string, string> };
            const network = (JSON.parse(flannel.data["net-conf.json"]) as { Network: string }).Network;
            const kubeadmConfig = JSON.parse(
                await admin("-n", "kube-system", "get", "configmap", "kubeadm-config", "-o", "json"),
            ) as { data: { ClusterConfiguration: string } };
            const podSubnet = (
                parseYaml(kubeadmConfig.data.ClusterConfiguration) as { networking: { podSubnet: string } }
            ).networking.podSubnet;
            assert.equal(network, podSubnet);
            assert.equal(podSubnet, cluster.config.network.podCidr);
            // The apiserver stored both clouds' CSI drivers and default StorageClasses as planned.
            const classes = JSON.parse(await admin("get", "storageclass", "-o", "json")) as {
                items: { metadata: { name: string; annotations?: Record<string, string> }; provisioner: string }[];
            };
            const drivers = (await admin("get", "csidriver", "-o", "name")).split("\n").filter(Boolean);
            assert.deepEqual(classes.items.map((item) => [item.metadata.name, item.provisioner]).sort(), [
                ["alicloud-disk-essd-encrypted", "diskplugin.csi.alibabacloud.com"],
                ["ebs-gp3-encrypted", "ebs.csi.aws.com"],
            ]);
            for (const item of classes.items) {
                assert.equal(item.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"], "true");
                assert.ok(drivers.includes(`csidriver.storage.k8s.io/${item.provisioner}`), drivers.join());
            }
        },
    );

    check(
        `Pod Security (the plan's admission configuration, enforce ${"`"}baseline${"`"}): every workload the plans apply, as a Pod in its namespace, is admitted; a privileged pod is refused in default (baseline) and the UIs' namespaces (restricted), admitted in kube-flannel (its label) and kube-system (exempt); a baseline pod in default is admitted with the restricted warning and audit annotation`,
        async () => {
            const enforced = /^\s*enforce: (\w+)$/m.exec(
                hostFile(cluster, masters[0].name, apiserverFiles.admissionConfig),
            );
            assert.equal(enforced?.[1], cluster.config.podSecurity.enforce);
            assert.equal(cluster.config.podSecurity.enforce, "baseline", "the dev plan enforces the default level");
            /** A server-side dry run of a Pod: it goes through admission, Pod Security included, and stores nothing. */
            const tryPod = (name: string, namespace: string, spec: unknown) => {
                const file = path.join(workDir, `pod-${namespace}-${name}.json`);
                const pod = { apiVersion: "v1", kind: "Pod", metadata: { name, namespace }, spec };
                fs.writeFileSync(file, JSON.stringify(pod));
                return kubectl(worker.name, ["create", "--dry-run=server", "-f", file]);
            };
            const workloadKinds = ["DaemonSet", "Deployment", "StatefulSet"];
            const refusedWorkloads: string[] = [];
            let tried = 0;
            for (const variant of [
                plan({ stack: "dev", config: otherUiConfig, showSecrets: true }),
                plan({ stack: "aws-dev", showSecrets: true }),
                cluster.plan,
            ]) {
                const dir = path.join(variant.dir, "manifests");
                for (const file of fs.readdirSync(dir)) {
                    const object = parseYaml(fs.readFileSync(path.join(dir, file), "utf8")) as {
                        kind: string;
                        metadata: { name: string; namespace: string };
                        spec: { template: { spec: unknown } };
                    };
                    if (!workloadKinds.includes(object.kind)) continue;
                    tried++;
                    const result = await tryPod(
                        object.metadata.name,
                        object.metadata.namespace,
                        object.spec.template.spec,
                    );
                    if (result.status !== 0) refusedWorkloads.push(`${file}: ${output(result)}`);
                }
            }
            assert.ok(tried >= 10, `only ${tried} workloads found`);
            assert.deepEqual(refusedWorkloads, [], "workloads the cluster would refuse to run");

            const privileged = {
                containers: [{ name: "probe", image: "probe:1", securityContext: { privileged: true } }],
            };
            // default at the cluster's level; the UIs' namespaces at restricted, their label.
            for (const [namespace, level] of [
                ["default", "baseline"],
                ["kubernetes-dashboard", "restricted"],
                ["headlamp", "restricted"],
            ]) {
                const refused = await tryPod("kubeha-privileged", namespace, privileged);
                assert.notEqual(refused.status, 0, `${namespace}: a privileged pod was admitted`);
                assert.match(
                    refused.stderr,
                    new RegExp(`violates PodSecurity "${level}:latest": privileged`),
                    namespace,
                );
            }
            for (const namespace of ["kube-flannel", "kube-system"]) {
                const admitted = await tryPod("kubeha-privileged", namespace, privileged);
                assert.equal(admitted.status, 0, `${namespace}: ${output(admitted)}`);
            }
            const baseline = await tryPod("kubeha-baseline", "default", {
                containers: [{ name: "probe", image: "probe:1" }],
            });
            assert.equal(baseline.status, 0, output(baseline));
            assert.match(baseline.stderr, /would violate PodSecurity "restricted:latest"/);
            await waitFor("the baseline pod's restricted violations in an audit log", 15_000, async () =>
                masters.some((master) =>
                    auditLog(master).some(
                        (event) =>
                            // The name as the request gave it (a create's objectRef may not carry it).
                            (event.requestObject as { metadata?: { name?: string } } | undefined)?.metadata?.name ===
                                "kubeha-baseline" &&
                            /restricted:latest/.test(
                                event.annotations?.["pod-security.kubernetes.io/audit-violations"] ?? "",
                            ),
                    ),
                )
                    ? true
                    : undefined,
            );
        },
    );

    check(
        "each cloud's load-balancer exposure policy refuses a LoadBalancer Service open to the internet and admits one that is restricted, internal or declared open",
        async () => {
            const attempt = async (
                name: string,
                annotations: Record<string, string>,
                ranges?: string[],
                server: string = endpoint,
            ) => {
                // JSON: kubectl's YAML reader takes an unquoted `on` for a boolean, which annotations cannot be.
                const file = path.join(workDir, `service-${name}.json`);
                fs.writeFileSync(
                    file,
                    JSON.stringify({
                        apiVersion: "v1",
                        kind: "Service",
                        metadata: { name, namespace: "default", annotations },
                        spec: {
                            type: "LoadBalancer",
                            selector: { app: name },
                            ports: [{ port: 80 }],
                            ...(ranges ? { loadBalancerSourceRanges: ranges } : {}),
                        },
                    }),
                );
                return kubectl(worker.name, ["create", "--dry-run=server", "-f", file, `--server=${server}`]);
            };
            const refused = (result: CommandResult) =>
                result.status !== 0 && /open to the whole internet/.test(output(result));
            const aws = "service.beta.kubernetes.io/aws-load-balancer-internal";
            const aliyun = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-";
            type Attempt = { name: string; annotations: Record<string, string>; ranges?: string[] };
            const cases: Record<"aws-dev" | "dev", { admitted: Attempt[]; refused: Attempt[] }> = {
                "aws-dev": {
                    admitted: [
                        { name: "ranges", annotations: {}, ranges: ["203.0.113.0/24"] },
                        { name: "internal", annotations: { [aws]: "true" } },
                        { name: "declared", annotations: { "kubeha.io/internet-facing": "true" } },
                    ],
                    refused: [
                        { name: "open", annotations: {} },
                        { name: "aliyun-internal", annotations: { [`${aliyun}address-type`]: "intranet" } },
                    ],
                },
                dev: {
                    admitted: [
                        { name: "internal", annotations: { [`${aliyun}address-type`]: "intranet" } },
                        { name: "acl", annotations: { [`${aliyun}acl-status`]: "on" } },
                        { name: "declared", annotations: { "kubeha.io/internet-facing": "true" } },
                    ],
                    refused: [
                        { name: "open", annotations: {} },
                        { name: "aws-internal", annotations: { [aws]: "true" } },
                    ],
                },
            };
            // The dev plan's policy is applied last: the cluster ends as it would be.
            for (const stack of ["aws-dev", "dev"] as const) {
                const dir = path.join(plan({ stack, showSecrets: true }).dir, "manifests");
                const policies = fs.readdirSync(dir).filter((name) => name.startsWith("validatingadmissionpolicy"));
                assert.equal(policies.length, 2, `${stack}: the policy and its binding`);
                for (const file of policies)
                    await admin("apply", "--server-side", "--field-manager=kubeha", "-f", path.join(dir, file));
                // Each apiserver enforces a policy once it has compiled it: wait until this version refuses on every
                // one, as the proxy may send the next request to any of them.
                const last = cases[stack].refused[cases[stack].refused.length - 1];
                for (const master of masters) {
                    await waitFor(`${stack}: its policy in force on ${master.name}`, 30_000, async () =>
                        refused(await attempt(last.name, last.annotations, undefined, directApiserver(master)))
                            ? true
                            : undefined,
                    );
                }
                for (const { name, annotations, ranges } of cases[stack].admitted) {
                    const result = await attempt(name, annotations, ranges);
                    assert.equal(result.status, 0, `${stack} ${name}: ${output(result)}`);
                }
                for (const { name, annotations } of cases[stack].refused)
                    assert.ok(refused(await attempt(name, annotations)), `${stack}: ${name} is admitted`);
            }
        },
    );

    check(
        "the upgrade step's kubeadm commands (scripts/upgrade-node.sh, with its own flags) accept the cluster the plan built: kubeadm of the next minor plans and dry-runs upgrade apply to it on master-1; upgrade node dry-runs on master-2",
        async () => {
            const [first, second] = masters;
            const running = `v${exactKubernetesVersion(cluster.config.kubernetesVersion)}`;
            // The next minor's pinned patch, with its own kubeadm (built for this check alone), as an upgrade runs
            // it; if the cluster runs the newest supported minor, its own version.
            const minor = cluster.config.kubernetesVersion.split(".").slice(0, 2).join(".") as KubernetesMinor;
            const nextMinor = supportedKubernetesMinors[supportedKubernetesMinors.indexOf(minor) + 1];
            const target = nextMinor ? `v${kubernetesPatches[nextMinor]}` : running;
            const targetKubeadm = nextMinor
                ? path.join(toolchainRelease("kubeadm", target.slice(1)), "kubeadm")
                : toolchainBinary("kubeadm");
            // The commands as the script has them, so a flag kubeadm does not know fails here.
            const script = fs.readFileSync(path.join(projectDir, "scripts", "upgrade-node.sh"), "utf8");
            const commandLine = (pattern: RegExp) => {
                const found = pattern.exec(script);
                assert.ok(found, `scripts/upgrade-node.sh has ${pattern}`);
                return found[1].split(" ").map((word) => (word === '"$target"' ? target : word));
            };
            const apply = commandLine(/kubeadm_upgrade=\((upgrade apply [^)]*)\)/);
            const node = commandLine(/kubeadm_upgrade=\((upgrade node[^)]*)\)/);
            // Skipped, as this machine cannot pass them: no kubelet runs, so no Node is Ready; no containerd runs for
            // the runtime check, and the host check finds no cgroup mount. kubeadm's Job check is not skipped: it
            // finds no schedulable node, as each master is cordoned (the drain step's first act) before its upgrade.
            const skipped =
                "--ignore-preflight-errors=ControlPlaneNodesReady,ContainerRuntimeVersion,SystemVerification";
            // Each host is named as its instance is (kubeadm takes the node name from the kubelet's kubeconfig, which
            // only master-1 has here, or else from the hostname).
            const upgrade = (host: string, kubeadmBinary: string, ...args: string[]) =>
                succeeds(
                    host,
                    ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, kubeadmBinary].concat(
                        args,
                        skipped,
                    ),
                    240_000,
                );
            // What each kubelet would have put on the API: kubeadm reads the node's CRI socket from its Node, the
            // kubelet's version from the Node's status (its version policy refuses too old a kubelet) and the
            // apiserver's advertised endpoint from its mirror pod (the static pod manifest kubeadm wrote, bound to
            // the node).
            const { criSocket } = (
                parseYaml(hostFile(cluster, first.name, kubeadmConfigPaths.init).split("\n---\n")[0]) as {
                    nodeRegistration: { criSocket: string };
                }
            ).nodeRegistration;
            const kubeletObjects = [first, second].flatMap((master) => {
                const mirrorPod = parseYaml(
                    fs.readFileSync(path.join(root(master.name), manifestsDir, "kube-apiserver.yaml"), "utf8"),
                ) as { metadata: { name: string }; spec: Record<string, unknown> };
                mirrorPod.metadata.name = `kube-apiserver-${master.name}`;
                mirrorPod.spec.nodeName = master.name;
                const annotations = { "kubeadm.alpha.kubernetes.io/cri-socket": criSocket };
                const cordoned = { unschedulable: true };
                return [
                    { apiVersion: "v1", kind: "Node", metadata: { name: master.name, annotations }, spec: cordoned },
                    mirrorPod,
                ];
            });
            const objects = path.join(workDir, "masters-kubelet-objects.json");
            fs.writeFileSync(objects, JSON.stringify({ apiVersion: "v1", kind: "List", items: kubeletObjects }));
            await admin("apply", "-f", objects);
            for (const master of [first, second]) {
                const status = { status: { nodeInfo: { kubeletVersion: running } } };
                await admin(
                    "patch",
                    "node",
                    master.name,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    JSON.stringify(status),
                );
            }

            const escaped = (version: string) => version.replace(/\./g, "\\.");
            const planned = await upgrade(first.name, targetKubeadm, "upgrade", "plan", target);
            assert.match(planned, new RegExp(`Cluster version: v?${escaped(running.slice(1))}\\n`));
            assert.match(planned, new RegExp(`Target version: ${escaped(target)}\\n`));
            const applied = await upgrade(first.name, targetKubeadm, ...apply, "--dry-run");
            assert.match(applied, new RegExp(`You have chosen to upgrade the cluster version to "${escaped(target)}"`));
            assert.match(applied, /Finished dryrunning successfully!/);
            // The other masters follow with kubeadm upgrade node; the dry run above changed nothing, so this one
            // "upgrades" master-2 to what the cluster runs, with the cluster's own kubeadm.
            const upgradedNode = await upgrade(second.name, toolchainBinary("kubeadm"), ...node, "--dry-run");
            assert.match(upgradedNode, /Finished dryrunning successfully!/);
            assertPkiUnchanged(first.name);
            assertPkiUnchanged(second.name);
        },
    );

    check(
        "the dashboard's token command (the default) issues a token that expires in 1h; headlamp's long-lived token Secret (configured) is filled by the controller-manager; both tokens are allowed everything (can-i '*' '*')",
        async () => {
            // The default: dashboardAccess.tokenCommand as the stack output gives it, run with the admin kubeconfig.
            const access = cluster.plan.outputs.dashboardAccess as { tokenCommand: string };
            const prefix = "kubectl --kubeconfig kubeconfig ";
            assert.ok(access.tokenCommand.startsWith(prefix), access.tokenCommand);
            const shortLived = (await admin(...access.tokenCommand.slice(prefix.length).split(" "))).trim();
            const claims = JSON.parse(Buffer.from(shortLived.split(".")[1], "base64url").toString("utf8")) as {
                exp: number;
                iat: number;
                sub: string;
            };
            assert.equal(claims.exp - claims.iat, 3600, "a token for 1h");
            assert.equal(claims.sub, "system:serviceaccount:kubernetes-dashboard:admin-user");

            const otherUi = plan({ stack: "dev", config: otherUiConfig, showSecrets: true });
            const secrets = [cluster.plan, otherUi]
                .flatMap((variant) => {
                    const dir = path.join(variant.dir, "manifests");
                    return fs.readdirSync(dir).map(
                        (file) =>
                            parseYaml(fs.readFileSync(path.join(dir, file), "utf8")) as {
                                kind: string;
                                type?: string;
                                metadata: { name: string; namespace: string };
                            },
                    );
                })
                .filter((object) => object.kind === "Secret" && object.type === "kubernetes.io/service-account-token");
            assert.deepEqual(
                secrets.map(({ metadata }) => `${metadata.namespace}/${metadata.name}`),
                ["headlamp/headlamp-admin"],
                "a long-lived token Secret only where configured",
            );
            const { metadata } = secrets[0];
            const longLived = await waitFor(`the token in ${metadata.namespace}/${metadata.name}`, 30_000, async () => {
                const data = (
                    await admin(
                        "-n",
                        metadata.namespace,
                        "get",
                        "secret",
                        metadata.name,
                        "-o",
                        "jsonpath={.data.token}",
                    )
                ).trim();
                return data ? Buffer.from(data, "base64").toString("utf8") : undefined;
            });
            for (const [label, token] of [
                ["short-lived", shortLived],
                ["long-lived", longLived],
            ]) {
                const allowed = await kubectlAs(worker.name, [`--token=${token}`], ["auth", "can-i", "*", "*"]);
                assert.equal(allowed.stdout.trim(), "yes", `${label}: ${output(allowed)}`);
            }
        },
    );

    check(
        "with master-1's apiserver stopped, kubectl through the worker's proxy keeps working; restarted, it is ready again",
        async () => {
            const [first] = masters;
            await processes.stop(`kube-apiserver ${first.name}`);
            for (let i = 0; i < 2 * masters.length; i++) await admin("get", "namespace", "default", "-o", "name");
            startComponent(first, "kube-apiserver");
            await waitReady(first);
        },
    );

    check(
        "with one etcd member stopped, writes through the API go on; restarted, it rejoins and holds them",
        async () => {
            const stopped = etcd.members[2];
            await etcd.stop(stopped);
            for (let i = 1; i <= 3; i++)
                await admin(
                    "create",
                    "configmap",
                    `kubeha-etcd-down-${i}`,
                    "-n",
                    "default",
                    "--from-literal=value=written while an etcd member was down",
                );
            etcd.start(stopped);
            await etcd.waitHealthy(`${stopped.name} to be healthy again`, etcd.clientUrl(stopped));
            await waitFor(`${stopped.name} to hold the writes it missed`, 30_000, async () => {
                const local = await etcd.etcdctl(
                    stopped,
                    ["get", "/registry/configmaps/default/kubeha-etcd-down-3", "--print-value-only", "--consistency=s"],
                    { ETCDCTL_ENDPOINTS: etcd.clientUrl(stopped) },
                );
                return local.stdout.includes("written while an etcd member was down") ? true : undefined;
            });
        },
    );

    check(
        "no apiserver, etcd member or proxy stopped on its own; controller-managers and schedulers only on losing their leader election (the kubelet would restart them, as here)",
        async () => {
            const components = masters.flatMap((master) =>
                controlPlaneComponents.map((component) => `${component} ${master.name}`),
            );
            const labels = [
                ...components,
                ...etcd.members.map((member) => `etcd ${member.name}`),
                ...[...masters, worker].map((host) => `api-proxy ${host.name}`),
            ];
            await waitFor("every process to run", 10_000, async () =>
                labels.every((label) => processes.isRunning(label)) ? true : undefined,
            ).catch(() => undefined);
            assert.deepEqual(
                labels.filter((label) => !processes.isRunning(label)),
                [],
                "not running",
            );
            for (const label of components.filter((candidate) => processes.restarts(candidate) > 0)) {
                assert.ok(!label.startsWith("kube-apiserver"), `${label} exited on its own${tail(label)}`);
                const exits = fs.readFileSync(logOf(label), "utf8").match(/leaderelection lost/gi)?.length ?? 0;
                assert.equal(
                    exits,
                    processes.restarts(label),
                    `${label} exited other than by losing its leader election${tail(label)}`,
                );
            }
        },
    );
});

function listFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((entry) =>
            entry.isDirectory() ? listFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
        );
}

/** A CA that is not the cluster's, with a client certificate claiming the admin group. */
function foreignCa(dir: string): { caCert: string; clientCert: string; clientKey: string } {
    const caCert = path.join(dir, "foreign-ca.crt");
    const caKey = path.join(dir, "foreign-ca.key");
    const clientCert = path.join(dir, "foreign-client.crt");
    const clientKey = path.join(dir, "foreign-client.key");
    if (fs.existsSync(clientCert)) return { caCert, clientCert, clientKey };
    selfSignedCertificate(caCert, caKey, "/CN=not-the-cluster-ca");
    const request = path.join(dir, "foreign-client.csr");
    fs.writeFileSync(request, certificateRequest(clientKey, "/O=kubeadm:cluster-admins/CN=kubeha-intruder"));
    signRequest(request, caCert, caKey, clientCert);
    return { caCert, clientCert, clientKey };
}

/** The client certificate a kubeconfig embeds. */
interface CertificateRow {
    readonly certificate: string;
    readonly issuedBy: string;
    readonly renewedBy: string;
}

/** The rows of docs/operations.md's table of every certificate on a host (its header starts `| certificate |`). */
function certificateTable(page: string): CertificateRow[] {
    const start = page.search(/^\| certificate\s*\|/m);
    assert.ok(start >= 0, "docs/operations.md has no certificate table");
    const lines = page.slice(start).split("\n");
    const table = lines.slice(
        2,
        lines.findIndex((line) => !line.startsWith("|")),
    );
    return table.map((line) => {
        const [certificate, issuedBy, renewedBy] = line
            .split("|")
            .slice(1, 4)
            .map((cell) => cell.trim());
        return { certificate, issuedBy, renewedBy };
    });
}

function kubeconfigCertificate(file: string): X509Certificate {
    const config = parseYaml(fs.readFileSync(file, "utf8")) as { users: { user: Record<string, string> }[] };
    return new X509Certificate(Buffer.from(config.users[0].user["client-certificate-data"], "base64"));
}

/** kubeadm's discovery hash of a CA: sha256 of its public key's DER SubjectPublicKeyInfo. */
function caCertHash(pem: string): string {
    const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
    return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

/**
 * The plan's manifests in an order Pulumi could apply them: each after the Kubernetes objects its resource
 * depends on (a token Secret after its ServiceAccount: the token controller deletes one whose account is
 * missing). Every manifest file is matched to its resource by kind, namespace and name.
 */
function applyOrder(planned: Plan): string[] {
    const dir = path.join(planned.dir, "manifests");
    const key = (kind: string, metadata?: { namespace?: string; name?: string }) =>
        `${kind}/${metadata?.namespace ?? ""}/${metadata?.name ?? ""}`;
    const fileOf = new Map<string, string>();
    for (const file of fs.readdirSync(dir)) {
        const object = parseYaml(fs.readFileSync(path.join(dir, file), "utf8")) as {
            kind: string;
            metadata: { namespace?: string; name: string };
        };
        fileOf.set(key(object.kind, object.metadata), file);
    }
    const resourceKey = (resource: PlannedResource) =>
        key(resource.type.split(":")[2], resource.inputs.metadata as { namespace?: string; name?: string });
    const objects = planned.resources.filter(
        (resource) => resource.type.startsWith("kubernetes:") && fileOf.has(resourceKey(resource)),
    );
    assert.equal(objects.length, fileOf.size, `${dir}: not every manifest is a resource of the plan`);
    const byName = new Map(objects.map((resource) => [resource.name, resource]));
    const ordered: string[] = [];
    const visit = (name: string, chain: string[]) => {
        const resource = byName.get(name);
        if (!resource || ordered.includes(name)) return;
        assert.ok(!chain.includes(name), `dependency cycle: ${[...chain, name].join(" -> ")}`);
        for (const dependency of resource.dependencies) visit(dependency, [...chain, name]);
        ordered.push(name);
    };
    for (const name of byName.keys()) visit(name, []);
    return ordered.map((name) => fileOf.get(resourceKey(byName.get(name)!))!);
}

/**
 * Every setting of planned, recursively, has the same value in actual, which may hold more (defaults filled in).
 * A planned zero may be absent: the kubelet's config file leaves out zero values (readOnlyPort 0 arrives as no key).
 */
function assertSettings(actual: unknown, planned: unknown, where: string): void {
    if (planned !== null && typeof planned === "object" && !Array.isArray(planned)) {
        assert.ok(actual !== null && typeof actual === "object", `${where}: ${JSON.stringify(actual)}`);
        for (const [key, value] of Object.entries(planned)) {
            assertSettings((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
        }
    } else if (typeof planned === "string" && goDuration(planned) !== undefined) {
        // Durations come back normalized (1m as 1m0s).
        assert.equal(goDuration(String(actual)), goDuration(planned), `${where}: ${actual} is not ${planned}`);
    } else if (!(actual === undefined && planned === 0)) {
        assert.deepEqual(actual, planned, where);
    }
}

/** A Go duration ("1m0s", "20Mi" is not one) in milliseconds, or undefined. */
function goDuration(text: string): number | undefined {
    const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
    if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) return undefined;
    return parts.reduce((total, [, value, unit]) => total + Number(value) * units[unit], 0);
}
