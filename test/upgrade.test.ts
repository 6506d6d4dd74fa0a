// The Kubernetes upgrade as the plan records it: the check before any node, masters one at a time, workers in
// upgrade.maxUnavailable lanes after the last master, steps that run nothing on creation, and a version change
// that changes the upgrade steps and nothing that would replace or reboot a host.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { workersAtOnce } from "../components/upgrade";
import { etcdVersion } from "../config/versions";
import type { PlannedResource } from "../plan/run";
import { decodeBundle } from "../render/file-bundle";
import { configFor } from "./support/config";
import { Plan, plan } from "./support/plan";

const upgradeSteps = ["upgrade-drain", "upgrade", "upgrade-uncordon"] as const;

describe("upgrade.maxUnavailable", () => {
    test("a count, or a percentage of the workers rounded down; at least one", () => {
        assert.equal(workersAtOnce(1, 10), 1);
        assert.equal(workersAtOnce(3, 10), 3);
        assert.equal(workersAtOnce(30, 10), 10);
        assert.equal(workersAtOnce("25%", 10), 2);
        assert.equal(workersAtOnce("25%", 3), 1);
        assert.equal(workersAtOnce("100%", 7), 7);
        assert.equal(workersAtOnce("50%", 0), 1);
    });

    test("defaults to 1; anything else than a positive count or 1-100% is refused, naming the key", () => {
        assert.equal(configFor({ cloud: "aws" }).upgrade.maxUnavailable, 1);
        assert.equal(configFor({ cloud: "aws", upgrade: { maxUnavailable: "20%" } }).upgrade.maxUnavailable, "20%");
        for (const bad of [0, 1.5, "0%", "150%", "two", -1]) {
            assert.throws(
                () => configFor({ cloud: "aws", upgrade: { maxUnavailable: bad } }),
                /kubeha:upgrade\.maxUnavailable: must be a whole number of workers \(at least 1\) or a percentage of them from 1% to 100%/,
                String(bad),
            );
        }
    });
});

