// The bootstrap as the plan records it: every remote step through the bastion, etcd before kubeadm init,
// init before every join, workers independent of each other, scale-down drains, secrets stay secret.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { digestOf } from "../components/host-files";
import type { PlannedResource } from "../plan/run";
import { etcdConfigPath, etcdUnitPath } from "../render/etcd";
import { bundleInStdin, decodeBundle } from "../render/file-bundle";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { Step, stepIds, steps as stepCatalogue, workerJoinUnit } from "../render/steps";
import { bootWaitingStep, Plan, plan } from "./support/plan";

const remote = "command:remote:Command";

/** A remote step that runs a command when it is created (update-phase steps run only on a change). */
const runsOnCreation = (resource: PlannedResource) => resource.type === remote && resource.inputs.create !== undefined;

/** The most remote steps run one after another on any chain of dependencies when the cluster is created. */
function longestStepChain(result: Plan): number {
    const byName = new Map(result.resources.map((resource) => [resource.name, resource]));
    const memo = new Map<string, number>();
    const depth = (resource: PlannedResource): number => {
        if (!memo.has(resource.name)) {
            const below = resource.dependencies.map((name) => byName.get(name)).filter((r) => r !== undefined);
            memo.set(resource.name, (runsOnCreation(resource) ? 1 : 0) + Math.max(0, ...below.map(depth)));
        }
        return memo.get(resource.name)!;
    };
    return Math.max(...result.resources.map(depth));
}

