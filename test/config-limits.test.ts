// Configurations that planned cleanly and then failed in `pulumi up` (issue 27): each is refused now, by key, with
// what is allowed and why, and every problem is reported at once, across keys.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveConfig } from "../config/resolve";

const regions = { aliyun: "cn-hangzhou", aws: "eu-central-1" };

function resolve(values: Record<string, unknown>, regionsOf: Record<string, string> = regions, plainKeys?: string[]) {
    const raw = Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
    );
    return resolveConfig({ values: raw, regions: regionsOf, plainKeys });
}

function problems(values: Record<string, unknown>, regionsOf?: Record<string, string>): string[] {
    const result = resolve(values, regionsOf);
    assert.equal(result.ok, false, `expected ${JSON.stringify(values)} to be refused`);
    return result.ok ? [] : result.problems;
}

/** The one problem a config has, which must be at `key` and match `why`. */
function refused(values: Record<string, unknown>, key: string, why: RegExp, regionsOf?: Record<string, string>) {
    const found = problems(values, regionsOf);
    assert.equal(found.length, 1, found.join("\n"));
    assert.ok(found[0].startsWith(`${key}: `), found[0]);
    assert.match(found[0], why);
}

function accepted(values: Record<string, unknown>, regionsOf?: Record<string, string>) {
    const result = resolve(values, regionsOf);
    if (!result.ok) assert.fail(result.problems.join("\n"));
    return result;
}

describe("capacity", () => {
    test("the pod range must hold a /24 for every node", () => {
        accepted({ cloud: "aws", workers: { count: 253 } });
        refused(
            { cloud: "aws", workers: { count: 500 } },
            "kubeha:network.podCidr",
            /10\.244\.0\.0\/16 holds 256 per-node \/24 pod ranges, but the cluster has 503 nodes.*use a \/15 or larger/,
        );
        accepted({ cloud: "aws", workers: { count: 500 }, network: { podCidr: "10.244.0.0/15" } });
        refused({ cloud: "aws", network: { podCidr: "10.244.0.0/24" } }, "kubeha:network.podCidr", /holds 1 per-node/);
    });

    test("the service range: at most a /12 (kube-apiserver), at least a /28 (the DNS address)", () => {
        refused(
            { cloud: "aws", network: { serviceCidr: "10.96.0.0/11" } },
            "kubeha:network.serviceCidr",
            /kube-apiserver/,
        );
        refused(
            { cloud: "aws", network: { serviceCidr: "10.96.0.0/29" } },
            "kubeha:network.serviceCidr",
            /10th address/,
        );
        accepted({ cloud: "aws", network: { serviceCidr: "10.96.0.0/28" } });
        accepted({ cloud: "aws", network: { serviceCidr: "10.96.0.0/12" } });
    });
});

