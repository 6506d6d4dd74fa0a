// The offline plan as a user runs it: real stacks, broken configs, and repeatability.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import type { PlannedResource } from "../plan/run";
import { steps } from "../render/steps";
import { plan, runPlanCli } from "./support/plan";

describe("plans of the shipped stacks", () => {
    for (const stack of ["dev", "aws-dev"]) {
        test(`${stack}: resources.json and summary.md are written`, () => {
            const result = plan({ stack });
            assert.ok(result.resources.length > 1);
            for (const resource of result.resources) {
                assert.equal(typeof resource.type, "string");
                assert.equal(typeof resource.name, "string");
                assert.ok(resource.parent === null || typeof resource.parent === "string");
                assert.ok(Array.isArray(resource.dependencies));
                assert.equal(typeof resource.inputs, "object");
            }
            const summary = result.file("summary.md");
            assert.match(summary, /## Resources by type/);
            assert.match(summary, /## Warnings/);
        });
    }

    test("index.ts runs inside the stack, loaded by Pulumi's language-host entry", () => {
        const result = plan({ stack: "dev" });
        // Only Pulumi's run() wraps the program in the root Stack resource; everything else hangs below it.
        const stack = result.named("kubeha-dev");
        assert.equal(stack.type, "pulumi:pulumi:Stack");
        const cluster = result.ofType("kubeha:index:KubernetesCluster");
        assert.equal(cluster.length, 1);
        assert.equal(cluster[0].parent, "kubeha-dev");
    });

    test("warnings reach the summary", () => {
        const summary = plan({ stack: "dev" }).file("summary.md");
        assert.match(summary, /allowedCidrs\.ssh includes 0\.0\.0\.0\/0/);
    });
});

describe("resources.json records the options that change what `pulumi up` does", () => {
    test("certificate leaves carry the renewal round as replacementTrigger; CAs and keys do not", () => {
        const result = plan({ stack: "dev" });
        const triggered = result.resources.filter((resource) => "replacementTrigger" in resource);
        assert.deepEqual(
            triggered.map((resource) => resource.name),
            result.ofType("tls:index/locallySignedCert:LocallySignedCert").map((resource) => resource.name),
        );
        assert.ok(triggered.length >= 12, "every leaf certificate");
        for (const resource of triggered) assert.equal(resource.replacementTrigger, 0, resource.name);
    });

    test("dependsOn lists only the dependencies no input carries", () => {
        const result = plan({ stack: "dev" });
        // The NLB waits for the bastion (explicit) and gets its vSwitches through inputs (not dependsOn).
        const nlb = result.named("api-nlb");
        assert.deepEqual(nlb.dependsOn, ["bastion"]);
        assert.ok(nlb.dependencies.length > 1 && nlb.dependencies.includes("bastion"));
    });

    test("secret steps keep their output secret (additionalSecretOutputs)", () => {
        const result = plan({ stack: "dev" });
        // The command SDK itself adds "connection" to every command.
        assert.deepEqual(result.named("master-1-keys").additionalSecretOutputs, ["stdout", "stderr", "connection"]);
        assert.deepEqual(result.named("master-1-files").additionalSecretOutputs, ["connection"]);
    });

    test("invokes.json records the arguments of every provider function call", () => {
        const result = plan({ stack: "dev" });
        assert.deepEqual(
            [...new Set(result.invokes.map((invoke) => invoke.token))],
            [
                "alicloud:ecs/getImages:getImages",
                "alicloud:index/getZones:getZones",
                // Zone discovery also asks where the NLB and the enhanced NAT gateway are offered.
                "alicloud:nlb/getZones:getZones",
                "alicloud:vpc/getEnhancedNatAvailableZones:getEnhancedNatAvailableZones",
            ],
        );
    });
});

describe("a broken stack config stops the plan before any resource", () => {
    const cases: [string, Record<string, unknown>, string][] = [
        ["unknown cloud", { "kubeha:cloud": "gcp" }, "kubeha:cloud"],
        ["even master count", { "kubeha:masters": { count: 2 } }, "kubeha:masters.count"],
        ["etcd count even", { "kubeha:etcd": { dedicated: true, count: 2 } }, "kubeha:etcd.count"],
        ["negative workers", { "kubeha:workers": { count: -1 } }, "kubeha:workers.count"],
        ["malformed CIDR", { "kubeha:network": { vpcCidr: "192.168.0.0/33" } }, "kubeha:network.vpcCidr"],
        ["overlapping CIDRs", { "kubeha:network": { serviceCidr: "192.168.0.0/20" } }, "kubeha:network.serviceCidr"],
        [
            "subnets too small",
            { "kubeha:network": { vpcCidr: "192.168.0.0/22" }, "kubeha:workers": { count: 200 } },
            "kubeha:network.vpcCidr",
        ],
        ["unsupported Kubernetes", { "kubeha:kubernetesVersion": "1.28.3" }, "kubeha:kubernetesVersion"],
        ["malformed allow-list", { "kubeha:allowedCidrs": { api: ["everyone"] } }, "kubeha:allowedCidrs.api[0]"],
        ["missing region", { "alicloud:region": undefined }, "alicloud:region"],
    ];
    for (const [name, change, key] of cases) {
        test(name, () => {
            const run = runPlanCli({ stack: "dev", config: change });
            assert.notEqual(run.status, 0, "plan must fail");
            assert.ok(
                run.stderr.split("\n").some((line) => line.trim().startsWith(`${key}:`)),
                `no line names ${key}:\n${run.stderr}`,
            );
            assert.equal(fs.existsSync(path.join(run.outDir, "resources.json")), false, "no resources.json");
        });
    }

    test("two broken keys give two lines", () => {
        const run = runPlanCli({
            stack: "dev",
            config: { "kubeha:masters": { count: 4 }, "kubeha:timezone": "Nowhere/Town" },
        });
        assert.notEqual(run.status, 0);
        const problemLines = run.stderr.split("\n").filter((line) => /^\s+kubeha:/.test(line));
        assert.deepEqual(
            problemLines.map((line) => line.trim().split(":").slice(0, 2).join(":")),
            ["kubeha:masters.count", "kubeha:timezone"],
        );
    });
});

test("two plans of the same stack are identical apart from generated key material", () => {
    const first = runPlanCli({ stack: "aws-dev" });
    const second = runPlanCli({ stack: "aws-dev" });
    assert.equal(first.status, 0, first.stderr);
    assert.equal(second.status, 0, second.stderr);
    const read = (dir: string) =>
        withoutKeyMaterial(JSON.stringify(withoutCertificateDigests(readResources(dir)), null, 2));
    assert.equal(read(first.outDir), read(second.outDir));
});

function readResources(dir: string): PlannedResource[] {
    return JSON.parse(fs.readFileSync(path.join(dir, "resources.json"), "utf8"));
}

/** The apiserver restarts are keyed to a digest of the generated certificates: key material too. */
function withoutCertificateDigests(resources: PlannedResource[]): PlannedResource[] {
    return resources.map((resource) =>
        resource.name.endsWith(`-${steps["apiserver-restart"].name}`)
            ? { ...resource, inputs: { ...resource.inputs, triggers: "<digest of certificates>" } }
            : resource,
    );
}

/** Replaces PEM blocks, OpenSSH keys and long base64 runs (certificates inside kubeconfigs) with placeholders. */
function withoutKeyMaterial(text: string): string {
    return text
        .replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----(\\n)?/g, "<pem $1>")
        .replace(/ssh-(rsa|ed25519) [A-Za-z0-9+/=]+/g, "<ssh key>")
        .replace(/[A-Za-z0-9+/]{120,}={0,2}/g, "<base64>");
}