for (const stack of ["dev", "aws-dev"]) {
    describe(`${stack}: bootstrap order`, () => {
        const result = plan({ stack, showSecrets: true });
        const steps = result.ofType(remote);
        const hosts = Object.entries(result.outputs.hosts as Record<string, { role: string; privateIp: string }>);
        const bastionIp = result.outputs.bastionAddress as string;
        const names = (role: string) => hosts.filter(([, host]) => host.role === role).map(([name]) => name);

        test("every remote step runs over SSH through the bastion (the wait step on the bastion itself)", () => {
            assert.ok(steps.length > 0);
            for (const step of steps) {
                const connection = step.inputs.connection as { host: string; proxy?: { host: string } };
                if (step.name.endsWith("-ssh")) {
                    assert.equal(connection.host, bastionIp, step.name);
                    assert.equal(connection.proxy, undefined, step.name);
                } else {
                    assert.equal(connection.proxy?.host, bastionIp, `${step.name} goes through the bastion`);
                    assert.ok(
                        hosts.some(([, host]) => host.privateIp === connection.host),
                        step.name,
                    );
                }
            }
        });

        test("every step on a host comes after sshd answers, and after the boot preparation unless it needs none", () => {
            // Files, keys and the kubeadm config need nothing the boot installs; etcd's start waits for the boot's
            // etcd stage itself (scripts/lib.sh wait_for_boot_stage), after outbound access, and the etcd steps
            // after it (the health gate, the upgrades, which run nothing on creation) need only what that stage installs.
            // A worker has no ready step: its join only queues a unit that waits for the boot on the worker
            // (scripts/join-worker.sh), and its other steps come after that join.
            const duringBoot = ["files", "keys", "kubeadm-config", "etcd", "etcd-health", "etcd-upgrade"];
            for (const [host, { role }] of hosts.filter(([, h]) => h.role !== "bastion")) {
                const booted = bootWaitingStep(host);
                assert.equal(booted, `${host}-${role === "worker" ? "join" : "ready"}`, "the helper follows the roles");
                assert.ok(result.resources.some((r) => r.name === booted));
                if (role === "worker") assert.ok(!result.resources.some((r) => r.name === `${host}-ready`), host);
                for (const step of steps.filter((s) => s.name.startsWith(`${host}-`) && !s.name.endsWith("-ssh"))) {
                    const before = result.ancestors(step.name);
                    assert.ok(before.has(`${host}-ssh`), `${step.name} after ${host}-ssh`);
                    if (step.name === booted) continue;
                    const early = duringBoot.some((name) => step.name === `${host}-${name}`);
                    assert.equal(before.has(booted), !early, `${step.name} after ${booted}: ${!early}`);
                }
            }
            for (const member of hosts.filter(([name]) => result.resources.some((r) => r.name === `${name}-etcd`))) {
                const egress = result.resources.filter((r) => /^(snat-|private-default-route-)/.test(r.name));
                assert.ok(egress.length > 0);
                for (const route of egress) assert.ok(result.ancestors(`${member[0]}-etcd`).has(route.name));
            }
        });

        test("every etcd member starts before kubeadm init, init before every join", () => {
            const [first, ...others] = names("master");
            const beforeInit = result.ancestors(`${first}-init`);
            const members = hosts.filter(([name]) => result.resources.some((r) => r.name === `${name}-etcd`));
            assert.equal(members.length, 3);
            for (const [member] of members) assert.ok(beforeInit.has(`${member}-etcd`), `${member}-etcd before init`);
            assert.ok(beforeInit.has(`${first}-etcd-health`));
            // Members one after another, so that a changed config restarts one member at a time.
            members.slice(1).forEach(([member], i) => {
                const previous = members[i][0];
                assert.ok(result.named(`${member}-etcd`).dependencies.includes(`${previous}-etcd`), member);
            });
            for (const node of [...others, ...names("worker")]) {
                assert.ok(result.ancestors(`${node}-join`).has(`${first}-init`), `${node}-join after init`);
                assert.ok(result.ancestors(`${node}-join`).has(`${first}-token`), `${node}-join after the token`);
            }
        });

        test("no worker step that runs on creation waits for another worker, but for the one gate after all joins", () => {
            // The gate on the first master waits for every worker's queued join; after it, only the approvals of
            // the workers' serving certificates (which the masters' approver timer also gives).
            const workers = names("worker");
            const gate = `${names("master")[0]}-workers-joined`;
            assert.deepEqual(
                result
                    .named(gate)
                    .dependencies.filter((name) => workers.some((worker) => name.startsWith(`${worker}-`)))
                    .sort(),
                workers.map((worker) => `${worker}-join`).sort(),
            );
            for (const worker of workers) {
                const afterGate = steps.filter(
                    (s) => s.name.startsWith(`${worker}-`) && result.ancestors(s.name).has(gate),
                );
                assert.deepEqual(
                    afterGate.filter(runsOnCreation).map((s) => s.name),
                    [`${worker}-serving-cert`],
                    worker,
                );
                const beforeGate = steps.filter((s) => s.name.startsWith(`${worker}-`) && !afterGate.includes(s));
                for (const step of beforeGate.filter(runsOnCreation)) {
                    // Remote steps only: on AWS every host waits for every DNS record, which is no step. The
                    // upgrade's steps are chained on purpose, and run nothing on creation.
                    const before = [...result.ancestors(step.name)].filter((name) =>
                        runsOnCreation(result.named(name)),
                    );
                    const others = before.filter((name) =>
                        workers.some((w) => w !== worker && name.startsWith(`${w}-`)),
                    );
                    assert.deepEqual(others, [], `${step.name} waits for nothing of another worker`);
                }
            }
        });

        test("one gate on the first master waits for every worker, by name and instance: a replaced one runs it again", () => {
            const [first] = names("master");
            const gate = result.named(`${first}-workers-joined`);
            const workers = names("worker");
            // Each worker's instance id, as every step on the worker has it first among its triggers.
            const instanceId = (worker: string) => (result.named(`${worker}-join`).inputs.triggers as unknown[])[0];
            assert.deepEqual(gate.inputs.environment, {
                KUBEHA_JOIN_UNIT: workerJoinUnit,
                KUBEHA_WORKERS: workers.map((worker) => `${worker}=${instanceId(worker)}`).join(","),
            });
            assert.equal(new Set(workers.map(instanceId)).size, workers.length);
            for (const worker of workers) {
                const join = result.named(`${worker}-join`);
                assert.match(String(join.inputs.create), /\/queue-join-worker\.sh$/);
                assert.equal((join.inputs.environment as Record<string, string>).KUBEHA_JOIN_UNIT, workerJoinUnit);
            }
        });

        test("removing a worker drains and deletes its node from the first master, before its instance goes", () => {
            const [first] = names("master");
            const firstIp = hosts.find(([name]) => name === first)![1].privateIp;
            for (const worker of names("worker")) {
                const removal = result.named(`${worker}-remove-node`);
                assert.equal(removal.inputs.create, undefined, "nothing to do on creation");
                assert.match(String(removal.inputs.delete), /\/usr\/local\/lib\/kubeha\/remove-node\.sh$/);
                assert.deepEqual(removal.inputs.environment, { KUBEHA_NODE_NAME: worker });
                assert.equal((removal.inputs.connection as { host: string }).host, firstIp);
                // Deleted before the join, which is deleted before the instance; skipped when the whole
                // cluster (the first master) goes.
                assert.ok(result.ancestors(removal.name).has(`${worker}-join`));
                assert.ok(result.ancestors(`${worker}-join`).has(worker));
                assert.equal(removal.deletedWith, first);
            }
        });

        test("Kubernetes objects are deleted with the cluster, not one by one through a vanishing API", () => {
            const objects = result.resources.filter(
                (r) => r.type.startsWith("kubernetes:") && !r.type.includes("providers"),
            );
            assert.ok(objects.length > 0);
            for (const object of objects) assert.equal(object.deletedWith, names("master")[0], object.name);
        });

        test("a step on a host is deleted with that host (destroy never waits on a gone host)", () => {
            const [first] = names("master");
            // Steps the first master runs on a node's behalf (the catalogue's forEachNode steps) go with the first
            // master (the cluster).
            const catalogue: Step[] = stepIds.map((id) => stepCatalogue[id]);
            const onFirstMaster = new Set<string>(
                catalogue.filter((step) => step.forEachNode).map((step) => step.name),
            );
            assert.ok(onFirstMaster.has("serving-cert") && onFirstMaster.has("remove-node"));
            for (const step of steps) {
                const host = hosts.map(([name]) => name).find((name) => step.name.startsWith(`${name}-`));
                assert.ok(host, step.name);
                const stepName = step.name.slice(host.length + 1);
                assert.equal(step.deletedWith, onFirstMaster.has(stepName) ? first : host, step.name);
            }
        });

        test("a joined host keeps the kubeadm configuration it joined with; the first master follows its own", () => {
            const [first, ...others] = names("master");
            assert.equal(result.named(`${first}-kubeadm-config`).ignoreChanges, undefined);
            for (const node of [...others, ...names("worker")]) {
                assert.deepEqual(result.named(`${node}-kubeadm-config`).ignoreChanges, ["stdin"], node);
            }
            const configSteps = steps.filter((step) => step.ignoreChanges !== undefined).map((step) => step.name);
            assert.deepEqual(
                configSteps.sort(),
                [...others, ...names("worker")].map((node) => `${node}-kubeadm-config`).sort(),
                "no other step ignores a change",
            );
        });
    });
}