describe("the rollout's order (dev, 5 workers, maxUnavailable 40%: two lanes)", () => {
    const result = plan({
        stack: "dev",
        config: { "kubeha:workers": { count: 5 }, "kubeha:upgrade": { maxUnavailable: "40%" } },
        showSecrets: true,
    });
    const masters = ["master-1", "master-2", "master-3"];
    const workers = ["worker-1", "worker-2", "worker-3", "worker-4", "worker-5"];
    const hosts = result.outputs.hosts as Record<string, { privateIp: string }>;
    const dependsOn = (name: string, on: string) => result.named(name).dependencies.includes(on);

    test("the check runs on the first master once every master has joined; the first master's drain waits for it", () => {
        const check = result.named("master-1-upgrade-check");
        assert.match(String(check.inputs.create), /\/usr\/local\/lib\/kubeha\/upgrade-check\.sh$/);
        assert.deepEqual(check.inputs.environment, { KUBEHA_KUBERNETES_VERSION: "1.36.3" });
        for (const joined of ["master-1-init", "master-2-join", "master-3-join"]) {
            assert.ok(result.ancestors(check.name).has(joined), joined);
        }
        assert.ok(dependsOn("master-1-upgrade-drain", check.name));
    });

    test("node steps run nothing on creation: an update command keyed to the exact target", () => {
        for (const node of [...masters, ...workers]) {
            for (const step of upgradeSteps) {
                const resource = result.named(`${node}-${step}`);
                assert.equal(resource.inputs.create, undefined, resource.name);
                assert.match(String(resource.inputs.update), /\/usr\/local\/lib\/kubeha\/upgrade-[a-z]+\.sh$/);
                assert.equal(
                    (resource.inputs.environment as Record<string, string>).KUBEHA_KUBERNETES_VERSION,
                    "1.36.3",
                );
            }
            const onHost = (step: string) =>
                (result.named(`${node}-${step}`).inputs.connection as { host: string }).host;
            assert.equal(onHost("upgrade-drain"), hosts["master-1"].privateIp, "drained from the first master");
            assert.equal(onHost("upgrade"), hosts[node].privateIp, "upgraded on the node itself");
            assert.equal(onHost("upgrade-uncordon"), hosts["master-1"].privateIp);
            assert.ok(dependsOn(`${node}-upgrade`, `${node}-upgrade-drain`));
            assert.ok(dependsOn(`${node}-upgrade-uncordon`, `${node}-upgrade`));
            assert.ok(result.ancestors(`${node}-upgrade-drain`).has(`${node}-join`) || node === "master-1");
        }
        const environment = (node: string) =>
            result.named(`${node}-upgrade`).inputs.environment as Record<string, string>;
        assert.equal(environment("master-1").KUBEHA_KUBEADM_UPGRADE, "apply");
        for (const node of [...masters.slice(1), ...workers])
            assert.equal(environment(node).KUBEHA_KUBEADM_UPGRADE, "node");
        const apt = decodeBundle(result.named("worker-1-upgrade").inputs.stdin as string);
        assert.deepEqual(
            apt.map((file) => file.path),
            ["/etc/apt/sources.list.d/kubernetes.list", "/etc/apt/preferences.d/kubeha.pref"],
        );
        assert.match(apt[0].content, /\/v1\.36\/deb\/ \/\n$/);
        assert.match(apt[1].content, /^Pin: version 1\.36\.3-\*$/m);
    });

    test("masters one after another; workers after the last master, two lanes of one after another", () => {
        assert.ok(dependsOn("master-2-upgrade-drain", "master-1-upgrade-uncordon"));
        assert.ok(dependsOn("master-3-upgrade-drain", "master-2-upgrade-uncordon"));
        const lanes: Record<string, string> = {
            "worker-1": "master-3-upgrade-uncordon",
            "worker-2": "master-3-upgrade-uncordon",
            "worker-3": "worker-1-upgrade-uncordon",
            "worker-4": "worker-2-upgrade-uncordon",
            "worker-5": "worker-3-upgrade-uncordon",
        };
        for (const [worker, after] of Object.entries(lanes)) {
            assert.ok(dependsOn(`${worker}-upgrade-drain`, after), `${worker} after ${after}`);
            assert.ok(
                result.ancestors(`${worker}-upgrade-drain`).has("master-3-upgrade-uncordon"),
                "never with a master",
            );
        }
        // At most two workers at once: any three have two on one lane, one after the other.
        const upgraded = (worker: string) => `${worker}-upgrade-uncordon`;
        assert.ok(!result.ancestors("worker-2-upgrade-drain").has(upgraded("worker-1")), "lanes run side by side");
        assert.ok(result.ancestors("worker-5-upgrade-drain").has(upgraded("worker-1")));
    });
});

test("the upgrade steps get the preflight checks the stack ignores (kubeadm's upgrade runs them again), and none when it ignores none", () => {
    const ignoring = plan({ stack: "dev", config: { "kubeha:ignorePreflightErrors": ["SystemVerification", "Swap"] } });
    const plain = plan({ stack: "dev" });
    for (const node of ["master-1", "master-2", "worker-1"]) {
        const environment = (result: Plan) =>
            result.named(`${node}-upgrade`).inputs.environment as Record<string, string>;
        assert.equal(environment(ignoring).KUBEHA_IGNORE_PREFLIGHT_ERRORS, "SystemVerification,Swap", node);
        assert.equal(environment(plain).KUBEHA_IGNORE_PREFLIGHT_ERRORS, undefined, node);
    }
});

