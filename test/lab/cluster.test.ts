// test:lab: a stack's whole cluster on lab machines (npm run lab -- up), then what an operator relies on
// (test/support/cluster-checks.ts), then that `lab down` leaves nothing. One printed line per check (the spec
// reporter). KUBEHA_LAB_STACK picks the stack (default dev). Needs root on Linux and the lab's tools.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Plan } from "../../plan/read";
import { checkLabHost, labAttach, labDown, labFiles, LabUpResult, labUp } from "../../lab/lab";
import { recordLabMeasurement } from "../../lab/measured-times";
import { labNetnsPath } from "../../lab/network";
import { SshConnection } from "../../lab/ssh";
import { clusterChecks } from "../support/cluster-checks";

const stack = process.env.KUBEHA_LAB_STACK ?? "dev";
const files = labFiles(stack);
const unsupported = (() => {
    try {
        checkLabHost();
        return undefined;
    } catch (error) {
        return (error as Error).message;
    }
})();

describe(`lab cluster of stack ${stack}`, { skip: unsupported }, () => {
    let lab: LabUpResult;
    before(
        async () => {
            // KUBEHA_LAB_REUSE=1 checks a lab already up (npm run lab -- up), as a developer iterating on checks does.
            if (process.env.KUBEHA_LAB_REUSE === "1" && fs.existsSync(files.kubeconfig)) lab = labAttach(stack);
            else {
                if (fs.existsSync(files.state)) await labDown(stack, () => undefined);
                lab = await labUp({ stack, say: (line) => process.stderr.write(`${line}\n`) });
                const plan = new Plan(files.plan);
                recordLabMeasurement(stack, "by-hand", {
                    seconds: lab.timings["machines started"] + lab.timings.bootstrap,
                    covers: "the same machines started, then the plan's steps and addons run directly until done",
                    measuredAt: new Date().toISOString(),
                    load: os.loadavg()[0],
                    steps: lab.bootstrap.steps
                        .filter((step) => step.status === "done")
                        .map((step) => {
                            const { type, inputs } = plan.named(step.name);
                            return { name: step.name, type, inputs: { create: inputs.create }, seconds: step.seconds };
                        }),
                });
            }
            for (const [phase, seconds] of Object.entries(lab.timings))
                process.stdout.write(`# ${phase}: ${seconds} s\n`);
        },
        { timeout: 45 * 60_000 },
    );
    after(async () => {
        if (process.env.KUBEHA_LAB_KEEP !== "1" && process.env.KUBEHA_LAB_REUSE !== "1")
            await labDown(stack, () => undefined);
    });

    clusterChecks(() => ({
        lab: stack,
        kubeconfig: lab.kubeconfig,
        kubectl: path.join(fs.readFileSync(files.binDir, "utf8").trim(), "kubectl"),
        hosts: lab.view.hosts,
        metadataAddress: lab.view.metadataAddress,
        mirrors: files.mirrors,
        logs: files.logs,
        removalStep: (node) => {
            const removal = new Plan(files.plan).named(`${node}-remove-node`);
            return {
                connection: removal.inputs.connection as SshConnection,
                command: String(removal.inputs.delete),
                environment: (removal.inputs.environment ?? {}) as Record<string, string>,
            };
        },
    }));

    test("lab down leaves nothing: machines, mounts, loop devices, cgroups, processes, namespace, state", async () => {
        if (process.env.KUBEHA_LAB_KEEP === "1" || process.env.KUBEHA_LAB_REUSE === "1") return;
        await labDown(stack, () => undefined);
        assert.ok(!fs.existsSync(files.state), `${files.state} removed`);
        assert.ok(!fs.existsSync(labNetnsPath(stack)), "the lab's network namespace removed");
        const mounts = execFileSync("findmnt", ["-rn", "-o", "TARGET,SOURCE"], { encoding: "utf8" });
        assert.doesNotMatch(mounts, /kubeha-lab/, "no mount of the lab left");
        const loops = execFileSync("losetup", ["-a"], { encoding: "utf8" });
        assert.doesNotMatch(loops, /kubeha-lab/, "no loop device of the lab left");
        for (const hierarchy of fs.readdirSync("/sys/fs/cgroup")) {
            assert.ok(
                !fs.existsSync(path.join("/sys/fs/cgroup", hierarchy, "kubeha-lab", stack)),
                `no ${hierarchy} cgroup`,
            );
        }
        const processes = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
        assert.doesNotMatch(processes, new RegExp(`kh-${stack}-|kubeha-lab-${stack}`), "no process of the lab left");
    });
});