describe("secrets stay out of commands, logs and the plain plan", () => {
    const shown = plan({ stack: "dev", showSecrets: true });
    const hidden = plan({ stack: "dev" });
    const tokenPattern = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/;

    test("no command text or environment holds a token or a key", () => {
        for (const step of shown.ofType(remote)) {
            const visible = JSON.stringify([step.inputs.create, step.inputs.delete, step.inputs.environment]);
            assert.doesNotMatch(visible, tokenPattern, step.name);
            assert.doesNotMatch(visible, /PRIVATE KEY/, step.name);
        }
    });

    test("the keys bundles and the kubeadm configurations travel as secrets", () => {
        for (const step of hidden.ofType(remote).filter((s) => s.name.endsWith("-keys"))) {
            assert.equal(step.inputs.stdin, "[secret]", step.name);
        }
        for (const step of hidden.ofType(remote).filter((s) => s.name.endsWith("-kubeadm-config"))) {
            assert.equal(step.inputs.stdin, "[secret]", step.name);
        }
        const initConfig = shown.named("master-1-kubeadm-config").inputs.stdin as string;
        assert.match(initConfig, /\/etc\/kubernetes\/kubeadm\/init\.yaml/);
        const plainFiles = shown.named("master-1-files").inputs.stdin as string;
        assert.doesNotMatch(plainFiles, /kubeadm\/init\.yaml|\.key /);
    });

    test("steps that handle secrets log only errors", () => {
        for (const name of ["master-1-init", "master-1-token", "master-2-join", "worker-1-join", "worker-1-keys"]) {
            assert.equal(shown.named(name).inputs.logging, "stderr", name);
        }
    });

    test("without --show-secrets the plan holds no token and no private key", () => {
        const text = JSON.stringify(hidden.resources) + JSON.stringify(hidden.outputs);
        assert.doesNotMatch(text, tokenPattern);
        assert.doesNotMatch(text, /PRIVATE KEY/);
    });
});