describe("the etcd upgrade (dev: etcd on the three masters)", () => {
    const result = plan({ stack: "dev" });
    const members = ["master-1", "master-2", "master-3"];
    const dependsOn = (name: string, on: string) => result.named(name).dependencies.includes(on);

    test("one update command per member, keyed to the release: nothing runs on creation", () => {
        for (const member of members) {
            const step = result.named(`${member}-etcd-upgrade`);
            assert.equal(step.inputs.create, undefined);
            assert.equal(
                step.inputs.update,
                "sudo --preserve-env=" +
                    Object.keys(step.inputs.environment as object).join(",") +
                    " /usr/local/lib/kubeha/upgrade-etcd.sh",
            );
            const environment = step.inputs.environment as Record<string, string>;
            assert.equal(environment.KUBEHA_ETCD_VERSION, etcdVersion);
            assert.ok(
                environment.KUBEHA_ETCD_RELEASE.endsWith(`/v${etcdVersion}/etcd-v${etcdVersion}-linux-amd64.tar.gz`),
            );
            assert.equal(environment.KUBEHA_ETCD_BIN_DIR, "/usr/local/bin");
            assert.equal(environment.KUBEHA_ETCD_CONFIG, "/etc/etcd/etcd.yaml");
            assert.equal(environment.KUBEHA_ETCD_ENDPOINTS.split(",").length, 3);
        }
    });

    test("members one after another, after the health gate; kubeadm's upgrade waits for the last", () => {
        assert.ok(dependsOn("master-1-etcd-upgrade", "master-1-etcd-health"));
        assert.ok(dependsOn("master-2-etcd-upgrade", "master-1-etcd-upgrade"));
        assert.ok(dependsOn("master-3-etcd-upgrade", "master-2-etcd-upgrade"));
        assert.ok(dependsOn("master-1-upgrade-check", "master-3-etcd-upgrade"));
        // Nothing of the bootstrap waits for them: on creation they run nothing, and hold nothing up.
        const waiting = result.resources.filter((r) => r.dependencies.some((d) => d.endsWith("-etcd-upgrade")));
        assert.deepEqual(waiting.map((r) => r.name).sort(), [
            "master-1-upgrade-check",
            "master-2-etcd-upgrade",
            "master-3-etcd-upgrade",
        ]);
    });
});

describe("a new kubernetesVersion changes the upgrade steps and nothing that replaces or reboots a host", () => {
    // Two plans of the same config differ where the plan draws keys and serials (certificates and what carries
    // them): those resources are left out, and checked to be only those.
    const before = plan({ stack: "aws-dev" });
    const again = plan({ stack: "aws-dev", config: { "kubeha:kubernetesVersion": "1.36" } });
    const after = plan({ stack: "aws-dev", config: { "kubeha:kubernetesVersion": "1.37" } });
    /** Inputs as `pulumi up` compares them: ignored changes left out. */
    const compared = (resource: PlannedResource) => {
        const inputs: Record<string, unknown> = { ...resource.inputs };
        for (const key of resource.ignoreChanges ?? []) delete inputs[key];
        // Each plan draws its own SSH host keys, which every connection pins: compared without them.
        return JSON.stringify(inputs, (key, value: unknown) => (key === "hostKey" ? undefined : value));
    };
    const differing = (one: Plan, other: Plan) =>
        one.resources
            .filter((resource) => compared(resource) !== compared(other.named(resource.name)))
            .map((resource) => resource.name);

    // Not compared, as they differ between any two plans: the first master's kubeadm init file names the version
    // too (it is rewritten, and the token step keyed to it ensures the same token again; neither touches kubeadm).
    test("same resources; what changes are the upgrade steps", () => {
        assert.deepEqual(
            after.resources.map((r) => r.name),
            before.resources.map((r) => r.name),
        );
        const drawn = new Set(differing(again, before));
        for (const name of drawn) {
            assert.match(
                name,
                /-(cert|csr|ca|key|files|keys|kubeadm-config|apiserver-restart)$|^(k8s|api-ready|ssh-key-pair)$/,
                `${name} differs between two plans`,
            );
        }
        const changed = differing(after, before).filter((name) => !drawn.has(name));
        const expected = [
            "master-1-upgrade-check",
            ...["master-1", "master-2", "master-3", "worker-1", "worker-2", "worker-3"].flatMap((node) =>
                upgradeSteps.map((step) => `${node}-${step}`),
            ),
        ];
        assert.deepEqual([...changed].sort(), [...expected].sort());
        for (const name of changed.filter((n) => /-upgrade(-drain|-uncordon)?$/.test(n))) {
            assert.deepEqual(after.named(name).inputs.triggers, before.named(name).inputs.triggers, `${name} updates`);
        }
    });
});
