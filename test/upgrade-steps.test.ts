// The Kubernetes upgrade steps (upgrade-check, upgrade-drain, upgrade, upgrade-uncordon) run as the rollout
// orders them on throwaway hosts, with stand-ins for kubeadm, kubectl, systemctl and the apt tools
// (test/support/step-stubs): kubeadm's order, what is refused before any host is touched, a second run that
// changes nothing, and what a failure leaves behind and how the next run continues.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { kubernetesAptFiles } from "../render/cloud-init";
import { encodeBundle } from "../render/file-bundle";
import { steps } from "../render/steps";
import { configFor } from "./support/config";
import { changes, StepSandbox } from "./support/step-sandbox";

const masters = ["master-1", "master-2"];
const workers = ["worker-1", "worker-2"];
const from = "1.36.3";
const target = "1.37.2";

describe("Kubernetes upgrade steps on throwaway hosts", () => {
    let sandbox: StepSandbox;
    const stateFile = (...names: string[]) => path.join(sandbox.state, ...names);
    const writeState = (content: string, ...names: string[]) => {
        fs.mkdirSync(path.dirname(stateFile(...names)), { recursive: true });
        fs.writeFileSync(stateFile(...names), content);
    };
    const readState = (...names: string[]) => fs.readFileSync(stateFile(...names), "utf8").trim();
    const onHost = (host: string, file: string) => fs.readFileSync(sandbox.hostPath(host, file), "utf8");
    // The version is set past validation: the patch test upgrades to 1.36.4, a patch newer than this kubeha knows
    // (config refuses it), as a later kubeha that knows it would install it.
    const apt = (version: string) =>
        encodeBundle(
            kubernetesAptFiles({ ...configFor({ cloud: "aws", kubernetesVersion: from }), kubernetesVersion: version }),
        );

    /** A cluster kubeadm built at `version`: every node joined, its packages installed and held. */
    const clusterAt = (version: string) => {
        writeState("", "apiserver-up");
        writeState(`v${version}`, "cluster-version");
        for (const node of [...masters, ...workers]) {
            writeState("", "nodes", node);
            writeState(`v${version}`, "node-version", node);
            sandbox.writeHostFile(node, "/etc/kubernetes/kubelet.conf", "kubelet kubeconfig");
            sandbox.writeHostFile(node, "/var/lib/kubelet/config.yaml", `kubelet config for v${version}`);
            for (const pkg of ["kubeadm", "kubelet", "kubectl"]) {
                sandbox.writeHostFile(node, `/var/lib/stub-dpkg/${pkg}`, `${version}-1.1\n`);
            }
            sandbox.writeHostFile(node, "/var/lib/stub-dpkg/held", "kubeadm\nkubectl\nkubelet\n");
            for (const file of kubernetesAptFiles(configFor({ cloud: "aws", kubernetesVersion: version }))) {
                sandbox.writeHostFile(node, file.path, file.content);
            }
        }
        for (const master of masters) {
            sandbox.writeHostFile(master, "/etc/kubernetes/admin.conf", "admin kubeconfig");
            sandbox.writeHostFile(
                master,
                "/etc/kubernetes/manifests/kube-apiserver.yaml",
                `image: registry.k8s.io/kube-apiserver:v${version}\n`,
            );
        }
    };
    const variables = (node: string, version = target) => ({
        KUBEHA_NODE_NAME: node,
        KUBEHA_KUBERNETES_VERSION: version,
        KUBEHA_TIMEOUT: "6",
    });
    const check = (version = target) =>
        sandbox.run("master-1", steps["upgrade-check"].script, {
            KUBEHA_KUBERNETES_VERSION: version,
            KUBEHA_TIMEOUT: "6",
        });
    const drain = (node: string, version = target) =>
        sandbox.run("master-1", steps["upgrade-drain"].script, variables(node, version));
    const upgrade = (node: string, version = target) =>
        sandbox.run(
            node,
            steps.upgrade.script,
            { ...variables(node, version), KUBEHA_KUBEADM_UPGRADE: node === "master-1" ? "apply" : "node" },
            120_000,
            apt(version),
        );
    const uncordon = (node: string, version = target) =>
        sandbox.run("master-1", steps["upgrade-uncordon"].script, variables(node, version));
    const succeeds = async (run: Promise<{ status: number | null; stderr: string }>) => {
        const result = await run;
        assert.equal(result.status, 0, result.stderr);
        return result;
    };
    /** One node the way the rollout takes it: drain, upgrade, uncordon; returns the changes in order. */
    const rollNode = async (node: string, version = target) => {
        for (const step of [drain, upgrade, uncordon]) await succeeds(step(node, version));
        return changes(sandbox.takeCalls());
    };
    /** The masters' part done (kubeadm upgrade apply set the cluster's version): workers come next. */
    const mastersAt = (version: string) => writeState(`v${version}`, "cluster-version");
    /** The first run of the check on a new cluster (records that the steps exist). */
    const checkedOnce = async () => {
        await succeeds(check(from));
        sandbox.takeCalls();
    };

    beforeEach(() => {
        sandbox = new StepSandbox("upgrade");
        clusterAt(from);
    });
    afterEach(() => sandbox.remove());

    test("a minor upgrade: masters one by one (apply on the first, node on the others), then workers; every node drained, upgraded from the new minor's repository, uncordoned", async () => {
        await checkedOnce();
        const checked = await succeeds(check());
        assert.match(checked.stderr, /upgrading to v1\.37\.2: 5 of 5/);
        assert.deepEqual(changes(sandbox.takeCalls()), [], "the check changes nothing");

        const admin = "kubectl --kubeconfig=/etc/kubernetes/admin.conf";
        for (const node of [...masters, ...workers]) {
            const done = await rollNode(node);
            const kubeadm = node === "master-1" ? "kubeadm upgrade apply v1.37.2 --yes" : "kubeadm upgrade node";
            const expected = [
                `master-1: ${admin} --request-timeout=10s annotate node ${node} --overwrite kubeha.io/upgrade-cordon=v1.37.2`,
                `master-1: ${admin} --request-timeout=10s cordon ${node}`,
                `master-1: ${admin} drain ${node}`,
                `${node}: apt-mark unhold kubeadm`,
                `${node}: apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -y --no-install-recommends kubeadm=1.37.2-*`,
                `${node}: apt-mark hold kubeadm`,
                `${node}: ${kubeadm} --certificate-renewal=false`,
                `${node}: apt-mark unhold kubelet kubectl`,
                `${node}: apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -y --no-install-recommends kubelet=1.37.2-* kubectl=1.37.2-*`,
                `${node}: apt-mark hold kubelet kubectl`,
                `${node}: systemctl daemon-reload`,
                `${node}: systemctl restart kubelet`,
                `master-1: ${admin} --request-timeout=10s uncordon ${node}`,
                `master-1: ${admin} --request-timeout=10s annotate node ${node} kubeha.io/upgrade-cordon-`,
            ];
            assert.deepEqual(
                done.map((call) =>
                    call.includes(" drain ") ? call.slice(0, call.indexOf(" drain ") + 7 + node.length) : call,
                ),
                expected,
                node,
            );
            assert.equal(readState("node-version", node), "v1.37.2");
            assert.equal(readState("nodes", node), "", `${node} is schedulable again`);
            assert.match(onHost(node, "/etc/apt/sources.list.d/kubernetes.list"), /\/v1\.37\/deb\/ \/$/m);
            assert.match(onHost(node, "/etc/apt/preferences.d/kubeha.pref"), /^Pin: version 1\.37\.2-\*$/m);
            assert.equal(onHost(node, "/var/lib/stub-dpkg/held"), "kubeadm\nkubectl\nkubelet\n");
            if (masters.includes(node)) {
                assert.match(onHost(node, "/etc/kubernetes/manifests/kube-apiserver.yaml"), /kube-apiserver:v1\.37\.2/);
            }
            if (node === "master-1") assert.equal(readState("cluster-version"), "v1.37.2");
        }

        // Everything at the target: every step again changes nothing.
        const again = await succeeds(check());
        assert.match(again.stderr, /every node runs v1\.37\.2: nothing to upgrade/);
        for (const node of [...masters, ...workers]) {
            const repeated = await rollNode(node);
            assert.deepEqual(repeated, [], `${node}: a second run changes nothing`);
        }
    });

    test("a patch upgrade keeps the minor's repository; the drain respects the budget flags of a removal", async () => {
        await checkedOnce();
        await succeeds(check("1.36.4"));
        mastersAt("1.36.4");
        const done = await rollNode("worker-1", "1.36.4");
        const drainCall = done.find((call) => call.includes(" drain "))!;
        for (const flag of ["--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout="]) {
            assert.ok(drainCall.includes(` ${flag}`), `drain ${flag}`);
        }
        assert.doesNotMatch(drainCall, /--disable-eviction/, "evictions go through PodDisruptionBudgets");
        assert.ok(done.includes("worker-1: kubeadm upgrade node --certificate-renewal=false"));
        assert.match(onHost("worker-1", "/etc/apt/sources.list.d/kubernetes.list"), /\/v1\.36\/deb\/ \/$/m);
        assert.equal(readState("node-version", "worker-1"), "v1.36.4");
    });

    test("kubeadm's upgrade ignores the preflight checks the stack ignores for init and join", async () => {
        await checkedOnce();
        await succeeds(check());
        const ignored = { KUBEHA_IGNORE_PREFLIGHT_ERRORS: "SystemVerification,Swap" };
        for (const node of ["master-1", "worker-1"]) {
            await succeeds(drain(node));
            await succeeds(
                sandbox.run(
                    node,
                    steps.upgrade.script,
                    { ...variables(node), ...ignored, KUBEHA_KUBEADM_UPGRADE: node === "master-1" ? "apply" : "node" },
                    120_000,
                    apt(target),
                ),
            );
            await succeeds(uncordon(node));
        }
        const done = changes(sandbox.takeCalls());
        const flags = "--certificate-renewal=false --ignore-preflight-errors=SystemVerification,Swap";
        assert.ok(done.includes(`master-1: kubeadm upgrade apply v1.37.2 --yes ${flags}`), done.join("\n"));
        assert.ok(done.includes(`worker-1: kubeadm upgrade node ${flags}`), done.join("\n"));
    });

    describe("upgrade-check refuses what kubeadm cannot do, before any host is touched", () => {
        const refused = async (version: string, reason: RegExp) => {
            const run = await check(version);
            assert.equal(run.status, 1, run.stderr);
            assert.match(run.stderr, reason);
            assert.match(run.stderr, /cannot be reached from what the cluster runs \(nothing was changed\)/);
            assert.deepEqual(changes(sandbox.takeCalls()), []);
        };

        test("a downgrade, of the control plane or of any kubelet", async () => {
            await checkedOnce();
            await refused("1.36.2", /control-plane runs v1\.36\.3, newer than v1\.36\.2: kubeadm cannot downgrade/);
            writeState("v1.37.2", "node-version", "worker-2");
            await refused("1.37.1", /worker-2 runs v1\.37\.2, newer than v1\.37\.1/);
        });

        test("a skipped minor, counted from the oldest node of a rollout left half-done", async () => {
            await checkedOnce();
            await refused("1.38.1", /runs v1\.36\.3: v1\.38\.1 skips a minor; upgrade to 1\.37 first/);
            writeState("v1.37.2", "cluster-version");
            for (const node of masters) writeState("v1.37.2", "node-version", node);
            await refused("1.38.1", /runs v1\.36\.3: v1\.38\.1 skips a minor/);
            await succeeds(check("1.37.2"));
        });

        test("steps created together with a version change (an older cluster adopting them) are refused, with the way out", async () => {
            await refused(
                "1.37.2",
                /upgrade steps are new on this cluster and would not run: first pulumi up with kubeha:kubernetesVersion 1\.36\.3/,
            );
            assert.ok(!fs.existsSync(sandbox.hostPath("master-1", "/var/lib/kubeha/upgrade-check.accepted")));
            await succeeds(check(from));
            await succeeds(check(target));
        });
    });

    describe("a blocked drain", () => {
        test("fails within its budget, names what blocks it, and lifts kubeha's cordon: nothing was upgraded", async () => {
            await checkedOnce();
            mastersAt(target);
            writeState("", "drain-blocked");
            const run = await drain("worker-1");
            assert.equal(run.status, 1);
            assert.match(run.stderr, /could not drain node worker-1 within 6s; the upgrade stops here/);
            assert.match(run.stderr, /kubectl get pdb -A/);
            assert.match(run.stderr, /disruption budget/);
            assert.match(run.stderr, /schedulable again: nothing on it was upgraded/);
            assert.ok(run.seconds < 20, `bounded (took ${run.seconds}s)`);
            assert.equal(readState("nodes", "worker-1"), "");
            assert.ok(!fs.existsSync(stateFile("annotations", "worker-1")));
            assert.equal(onHost("worker-1", "/var/lib/stub-dpkg/kubelet"), `${from}-1.1\n`);

            fs.rmSync(stateFile("drain-blocked"));
            await rollNode("worker-1");
            assert.equal(readState("node-version", "worker-1"), "v1.37.2");
        });

        test("a node an operator cordoned is drained and upgraded, and stays cordoned", async () => {
            mastersAt(target);
            writeState("true", "nodes", "worker-2");
            const done = await rollNode("worker-2");
            assert.ok(
                !done.some((call) => /annotate|uncordon|--request-timeout=10s cordon/.test(call)),
                done.join("\n"),
            );
            assert.equal(readState("nodes", "worker-2"), "true");
            assert.equal(readState("node-version", "worker-2"), "v1.37.2");
        });
    });

    describe("failures part-way: the rollout stops with the node serving, the next run continues", () => {
        test("kubeadm upgrade apply failing: the step fails, and runs kubeadm again next time without reinstalling", async () => {
            await succeeds(drain("master-1"));
            writeState("control-plane", "master-1", "fail-in-phase");
            sandbox.takeCalls();
            const failed = await upgrade("master-1");
            assert.equal(failed.status, 1);
            assert.match(
                failed.stderr,
                /kubeadm upgrade apply v1\.37\.2 --yes --certificate-renewal=false failed; this node keeps its kubelet/,
            );
            assert.match(failed.stderr, /kubeadm upgrade can be run again/);
            assert.equal(onHost("master-1", "/var/lib/stub-dpkg/kubelet"), `${from}-1.1\n`, "the kubelet is untouched");
            assert.equal(readState("node-version", "master-1"), `v${from}`);
            assert.equal(readState("cluster-version"), `v${from}`);
            sandbox.takeCalls();

            fs.rmSync(stateFile("master-1", "fail-in-phase"));
            await succeeds(upgrade("master-1"));
            const resumed = changes(sandbox.takeCalls());
            assert.ok(!resumed.some((call) => call.includes("kubeadm=")), "kubeadm is not installed again");
            assert.ok(resumed.includes("master-1: kubeadm upgrade apply v1.37.2 --yes --certificate-renewal=false"));
            await succeeds(uncordon("master-1"));
            assert.equal(readState("cluster-version"), "v1.37.2");
        });

        test("the kubelet package failing after kubeadm's upgrade: held again, and kubeadm is not run again", async () => {
            mastersAt(target);
            await succeeds(drain("worker-1"));
            writeState("kubelet", "broken-package");
            writeState("1", "apt-update-failures");
            sandbox.takeCalls();
            const first = await upgrade("worker-1");
            assert.equal(first.status, 1);
            assert.match(
                first.stderr,
                /waiting for the package lists \(attempt 1 failed/,
                "a failed apt-get update is retried",
            );
            assert.match(first.stderr, /could not install kubelet=1\.37\.2-\* kubectl=1\.37\.2-\*/);
            assert.equal(onHost("worker-1", "/var/lib/stub-dpkg/held"), "kubeadm\nkubectl\nkubelet\n", "held again");
            assert.equal(readState("node-version", "worker-1"), `v${from}`, "the kubelet was not restarted");
            assert.equal(
                changes(sandbox.takeCalls()).filter((call) => call.includes("kubeadm upgrade node")).length,
                1,
            );

            fs.rmSync(stateFile("broken-package"));
            await succeeds(upgrade("worker-1"));
            const resumed = changes(sandbox.takeCalls());
            assert.ok(!resumed.some((call) => call.includes("kubeadm upgrade")), resumed.join("\n"));
            assert.equal(readState("node-version", "worker-1"), "v1.37.2");
        });

        test("an API that stops answering is not a node gone: a NotReady node stays cordoned, the step fails", async () => {
            mastersAt(target);
            await succeeds(drain("worker-2"));
            await succeeds(upgrade("worker-2"));
            sandbox.takeCalls();
            writeState("", "node-not-ready", "worker-2");
            // The first look answers (NotReady), every later one fails as a lost connection.
            writeState("1", "get-node-answers");
            const run = await uncordon("worker-2");
            fs.rmSync(stateFile("get-node-answers"));
            fs.rmSync(stateFile("node-not-ready", "worker-2"));
            assert.equal(run.status, 1, run.stderr);
            assert.equal(readState("nodes", "worker-2"), "true", "still cordoned");
            assert.deepEqual(
                changes(sandbox.takeCalls()).filter((call) => /uncordon|annotate/.test(call)),
                [],
            );
        });

        test("a node that does not come back Ready stays cordoned and fails the rollout within its budget", async () => {
            mastersAt(target);
            await succeeds(drain("worker-2"));
            await succeeds(upgrade("worker-2"));
            writeState("", "node-not-ready", "worker-2");
            const run = await uncordon("worker-2");
            assert.equal(run.status, 1);
            assert.match(run.stderr, /node worker-2 is not Ready with kubelet v1\.37\.2 after 6s; it stays cordoned/);
            assert.match(run.stderr, /journalctl -u kubelet -n 100, on worker-2/);
            assert.equal(readState("nodes", "worker-2"), "true");
            fs.rmSync(stateFile("node-not-ready", "worker-2"));
            await succeeds(uncordon("worker-2"));
            assert.equal(readState("nodes", "worker-2"), "");
        });
    });
});