describe("a changed file re-runs exactly the steps that act on it", () => {
    const shown = plan({ stack: "dev", showSecrets: true });
    /** The files of a host in the plan whose path matches, as the digest takes them (path order). */
    const hostFiles = (host: string, wanted: (path: string) => boolean) => {
        const root = path.join(shown.dir, "hosts", host, "files");
        const walk = (dir: string): string[] =>
            fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
                const full = path.join(dir, entry.name);
                return entry.isDirectory() ? walk(full) : [full];
            });
        return walk(root)
            .map((full) => ({ path: full.slice(root.length), content: fs.readFileSync(full, "utf8") }))
            .filter((file) => wanted(file.path))
            .sort((a, b) => a.path.localeCompare(b.path));
    };
    const keysAndFiles = (host: string) => [
        ...decodeBundle(bundleInStdin(shown.named(`${host}-files`).inputs.stdin as string)),
        ...decodeBundle(bundleInStdin(shown.named(`${host}-keys`).inputs.stdin as string)),
    ];

    test("an etcd member restarts when its config or unit changes, not on renewed certificates", () => {
        for (const member of ["master-1", "master-2", "master-3"]) {
            const etcdFiles = (file: string) => file === etcdConfigPath || file === etcdUnitPath;
            const delivered = keysAndFiles(member).filter((file) => etcdFiles(file.path));
            assert.equal(delivered.length, 2, member);
            const expected = digestOf([...delivered].sort((a, b) => a.path.localeCompare(b.path)));
            assert.deepEqual(shown.named(`${member}-etcd`).inputs.triggers, [`${member}-id`, expected], member);
            assert.equal(hostFiles(member, etcdFiles).length, delivered.length, "the plan shows the same files");
        }
    });

    test("a newly drawn bootstrap token re-runs the token step, and reaches no host that has joined", () => {
        const initStdin = shown.named("master-1-kubeadm-config").inputs.stdin as string;
        const init = decodeBundle(bundleInStdin(initStdin));
        assert.deepEqual(
            init.map((file) => file.path),
            [kubeadmConfigPaths.init],
        );
        const [, tokenTrigger] = shown.named("master-1-token").inputs.triggers as string[];
        assert.equal(tokenTrigger, digestOf(init));
        for (const host of ["master-2", "master-3", "worker-1", "worker-2", "worker-3"]) {
            const config = shown.named(`${host}-kubeadm-config`);
            assert.deepEqual(config.ignoreChanges, ["stdin"], `${host} keeps the configuration it joined with`);
            assert.ok(shown.ancestors(`${host}-join`).has(config.name));
            const keys = decodeBundle(bundleInStdin(shown.named(`${host}-keys`).inputs.stdin as string));
            assert.ok(
                !keys.some((file) => file.path.startsWith("/etc/kubernetes/kubeadm/")),
                `${host}: no token in keys`,
            );
        }
        assert.equal(shown.named("master-1-kubeadm-config").ignoreChanges, undefined, "the token step reads it");
    });

    test("a replaced host (a new instance) gets every one of its steps again", () => {
        for (const step of shown.ofType(remote).filter((s) => !s.name.endsWith("-remove-node"))) {
            const host = step.name.match(/^(master|worker|etcd)-\d+/)![0];
            const triggers = step.inputs.triggers as unknown[];
            assert.equal(triggers[0], `${host}-id`, `${step.name} is keyed to ${host}'s instance`);
        }
        for (const removal of shown.ofType(remote).filter((s) => s.name.endsWith("-remove-node"))) {
            assert.equal(removal.inputs.triggers, undefined, `${removal.name} is keyed to the node's name only`);
        }
    });
});

