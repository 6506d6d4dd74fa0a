// kubeha:cloudIntegration as the plans of both clouds show it, on (the default) and off: the kubelet's external
// cloud provider and provider id, taken from each node's instance resource.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { Plan, plan } from "./support/plan";

type Cloud = "aliyun" | "aws";
const stacks: Record<Cloud, string> = { aliyun: "dev", aws: "aws-dev" };
const nodes = ["master-1", "master-2", "master-3", "worker-1", "worker-2", "worker-3"];

function planOf(cloud: Cloud, integration: boolean): Plan {
    return plan({
        stack: stacks[cloud],
        config: integration ? undefined : { "kubeha:cloudIntegration": false },
        showSecrets: true,
    });
}

/** The kubelet flags kubeadm gives a node, from the kubeadm configuration the plan writes for it. */
function kubeletFlags(p: Plan, node: string): Record<string, string> {
    const file = Object.values(kubeadmConfigPaths)
        .map((path) => `hosts/${node}/files${path}`)
        .find((relative) => p.exists(relative));
    assert.ok(file, `${node} has a kubeadm configuration`);
    const registration = parseAllDocuments(p.file(file))
        .map(
            (doc) =>
                doc.toJS() as {
                    kind: string;
                    nodeRegistration?: { kubeletExtraArgs: { name: string; value: string }[] };
                },
        )
        .find((doc) => doc.kind === "InitConfiguration" || doc.kind === "JoinConfiguration")?.nodeRegistration;
    assert.ok(registration, `${file} registers the node`);
    return Object.fromEntries(registration.kubeletExtraArgs.map(({ name, value }) => [name, value]));
}

describe("the kubelet and the external cloud provider", () => {
    test("AWS: every node's provider id is aws:///<its instance's zone>/<its instance id>", () => {
        const p = planOf("aws", true);
        for (const node of nodes) {
            const instance = p.named(node);
            const subnet = p.named(String((instance.inputs as { subnetId: string }).subnetId).replace(/-id$/, ""));
            const zone = (subnet.inputs as { availabilityZone: string }).availabilityZone;
            // The mock runtime's instance id is `<name>-id` (plan/mocks.ts).
            assert.deepEqual(kubeletFlags(p, node), {
                "node-ip": (instance.inputs as { privateIp: string }).privateIp,
                "cloud-provider": "external",
                "provider-id": `aws:///${zone}/${node}-id`,
            });
        }
    });

    test("Aliyun: every node's provider id is <region>.<its instance id>", () => {
        const p = planOf("aliyun", true);
        for (const node of nodes) {
            const flags = kubeletFlags(p, node);
            assert.equal(flags["cloud-provider"], "external", node);
            assert.equal(flags["provider-id"], `cn-hangzhou.${node}-id`, node);
        }
    });

    for (const cloud of ["aliyun", "aws"] as const) {
        test(`${cloud} with cloudIntegration false: no cloud provider on any kubelet`, () => {
            const p = planOf(cloud, false);
            for (const node of nodes) assert.deepEqual(Object.keys(kubeletFlags(p, node)), ["node-ip"], node);
        });
    }
});
