// The offline plan as a user runs it: real stacks, broken configs, and repeatability.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { apiserverFiles } from "../render/apiserver-files";
import { latencyOf, schedule } from "../plan/latency";
import { installedScript } from "../render/steps";
import { modeledParallelism } from "../plan/write";
import { plan, PlanRun, projectDir, runPlanCli } from "./support/plan";

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
    test("every Kubernetes object names the provider it is created with, which waits for the API", () => {
        const result = plan({ stack: "dev" });
        const objects = result.resources.filter((resource) => resource.type.startsWith("kubernetes:"));
        assert.ok(objects.length > 10);
        for (const object of objects) assert.equal(object.provider, "k8s", object.name);
        assert.deepEqual(result.named("k8s").dependsOn, ["api-ready"]);
        assert.ok(!result.resources.some((resource) => resource.provider && resource.provider !== "k8s"));
    });

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
                // pulumi up asks the cloud whether each instance type is offered, x86_64 and large enough.
                "alicloud:ecs/getInstanceTypes:getInstanceTypes",
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
        ["one zone", { "kubeha:zones": ["cn-hangzhou-h"] }, "kubeha:zones"],
        ["zone of another region", { "kubeha:zones": ["cn-hangzhou-h", "cn-beijing-a"] }, "kubeha:zones[1]"],
        [
            "image repository with a scheme",
            { "kubeha:mirrors": { flannelImages: "https://ghcr.io/flannel-io" } },
            "kubeha:mirrors.flannelImages",
        ],
        [
            "plain-http mirror",
            { "kubeha:mirrors": { containerdApt: "http://mirrors.aliyun.com/docker-ce/linux/ubuntu" } },
            "kubeha:mirrors.containerdApt",
        ],
        ["misspelled text key", { "kubeha:kubeProxymode": "ipvs" }, "kubeha:kubeProxymode"],
        ["AWS-only key on Aliyun", { "kubeha:network": { natGateways: "per-zone" } }, "kubeha:network.natGateways"],
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

describe("two plans of the same inputs are byte-identical, keys and certificates included", () => {
    for (const stack of ["dev", "aws-dev"]) {
        test(stack, () => {
            const [first, second] = plannedOnOneDay(
                () => runPlanCli({ stack, showSecrets: true }),
                () => runPlanCli({ stack, showSecrets: true }),
            );
            assert.deepEqual(directoryContents(second.outDir), directoryContents(first.outDir));
        });
    }
});

describe("the plan's shortcuts through the Pulumi SDK change nothing it plans", () => {
    // With PULUMI_DEBUG_PROMISE_LEAKS set the plan runs the SDK as the language host does: promise bookkeeping kept,
    // every stack source-mapped, every output property an Output from the start (plan/promise-bookkeeping.ts,
    // plan/stack-traces.ts, plan/output-properties.ts).
    test("dev, with secrets shown", () => {
        const [shortcuts, sdkAsItIs] = plannedOnOneDay(
            () => runPlanCli({ stack: "dev", showSecrets: true }),
            () => {
                process.env.PULUMI_DEBUG_PROMISE_LEAKS = "1";
                try {
                    return runPlanCli({ stack: "dev", showSecrets: true });
                } finally {
                    delete process.env.PULUMI_DEBUG_PROMISE_LEAKS;
                }
            },
        );
        assert.deepEqual(directoryContents(shortcuts.outDir), directoryContents(sdkAsItIs.outDir));
    });
});

/**
 * Two successful plan runs made on the same UTC day: the tls double dates certificates from 00:00 UTC, so plans on
 * either side of midnight differ, rightly. Runs both again when midnight passed between them.
 */
function plannedOnOneDay(runFirst: () => PlanRun, runSecond: () => PlanRun): [PlanRun, PlanRun] {
    const day = () => Math.floor(Date.now() / 86400_000);
    let started: number;
    let runs: [PlanRun, PlanRun];
    do {
        started = day();
        runs = [runFirst(), runSecond()];
    } while (day() !== started);
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
    return runs;
}

/** Every file under dir by relative path, with its bytes (as text) and mode. */
function directoryContents(dir: string): Record<string, string> {
    const contents: Record<string, string> = {};
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(entry.parentPath, entry.name);
        const mode = (fs.statSync(file).mode & 0o777).toString(8);
        contents[path.relative(dir, file)] = `${mode} ${fs.readFileSync(file, "utf8")}`;
    }
    return contents;
}