describe("values that reach the hosts", () => {
    test("a Kubernetes patch newer than the pinned one", () => {
        refused({ cloud: "aws", kubernetesVersion: "1.36.9" }, "kubeha:kubernetesVersion", /1\.36\.0 to 1\.36\.3/);
        accepted({ cloud: "aws", kubernetesVersion: "1.36.0" });
    });

    test("a per-minor apt URL where the base belongs", () => {
        refused(
            { cloud: "aws", mirrors: { kubernetesApt: "https://pkgs.k8s.io/core:/stable:/v1.36/deb/" } },
            "kubeha:mirrors.kubernetesApt",
            /without \/v1\.xx\/deb\//,
        );
        accepted({ cloud: "aws", mirrors: { kubernetesApt: "https://mirror.example/kubernetes/core/stable" } });
    });

    test("a backup schedule systemd cannot parse", () => {
        for (const schedule of ["every hour", "25:00", "*-*-*/2", "Tue..Mon"]) {
            refused({ cloud: "aws", backup: { schedule } }, "kubeha:backup.schedule", /systemd calendar expression/);
        }
        accepted({ cloud: "aws", backup: { schedule: "Mon..Fri 02:30" } });
    });

    test("an API proxy port the cluster uses", () => {
        for (const [port, what] of [
            [10250, /kubelet's API/],
            [2379, /etcd's client port/],
            [10257, /kube-controller-manager/],
            [30080, /NodePort range/],
        ] as const) {
            refused({ cloud: "aws", network: { apiProxyPort: port } }, "kubeha:network.apiProxyPort", what);
        }
        accepted({ cloud: "aws", network: { apiProxyPort: 16443 } });
    });
});

describe("cloud rules", () => {
    test("region names (a space used to crash the plan)", () => {
        refused({ cloud: "aliyun" }, "alicloud:region", /"cn hangzhou" is not a region name/, {
            aliyun: "cn hangzhou",
        });
        refused({ cloud: "aws" }, "aws:region", /not a region name/, { aws: "Frankfurt" });
        accepted({ cloud: "aws" }, { aws: "us-gov-west-1" });
    });

    test("ranges Aliyun reserves, and ranges no cloud allows", () => {
        refused(
            { cloud: "aliyun", network: { podCidr: "100.64.0.0/16" } },
            "kubeha:network.podCidr",
            /100\.64\.0\.0\/10, reserved by Aliyun/,
        );
        refused(
            { cloud: "aliyun", network: { serviceCidr: "100.100.0.0/16" } },
            "kubeha:network.serviceCidr",
            /reserved by Aliyun/,
        );
        refused({ cloud: "aws", network: { vpcCidr: "169.254.0.0/16" } }, "kubeha:network.vpcCidr", /link-local/);
        accepted({ cloud: "aws", network: { podCidr: "100.64.0.0/16" } });
    });

    test("VPC sizes each cloud refuses", () => {
        refused({ cloud: "aws", network: { vpcCidr: "10.0.0.0/15" } }, "kubeha:network.vpcCidr", /AWS VPCs are \/16/);
        refused(
            { cloud: "aliyun", network: { vpcCidr: "10.0.0.0/11", podCidr: "172.16.0.0/16" } },
            "kubeha:network.vpcCidr",
            /vSwitches are \/16 to \/29/,
        );
        accepted({ cloud: "aliyun", network: { vpcCidr: "10.0.0.0/12", podCidr: "172.16.0.0/16" } });
    });

    test("system disks larger than the cloud makes", () => {
        refused({ cloud: "aliyun", workers: { diskSizeGb: 4096 } }, "kubeha:workers.diskSizeGb", /at most 2048/);
        refused({ cloud: "aws", etcd: { diskSizeGb: 20000 } }, "kubeha:etcd.diskSizeGb", /at most 16384.*gp3/);
        accepted({ cloud: "aws", workers: { diskSizeGb: 4096 } });
    });

    test("instance types of another architecture than the image", () => {
        refused({ cloud: "aws", workers: { instanceType: "m7g.large" } }, "kubeha:workers.instanceType", /Arm/);
        refused({ cloud: "aliyun", masters: { instanceType: "ecs.g8y.large" } }, "kubeha:masters.instanceType", /Arm/);
        accepted({ cloud: "aws", workers: { instanceType: "m7i.large" } });
    });

    test("control-plane instance types below kubeadm's preflight minimums", () => {
        refused({ cloud: "aws", masters: { instanceType: "t3.micro" } }, "kubeha:masters.instanceType", /1700 MB/);
        refused(
            { cloud: "aliyun", masters: { instanceType: "ecs.t6-c4m1.large" } },
            "kubeha:masters.instanceType",
            /0\.5 GiB/,
        );
        accepted({ cloud: "aws", workers: { instanceType: "t3.micro" } });
    });

    test("clusterDomain must not be the private DNS domain, nor contain it", () => {
        refused(
            { cloud: "aws", network: { clusterDomain: "k8s.internal" } },
            "kubeha:network.clusterDomain",
            /CoreDNS answers/,
        );
        refused(
            { cloud: "aws", network: { privateDomain: "hosts.cluster.local" } },
            "kubeha:network.clusterDomain",
            /privateDomain/,
        );
    });
});

describe("reporting", () => {
    test("a bad bastion type does not hide a wrong-cloud master type", () => {
        const found = problems({
            cloud: "aws",
            bastion: { instanceType: "" },
            masters: { instanceType: "ecs.g7.large" },
        });
        assert.deepEqual(
            found.map((line) => line.split(":").slice(0, 2).join(":")),
            ["kubeha:bastion.instanceType", "kubeha:masters.instanceType"],
        );
    });

    test("a repeated zone does not hide a zone of another region", () => {
        const found = problems({ cloud: "aws", zones: ["eu-central-1a", "eu-central-1a", "us-east-1b"] });
        assert.equal(found.length, 2, found.join("\n"));
        assert.match(found.join("\n"), /must not list a zone twice/);
        assert.match(found.join("\n"), /us-east-1b is not a zone of the stack's region/);
    });

    test("several unknown keys count as several problems", () => {
        const result = resolve({ cloud: "aws", colour: "blue", flavour: "x" });
        assert.equal(result.ok, false);
        if (!result.ok) assert.equal(result.problems.length, 2, result.problems.join("\n"));
    });

    test("a key set without --path gets the hint to use it", () => {
        refused(
            { cloud: "aws", "masters.count": "5" },
            "kubeha:masters.count",
            /pulumi config set --path 'kubeha:masters\.count'/,
        );
    });

    test("credentials in plain text are warned about; encrypted ones are not", () => {
        const plain = resolve({ cloud: "aws" }, regions, ["aws:region", "aws:secretKey"]);
        assert.ok(plain.ok);
        if (plain.ok) assert.match(plain.warnings.join("\n"), /aws:secretKey is stored in plain text/);
        const secret = resolve({ cloud: "aws" }, regions, ["aws:region"]);
        if (secret.ok) assert.doesNotMatch(secret.warnings.join("\n"), /plain text/);
    });
});
