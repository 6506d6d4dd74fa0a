// A stack that has hosts keeps its zones and its etcd members: the offline plan of a change to a deployed
// stack (its last outputs passed as --deployed, as its reference to itself reads them under `pulumi up`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkAgainstDeployment } from "../config/deployed";
import { configFor } from "./support/config";
import { plan, runPlanCli } from "./support/plan";

type Hosts = Record<string, { role: string; zone: string; privateIp: string }>;

describe("a deployed stack keeps its zones and etcd members", () => {
    // What `pulumi up` of the dev stack exported: zones and hosts (etcd on the three masters).
    const created = () => plan({ stack: "dev" }).outputs as { zones: string[]; hosts: Hosts };
    // The zones the stack was created with, which discovery (h, i, j in the mock cloud) no longer answers.
    const deployedZones = ["cn-hangzhou-k", "cn-hangzhou-i", "cn-hangzhou-j"];
    const deployed = () => ({ zones: deployedZones, hosts: created().hosts });

    test("discovery answering other zones moves nothing: the stack keeps the zones its hosts are in", () => {
        const kept = plan({ stack: "dev", deployed: deployed() });
        assert.deepEqual(kept.outputs.zones, deployedZones);
        assert.ok(
            !kept.resources.some((resource) => JSON.stringify(resource.inputs).includes("cn-hangzhou-h")),
            "no resource in the discovered zone cn-hangzhou-h",
        );
        // Every host at the same place in the zone list as before: the same subnet, address and disk zone.
        for (const [name, host] of Object.entries(kept.outputs.hosts as Hosts)) {
            const before = created().hosts[name];
            assert.equal(host.zone, deployedZones[created().zones.indexOf(before.zone)], name);
            assert.equal(host.privateIp, before.privateIp, name);
        }
        assert.equal(kept.named("master-1-etcd-disk").inputs.zoneId, "cn-hangzhou-k");
    });

    test("a changed kubeha:zones, etcd.dedicated switched and fewer etcd members are refused, all at once", () => {
        const run = runPlanCli({
            stack: "dev",
            deployed: deployed(),
            config: {
                "kubeha:zones": ["cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"],
                "kubeha:etcd": { dedicated: true, count: 3 },
            },
        });
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr, /kubeha:zones: the stack's hosts are in cn-hangzhou-k, cn-hangzhou-i, cn-hangzhou-j/);
        assert.match(run.stderr, /kubeha:etcd\.dedicated: the stack's etcd cluster runs on the masters/);
        const fewer = runPlanCli({ stack: "dev", deployed: deployed(), config: { "kubeha:masters": { count: 1 } } });
        assert.equal(fewer.status, 1, fewer.stderr);
        assert.match(fewer.stderr, /kubeha:masters\.count: master-2, master-3 run etcd members/);
    });

    test("the same zones, set explicitly, and more workers are fine; a new stack has nothing to keep", () => {
        const config = configFor({ cloud: "aliyun", zones: deployedZones, workers: { count: 5 } });
        assert.deepEqual(checkAgainstDeployment(config, deployed()), { zones: deployedZones, problems: [] });
        assert.deepEqual(checkAgainstDeployment(config, {}), { problems: [] });
        assert.deepEqual(checkAgainstDeployment(config, { zones: deployedZones, hosts: {} }), { problems: [] });
        const dedicated = configFor({ cloud: "aliyun", etcd: { dedicated: true } });
        const dedicatedHosts = { "etcd-1": { role: "etcd" }, "master-1": { role: "master" } };
        const switched = checkAgainstDeployment(configFor({ cloud: "aliyun" }), {
            zones: deployedZones,
            hosts: dedicatedHosts,
        });
        assert.equal(switched.problems.length, 1);
        assert.match(
            switched.problems[0],
            /^kubeha:etcd\.dedicated: the stack's etcd cluster runs on dedicated hosts \(etcd-1\)/,
        );
        assert.deepEqual(
            checkAgainstDeployment(dedicated, { zones: deployedZones, hosts: dedicatedHosts }).problems,
            [],
        );
    });
});
