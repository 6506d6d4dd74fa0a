// What `npm run bench` prints of the lab's by-hand steps (lab/measured-times.ts): each kind of step with the latency
// model's figure beside the lab's, picked by the same rules plan/latency.ts schedules with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeMeasuredSteps } from "../lab/measured-times";
import { latencyOf } from "../plan/latency";

const remote = "command:remote:Command";

test("the lab's steps are grouped by the model's rule, with the model's figure and the measured range", () => {
    const steps = [
        { name: "master-1-init", type: remote, seconds: 41.4 },
        { name: "master-2-join", type: remote, seconds: 22.2 },
        { name: "worker-1-join", type: remote, seconds: 30.6 },
        { name: "dashboard-deployment", type: "kubernetes:apps/v1:Deployment", seconds: 12 },
        // Kinds the model counts as no work are left out: a restart that ran nothing, a certificate.
        { name: "master-1-apiserver-restart", type: remote, seconds: 0.4 },
        { name: "admin-cert", type: "tls:index/locallySignedCert:LocallySignedCert", seconds: 0 },
    ];
    const lines = describeMeasuredSteps(steps);
    const line = (name: string) =>
        lines.find((text) =>
            text.endsWith(latencyOf({ ...steps.find((s) => s.name === name)!, dependencies: [] }).what),
        );
    /** The model's figure for a step, as the line prints it. */
    const model = (name: string) =>
        `model ${String(latencyOf({ ...steps.find((s) => s.name === name)!, dependencies: [] }).seconds).padStart(3)} s`;
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.ok(
        line("master-1-init")!.endsWith(
            `${model("master-1-init")}, by hand      41 s (1x): kubeadm init on the first master`,
        ),
        line("master-1-init"),
    );
    assert.ok(line("worker-1-join")!.includes(`${model("worker-1-join")}, by hand   22-31 s (2x): kubeadm join`));
    assert.ok(
        line("dashboard-deployment")!.includes(
            `${model("dashboard-deployment")}, by hand      12 s (1x): workloads until ready`,
        ),
    );
});
