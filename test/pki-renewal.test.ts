// Certificate renewal is a resource option: each leaf's replacementTrigger is its renewal round, counted
// from its CA's start. In the plan every CA is new (round 0 everywhere), which a constant would match too;
// here the CAs started long ago, as in a stack that has run for years, and the leaves must be due again.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ClusterPki } from "../components/pki";
import { clusterLayout } from "../config/layout";
import { resolveConfig } from "../config/resolve";
import { KubehaMocks } from "../plan/mocks";
import { Recorder } from "../plan/recorder";

const hour = 3600_000;

/** The mock runtime, with every CA's validity starting `caAgeHours` ago. */
class OldCaMocks extends KubehaMocks {
    constructor(private readonly caAgeHours: number) {
        super({ region: "cn-hangzhou" });
    }

    async newResource(args: pulumi.runtime.MockResourceArgs) {
        const result = await super.newResource(args);
        if (args.type !== "tls:index/selfSignedCert:SelfSignedCert") return result;
        const start = new Date(Date.now() - this.caAgeHours * hour).toISOString().replace(/\.\d+Z$/, "Z");
        return { ...result, state: { ...result.state, validityStartTime: start } };
    }
}

test("a leaf is due for replacement once per renewal period since its CA started", async () => {
    const resolved = resolveConfig({
        values: { cloud: "aliyun", pki: JSON.stringify({ certValidityHours: 1000, earlyRenewalHours: 200 }) },
        regions: { aliyun: "cn-hangzhou" },
    });
    assert.ok(resolved.ok, resolved.ok ? "" : resolved.problems.join("\n"));
    const { config } = resolved;
    // Renewal period: validity minus early renewal, 800 hours. 2.5 periods after the CAs started: round 2.
    await pulumi.runtime.setMocks(new OldCaMocks(2.5 * 800), "kubeha", "renewal", false);
    const recorder = new Recorder();
    recorder.attach();
    new ClusterPki("pki", {
        config,
        layout: clusterLayout(config, 3),
        apiLoadBalancer: { endpoint: "nlb.example.com", names: ["nlb.example.com"] },
        joinIdentities: [],
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();

    const triggers = Object.fromEntries(
        recorder.resources
            .filter((resource) => resource.replacementTrigger !== undefined)
            .map((resource) => [resource.name, resource.replacementTrigger]),
    );
    const leaves = recorder.resources
        .filter((resource) => resource.type === "tls:index/locallySignedCert:LocallySignedCert")
        .map((resource) => resource.name);
    assert.ok(leaves.length >= 12, `${leaves.length} leaf certificates`);
    assert.deepEqual(triggers, Object.fromEntries(leaves.map((name) => [name, 2])));
});