describe("the plan fails cleanly", () => {
    test("a failed plan removes the previous plan from its output directory", (t) => {
        const previous = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-previous-"));
        fs.cpSync(plan({ stack: "dev" }).dir, previous, { recursive: true });
        const broken = path.join(os.tmpdir(), `kubeha-broken-${process.pid}.yaml`);
        t.after(() => fs.rmSync(broken, { force: true }));
        fs.writeFileSync(
            broken,
            "config:\n  kubeha:cloud: aliyun\n  alicloud:region: cn-hangzhou\n  kubeha:masters: {count: 2}\n",
        );
        const run = spawnSync(
            process.execPath,
            [
                "--require",
                "ts-node/register/transpile-only",
                "plan/cli.ts",
                "--stack",
                "dev",
                "--config",
                broken,
                "--out",
                previous,
            ],
            { cwd: projectDir, encoding: "utf8" },
        );
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr, /kubeha:masters\.count: must be odd/);
        assert.equal(fs.existsSync(previous), false, "the earlier plan is gone");
    });

    test("a YAML syntax error in --config is one line with the file, line and column", (t) => {
        const broken = path.join(os.tmpdir(), `kubeha-syntax-${process.pid}.yaml`);
        t.after(() => fs.rmSync(broken, { force: true }));
        fs.writeFileSync(
            broken,
            "config:\n  kubeha:cloud: aws\n  kubeha:masters: {count: 3\n  aws:region: eu-central-1\n",
        );
        const run = spawnSync(
            process.execPath,
            ["--require", "ts-node/register/transpile-only", "plan/cli.ts", "--stack", "aws-dev", "--config", broken],
            { cwd: projectDir, encoding: "utf8" },
        );
        assert.equal(run.status, 1);
        const lines = run.stderr.trim().split("\n");
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0], new RegExp(`^${broken.replace(/[.]/g, "\\.")}:4:3: not valid YAML: `));
    });
});

