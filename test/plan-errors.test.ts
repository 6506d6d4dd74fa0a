// A program that throws ends the plan with its message and a non-zero status, promptly: never a hang.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { errorText, makeInspectable } from "../components/readable-errors";
import { projectDir, runPlanCli } from "./support/plan";

test("util.inspect with colors ends on an error whose stack has a frame in node_modules/@scope/file", () => {
    // In a child process: on an affected Node (nodejs/node#64011) inspect loops until the heap is gone.
    const script = `
        require("ts-node/register/transpile-only");
        const { inspect } = require("node:util");
        const { makeInspectable } = require("./components/readable-errors");
        const error = new Error("boom");
        error.stack = "Error: boom\\n    at /p/node_modules/@pulumi/output.ts:379:13";
        makeInspectable(error);
        process.stdout.write(inspect(error, { colors: true }));`;
    const result = spawnSync(process.execPath, ["-e", script], { cwd: projectDir, encoding: "utf8", timeout: 30_000 });
    assert.equal(result.signal, null, "inspect did not finish within 30 s");
    assert.equal(result.stdout, "Error: boom\n    at /p/node_modules/@pulumi/output.ts:379:13");
});

test("errorText: the stack of an Error, the text of anything else", () => {
    const error = new Error("boom");
    makeInspectable(error);
    assert.match(errorText(error), /^Error: boom\n {4}at /);
    assert.equal(errorText("text"), "text");
    assert.equal(errorText({ code: 1 }), '{"code":1}');
});

test("a program that throws inside an apply: the plan fails with the error and its stack within a minute", () => {
    const fixture = path.join(projectDir, "test/fixtures/throwing-program");
    const script = `
        const { runPlan } = require("./plan/run");
        runPlan({ projectDir: ${JSON.stringify(fixture)}, stack: "test", showSecrets: false }).then(
            () => process.exit(0),
            (error) => { process.stderr.write(error.message); process.exit(error.constructor.name === "ProgramError" ? 3 : 4); },
        );`;
    const started = Date.now();
    const result = spawnSync(process.execPath, ["--require", "ts-node/register/transpile-only", "-e", script], {
        cwd: projectDir,
        encoding: "utf8",
        timeout: 60_000,
    });
    assert.equal(result.signal, null, `killed after ${Date.now() - started} ms:\n${result.stderr}`);
    assert.equal(result.status, 3, result.stderr);
    assert.match(
        result.stderr,
        /the program failed: Error: error serializing property "value": boom inside an apply\n {4}at /,
    );
});

test("a region with a space (which crashed the plan) is a config problem naming the key", () => {
    const run = runPlanCli({ stack: "dev", config: { "alicloud:region": "cn hangzhou" } });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /alicloud:region: "cn hangzhou" is not a region name/);
});

test("an encrypted value: secret values cannot be read offline, every such key named", () => {
    const run = runPlanCli({
        stack: "dev",
        config: { "kubeha:timezone": { secure: "v1:AAAA" }, "alicloud:secretKey": { secure: "v1:BBBB" } },
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /kubeha:timezone: secret values cannot be read offline/);
    assert.match(run.stderr, /alicloud:secretKey: secret values cannot be read offline/);
});

test("what only the cloud knows is asked before any resource: an unknown type and a zone without the NLB, at once", () => {
    const run = runPlanCli({
        stack: "dev",
        config: {
            "kubeha:workers": { instanceType: "ecs.g7.lage" },
            "kubeha:zones": ["cn-hangzhou-h", "cn-hangzhou-i"],
        },
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /The cloud refuses the stack configuration \(2 problem\(s\)\)/);
    assert.match(
        run.stderr,
        /kubeha:workers\.instanceType: ecs\.g7\.lage is not an instance type offered in cn-hangzhou/,
    );
    assert.match(run.stderr, /kubeha:zones\[1\]: cn-hangzhou-i does not offer every instance type/);
});
