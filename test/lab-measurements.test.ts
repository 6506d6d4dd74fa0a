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
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.match(line("master-1-init")!, /model {2}75 s, by hand {6}41 s \(1x\): kubeadm init on the first master$/);
    assert.match(line("worker-1-join")!, /model {2}45 s, by hand {3}22-31 s \(2x\): kubeadm join/);
    assert.match(line("dashboard-deployment")!, /model {2}30 s, by hand {6}12 s \(1x\): workloads until ready/);
});