describe("the plan, auditable without secrets", () => {
    const hidden = plan({ stack: "dev" });
    const shown = plan({ stack: "dev", showSecrets: true });
    const filesOf = (dir: string): string[] =>
        fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
            const full = path.join(dir, entry.name);
            return entry.isDirectory() ? filesOf(full) : [full];
        });
    const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, "0");

    test("host files have the mode they get on the host; with secrets the plan is its owner's alone", () => {
        assert.equal(modeOf(shown.dir), "0700");
        assert.equal(modeOf(path.join(shown.dir, "kubeconfig")), "0600");
        assert.equal(modeOf(hidden.dir), "0755");
        const master = path.join(shown.dir, "hosts/master-1/files");
        assert.equal(modeOf(path.join(master, "etc/kubernetes/pki/ca.key")), "0600");
        assert.equal(modeOf(path.join(master, "etc/kubernetes/pki/ca.crt")), "0644");
        assert.equal(modeOf(path.join(master, "usr/local/lib/kubeha/start-etcd.sh")), "0755");
        assert.equal(modeOf(path.join(master, "usr/local/lib/kubeha/host-boot.sh")), "0755");
        assert.equal(modeOf(path.join(master, kubeadmConfigPaths.init)), "0600");
    });

    test("kubeadm and encryption configurations are shown with only their secret values redacted", () => {
        for (const [host, file] of [
            ["master-1", kubeadmConfigPaths.init],
            ["master-2", kubeadmConfigPaths.join],
            ["worker-1", kubeadmConfigPaths.join],
            ["master-1", apiserverFiles.encryptionConfig],
        ]) {
            const read = (dir: string) => fs.readFileSync(path.join(dir, "hosts", host, "files", file), "utf8");
            // The two plans have the same keys (the tls double derives them), so the files compare exactly.
            const redacted = read(hidden.dir);
            const real = read(shown.dir);
            assert.notEqual(redacted, real);
            const secretLine = /^(\s*-?\s*(token|secret): ).*$/gm;
            assert.equal(redacted, real.replace(secretLine, '$1"[secret]"'), `${host} ${file}`);
            assert.match(redacted, /(token|secret): "\[secret\]"/);
        }
        const init = parseYaml(
            fs
                .readFileSync(path.join(hidden.dir, "hosts/master-1/files", kubeadmConfigPaths.init), "utf8")
                .split("---\n")
                .find((doc) => doc.includes("KubeProxyConfiguration"))!,
        );
        assert.equal(init.mode, "nftables");
    });

    test("without secrets no host file holds a key or a token, and key files are left out", () => {
        const files = filesOf(path.join(hidden.dir, "hosts"));
        for (const file of files) {
            const text = fs.readFileSync(file, "utf8");
            assert.doesNotMatch(text, /PRIVATE KEY/, file);
            assert.doesNotMatch(text, /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/, file);
        }
        assert.ok(!files.some((file) => file.endsWith(".key")));
        assert.ok(filesOf(path.join(shown.dir, "hosts")).some((file) => file.endsWith("/pki/ca.key")));
    });

    test("each step file says where it runs and which script it runs", () => {
        const stepsOf = (host: string) => {
            const dir = path.join(hidden.dir, "hosts", host, "steps");
            return fs.readdirSync(dir).map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), "utf8") }));
        };
        const header = (text: string) => text.split("\n").slice(1, 3);
        for (const host of ["master-1", "master-2", "worker-1"]) {
            for (const step of stepsOf(host)) {
                const [where, what] = header(step.text);
                assert.match(where, /: runs over SSH on /, `${host}/${step.name}`);
                const script =
                    /^# runs: (?:scripts\/(\S+), sent on stdin to bash -s|(\/usr\/local\/lib\/kubeha\/\S+), the installed copy of scripts\/(\S+))/.exec(
                        what,
                    );
                assert.ok(script, `${host}/${step.name}: ${what}`);
                const source = script[1] ?? script[3];
                assert.ok(fs.existsSync(path.join(projectDir, "scripts", source)), source);
                if (script[2]) {
                    // The installed script exists on the host the step runs on.
                    const runsOn = /runs over SSH on (\S+?),/.exec(where)![1];
                    assert.ok(
                        hidden.exists(path.join("hosts", runsOn, "files", script[2])),
                        `${runsOn} has ${script[2]}`,
                    );
                }
            }
        }
        const [ssh] = stepsOf("worker-1").filter((step) => step.name.endsWith("-ssh.sh"));
        assert.match(header(ssh.text)[0], /^# worker-1-ssh: runs over SSH on the bastion, on behalf of worker-1$/);
        const [removal] = stepsOf("worker-1").filter((step) => step.name.endsWith("-remove-node.sh"));
        assert.match(
            header(removal.text)[0],
            /runs over SSH on master-1, through the bastion, on behalf of worker-1, when the resource is deleted/,
        );
        const [approval] = stepsOf("worker-1").filter((step) => step.name.endsWith("-serving-cert.sh"));
        assert.match(
            header(approval.text)[0],
            /runs over SSH on master-1, through the bastion, on behalf of worker-1$/,
        );
        const [join] = stepsOf("worker-1").filter((step) => step.name.endsWith("-join.sh"));
        assert.match(header(join.text)[0], /runs over SSH on worker-1, through the bastion$/);
    });

    test("summary.md gives the modeled time with no limit and at several --parallel values", () => {
        const summary = hidden.file("summary.md");
        assert.match(summary, /no limit on how many at once/);
        assert.match(summary, /`pulumi up --parallel N` allows at most N/);
        const minutes = (parallel: number) => schedule(hidden.resources, parallel).minutes.toFixed(1);
        assert.match(summary, new RegExp(`^\\| no limit \\| ${minutes(Infinity)} \\|$`, "m"));
        for (const parallel of modeledParallelism) {
            assert.match(summary, new RegExp(`^\\| ${parallel} \\| ${minutes(parallel)} \\|$`, "m"));
        }
    });
});

test("a key in a namespace nothing reads is named in the plan's warnings", () => {
    const result = plan({ stack: "aws-dev", config: { "kube-ha:timezone": "Asia/Shanghai" } });
    assert.match(
        result.file("summary.md"),
        /^- kube-ha:timezone: no part of this program reads the namespace kube-ha/m,
    );
});

test("the latency model starts a resource only once its provider exists, as `pulumi up` does", () => {
    const resources = [
        { type: "command:local:Command", name: "api-ready", dependencies: [] },
        { type: "pulumi:providers:kubernetes", name: "k8s", dependencies: ["api-ready"] },
        { type: "kubernetes:apps/v1:DaemonSet", name: "flannel", dependencies: [], provider: "k8s" },
    ];
    const [apiReady, provider, rollout] = resources.map((resource) => latencyOf(resource).seconds);
    assert.ok(apiReady > 0 && rollout > 0);
    assert.equal(provider, 0);
    assert.deepEqual(
        schedule(resources).criticalPath.map((entry) => `${entry.name} ${entry.finishSeconds}`),
        [`api-ready ${apiReady}`, `k8s ${apiReady}`, `flannel ${apiReady + rollout}`],
    );
});