describe("the bootstrap creates exactly the steps the catalogue (render/steps.ts) describes", () => {
    for (const [stack, config] of [
        ["dev", undefined],
        ["aws-dev", { "kubeha:etcd": { dedicated: true }, "kubeha:workers": { count: 4 } }],
    ] as const) {
        test(`${stack}${config ? " with dedicated etcd" : ""}`, () => {
            const result = plan({ stack, ...(config ? { config } : {}) });
            const hosts = Object.entries(result.outputs.hosts as Record<string, { role: string }>)
                .filter(([, host]) => host.role !== "bastion")
                .map(([name, host]) => ({
                    name,
                    role: host.role,
                    etcdMember: result.resources.some((r) => r.name === `${name}-etcd`),
                }));
            const expected = stepIds.flatMap((id) => {
                const step: Step = stepCatalogue[id];
                if (step.phase === "none") return [];
                if (step.forEachNode) {
                    return hosts
                        .filter((h) => (step.forEachNode as readonly string[]).includes(h.role))
                        .map((h) => `${h.name}-${step.name}`);
                }
                const eligible = hosts.filter((h) => (step.roles as readonly string[]).includes(h.role));
                const chosen = {
                    every: eligible,
                    first: eligible.slice(0, 1),
                    "all-but-first": eligible.slice(1),
                    "etcd-members": eligible.filter((h) => h.etcdMember),
                    "first-etcd-member": eligible.filter((h) => h.etcdMember).slice(0, 1),
                }[step.hosts];
                return chosen.map((h) => `${h.name}-${step.name}`);
            });
            const created = result.ofType(remote).map((step) => step.name);
            assert.deepEqual([...created].sort(), [...expected].sort());
        });
    }
});

describe("joins run side by side, for any number of masters", () => {
    const shapes = [
        { stack: "dev" },
        { stack: "dev", config: { "kubeha:masters": { count: 5 } } },
        { stack: "aws-dev", config: { "kubeha:masters": { count: 7 }, "kubeha:workers": { count: 5 } } },
    ];
    /** The joins of `others` that `step` waits for, directly or not. */
    const joinsBefore = (result: Plan, step: string, others: string[]) =>
        [...result.ancestors(step)].filter((name) => others.some((host) => name === `${host}-join`));

    for (const shape of shapes) {
        const label = `${shape.stack}${shape.config ? ` ${JSON.stringify(shape.config)}` : ""}`;
        test(`${label}: no master's join waits for another master's, no worker's for any other join`, () => {
            const result = plan(shape);
            const hosts = Object.entries(result.outputs.hosts as Record<string, { role: string }>);
            const [, ...joining] = hosts.filter(([, host]) => host.role === "master").map(([name]) => name);
            const workers = hosts.filter(([, host]) => host.role === "worker").map(([name]) => name);
            assert.equal(joining.length, (shape.config?.["kubeha:masters"]?.count ?? 3) - 1);
            // (Joins do wait for every etcd member, which start one after another by design.)
            for (const master of joining) {
                assert.deepEqual(joinsBefore(result, `${master}-join`, joining), [], master);
            }
            for (const worker of workers) {
                assert.deepEqual(joinsBefore(result, `${worker}-join`, [...workers, ...joining]), [], worker);
            }
        });
    }
});

test("50 workers: the longest chain of remote steps is no longer than with 3", () => {
    const three = longestStepChain(plan({ stack: "dev" }));
    const fifty = longestStepChain(plan({ stack: "dev", config: { "kubeha:workers": { count: 50 } } }));
    assert.ok(three >= 7, `a chain of ${three} steps: ssh, ready, files, etcd, health, init, token, join...`);
    assert.equal(fifty, three);
});