test("the latency model: work a step queues on its host holds no slot; what depends on the step waits for that work", () => {
    const remote = "command:remote:Command";
    const queue = `sudo --preserve-env=KUBEHA_NODE_NAME ${installedScript("join-worker")}`;
    const workers = Array.from({ length: 50 }, (_, i) => `worker-${i + 1}`);
    const resources = [
        { type: "aws:ec2/route:Route", name: "route", dependencies: [] },
        ...workers.flatMap((worker) => [
            { type: remote, name: `${worker}-ssh`, dependencies: [] },
            {
                type: remote,
                name: `${worker}-join`,
                dependencies: [`${worker}-ssh`, "route"],
                inputs: { create: queue },
            },
        ]),
        { type: remote, name: "master-1-workers-joined", dependencies: workers.map((worker) => `${worker}-join`) },
    ];
    const seconds = (name: string) => latencyOf({ type: remote, name, dependencies: [] }).seconds;
    const [ssh, route, queued] = [
        seconds("worker-1-ssh"),
        latencyOf(resources[0]).seconds,
        latencyOf(resources[2]).seconds,
    ];
    const [boot, join, gate] = [
        seconds("worker-1-ready"),
        seconds("worker-1-join-unit"),
        seconds("master-1-workers-joined"),
    ];
    assert.ok(queued < 10 && boot > 100 && join > 10, `${queued} ${boot} ${join}`);
    const unbounded = schedule(resources);
    assert.equal(unbounded.minutes * 60, Math.max(ssh, route) + boot + join + gate);
    assert.deepEqual(
        unbounded.criticalPath.slice(1).map((entry) => entry.name),
        ["worker-1-boot (on the host)", "worker-1-join-unit (on the host)", "master-1-workers-joined"],
    );
    // Two slots: the ssh steps (and the route) take turns, each boot starts once its ssh step is done and runs beside
    // the others; the queue steps fit in the boots' time.
    const twoSlots = schedule(resources, 2).minutes * 60;
    const lastSsh = Math.ceil((workers.length + 1) / 2) * ssh;
    assert.ok(twoSlots <= lastSsh + boot + join + gate, `${twoSlots} s`);
    assert.ok(twoSlots < (workers.length * (boot + join)) / 2 / 2, "far from the boots and joins taking turns");
});

describe("a second stack of the project in the same cloud account takes nothing of the first's", () => {
    /**
     * Names an account (or a region of it) holds once, by resource type: a second stack reusing one would fail to
     * create it, or share the first's. Where the program sets none, the provider generates a unique one.
     */
    const onePerAccount: Record<string, string> = {
        "alicloud:ram/role:Role": "roleName",
        "alicloud:ram/policy:Policy": "policyName",
        "alicloud:ecs/ecsKeyPair:EcsKeyPair": "keyPairName",
        "alicloud:oss/bucket:Bucket": "bucket",
        "aws:iam/role:Role": "name",
        "aws:iam/instanceProfile:InstanceProfile": "name",
        "aws:iam/policy:Policy": "name",
        "aws:ec2/keyPair:KeyPair": "keyName",
        "aws:lb/loadBalancer:LoadBalancer": "name",
        "aws:lb/targetGroup:TargetGroup": "name",
        "aws:s3/bucket:Bucket": "bucket",
    };
    const namesHeldOnce = (planned: ReturnType<typeof plan>) =>
        planned.resources.flatMap((resource) => {
            const field = onePerAccount[resource.type];
            const name = field === undefined ? undefined : resource.inputs[field];
            return typeof name === "string" ? [`${resource.type} ${name}`] : [];
        });
    /** The cluster names the cloud controllers select their resources by: tags, flags and cloud config. */
    const clusterIdentities = (planned: ReturnType<typeof plan>) => {
        const dir = path.join(planned.dir, "manifests");
        const text = [
            planned.file("resources.json"),
            ...fs.readdirSync(dir).map((f) => planned.file(`manifests/${f}`)),
        ];
        const patterns = [
            /kubernetes\.io\/cluster\/([\w.-]+)/g,
            /--cluster-name=([\w.-]+)/g,
            /clusterID\\?":\\?"([\w.-]+)/g,
        ];
        return new Set(text.flatMap((t) => patterns.flatMap((p) => [...t.matchAll(p)].map((m) => m[1]))));
    };

    for (const stack of ["dev", "aws-dev"]) {
        test(`${stack} and a copy of it: every name an account holds once differs, and each cluster's controllers select only its own`, () => {
            const first = plan({ stack });
            const second = plan({ stack: `${stack}-second`, settingsOf: stack });
            const firstNames = namesHeldOnce(first);
            assert.ok(firstNames.length >= 3, `only ${firstNames.join(", ")}`);
            const shared = firstNames.filter((name) => namesHeldOnce(second).includes(name));
            assert.deepEqual(shared, [], "names both stacks would take in one account");
            assert.deepEqual([...clusterIdentities(first)], [`kubeha-${stack}`]);
            assert.deepEqual([...clusterIdentities(second)], [`kubeha-${stack}-second`]);
        });
    }
});
