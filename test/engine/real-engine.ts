// `npm run test:engine`: the real Pulumi engine (the CLI built from source by `npm run -s toolchain`) runs the real
// program on a file backend with passphrase secrets, fully offline. Each check compares the engine with the offline
// plan (plan/), never with a list of its own, and the test prints one line per check it proved.
//
// The program runs in this process through @pulumi/pulumi's own language runtime (Automation API, `--client`):
// pulumi-language-nodejs cannot be built from the Go module proxy. Provider plugins the toolchain built are used;
// every other package is served by the stand-in plugin (stand-in-provider.ts), which answers like the plan's mocks.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { EngineEvent, LocalWorkspace, OpType, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import type { PlannedResource } from "../../plan/run";
import { defaultKubernetesVersion, KubernetesMinor, supportedKubernetesMinors } from "../../config/versions";
import { choosePlugins, toolchainBin } from "./plugins";

const repo = path.resolve(__dirname, "..", "..");
const passphrase = "kubeha-engine-test";

/** What the engine plans for one resource. */
interface Step {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly op: OpType;
}

/** Resources the engine manages but the plan does not list: the default provider of each package. */
function isDefaultProvider(step: Step): boolean {
    return step.type.startsWith("pulumi:providers:") && step.name.startsWith("default");
}

/** Resources `pulumi up` leaves out: they need hosts (remote and local commands) or a cluster (Kubernetes objects). */
function needsHostOrCluster(type: string): boolean {
    return type.startsWith("command:") || type.startsWith("kubernetes:");
}

/**
 * The program as the language host loads it: index.ts's export, run by @pulumi/pulumi. One change for the partial
 * `pulumi up`: the engine creates every provider even when --exclude names it, so the kubernetes provider, which waits
 * for the API (dependsOn api-ready), would be saved with a dependency that was left out, and the state would fail its
 * integrity check. The test drops that one dependsOn; it changes no resource and no input.
 */
async function program(): Promise<Record<string, unknown>> {
    // An SDK-side transformation: the engine-side transform (registerResourceTransform) keeps the dependency lists
    // it was sent unless the resource has transforms of its own (Pulumi 3.274, resource monitor).
    pulumi.runtime.registerStackTransformation(({ type, props, opts }) =>
        type === "pulumi:providers:kubernetes" ? { props, opts: { ...opts, dependsOn: [] } } : undefined,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(path.join(repo, "index.ts")) as () => Promise<Record<string, unknown>>)();
}

function proved(line: string): void {
    process.stdout.write(`proved: ${line}\n`);
}

/** The offline plan of a stack, from plan/cli.ts as a user runs it. */
function offlinePlan(stack: string, out: string, configFile?: string): PlannedResource[] {
    execFileSync(
        process.execPath,
        ["--require", "ts-node/register/transpile-only", "plan/cli.ts", "--stack", stack, "--out", out].concat(
            configFile ? ["--config", configFile] : [],
        ),
        { cwd: repo, stdio: ["ignore", "ignore", "inherit"] },
    );
    return JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8")) as PlannedResource[];
}

function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

/**
 * Inputs as `pulumi up` compares them: ignored changes left out, and what differs from run to run of the plan
 * (generated keys and certificates) blanked out.
 */
function comparableInputs(resource: PlannedResource): string {
    const inputs: Record<string, unknown> = { ...resource.inputs };
    for (const key of resource.ignoreChanges ?? []) delete inputs[key];
    return JSON.stringify(inputs, (_key, value: unknown) =>
        typeof value === "string" && /-----BEGIN |^(ssh-|ecdsa-sha2-)/.test(value) ? "<generated>" : value,
    );
}

/**
 * What a config change should do to a stack that holds the `existing` resources, from two offline plans: resources
 * only in the new plan are created, unless they depend on one the operation leaves out (`excluded`, with
 * --exclude-dependents); an existing one whose inputs differ changes, and so does one whose inputs come from a tls or
 * random resource that is replaced (those providers replace on every change).
 */
function plannedChanges(
    before: PlannedResource[],
    after: PlannedResource[],
    existing: Set<string>,
    excluded: Set<string>,
): Map<string, "create" | "replace" | "change"> {
    const old = new Map(before.map((resource) => [resource.name, resource]));
    const leftOut = new Set(excluded);
    const upstream = (resource: PlannedResource) => [
        ...resource.dependencies,
        ...(resource.parent ? [resource.parent] : []),
    ];
    growUntilStable(
        after,
        (resource) => !leftOut.has(resource.name) && upstream(resource).some((name) => leftOut.has(name)),
        (resource) => leftOut.add(resource.name),
    );

    const changes = new Map<string, "create" | "replace" | "change">();
    const replacesOnChange = (type: string) => type.startsWith("tls:") || type.startsWith("random:");
    const change = (resource: PlannedResource) =>
        changes.set(resource.name, replacesOnChange(resource.type) ? "replace" : "change");
    for (const resource of after) {
        if (leftOut.has(resource.name)) continue;
        if (!old.has(resource.name)) changes.set(resource.name, "create");
        else if (
            existing.has(resource.name) &&
            comparableInputs(resource) !== comparableInputs(old.get(resource.name)!)
        ) {
            change(resource);
        }
    }
    growUntilStable(
        after,
        (resource) =>
            !changes.has(resource.name) &&
            existing.has(resource.name) &&
            resource.dependencies.some((dependency) => changes.get(dependency) === "replace"),
        change,
    );
    return changes;
}

/** Applies `add` to every resource that `joins` accepts, again and again until none joins. */
function growUntilStable(
    resources: PlannedResource[],
    joins: (resource: PlannedResource) => boolean,
    add: (resource: PlannedResource) => void,
): void {
    for (let grown = true; grown;) {
        const joining = resources.filter(joins);
        joining.forEach(add);
        grown = joining.length > 0;
    }
}

function identities(items: { type: string; name: string }[]): string[] {
    return items.map((item) => `${item.type} ${item.name}`).sort();
}

describe("the real Pulumi engine on a file backend", { timeout: 60 * 60_000 }, () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-engine-"));
    const workDir = path.join(scratch, "project");
    const pluginDir = path.join(scratch, "plugins");
    const backendDir = path.join(scratch, "backend");
    const stacks = new Map<string, Stack>();
    let workspace: LocalWorkspace;

    before(async () => {
        const binDir = toolchainBin();
        fs.mkdirSync(workDir);
        fs.mkdirSync(pluginDir);
        fs.mkdirSync(backendDir);
        for (const file of fs.readdirSync(repo).filter((name) => /^Pulumi(\..+)?\.yaml$/.test(name))) {
            fs.copyFileSync(path.join(repo, file), path.join(workDir, file));
        }
        const { real, standIns } = choosePlugins(binDir, pluginDir, path.join(scratch, "pulumi-home"));
        const pulumiCommand = await PulumiCommand.get({ root: path.dirname(binDir), skipVersionCheck: false });
        workspace = await LocalWorkspace.create({
            workDir,
            pulumiCommand,
            pulumiHome: path.join(scratch, "pulumi-home"),
            program,
            envVars: {
                PULUMI_BACKEND_URL: `file://${backendDir}`,
                PULUMI_CONFIG_PASSPHRASE: passphrase,
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                PATH: `${pluginDir}:${binDir}:${process.env.PATH}`,
            },
        });
        process.stdout.write(
            `engine: pulumi ${pulumiCommand.version?.toString()} from ${binDir}; ` +
                `real provider plugins: ${real.join(", ") || "none"}; ` +
                `stand-ins answering like the plan's mocks: ${standIns.join(", ")}\n`,
        );
    });

    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    async function stack(name: string): Promise<Stack> {
        if (!stacks.has(name)) stacks.set(name, await Stack.create(name, workspace));
        return stacks.get(name)!;
    }

    function stepRecorder(): { steps: Map<string, Step>; onEvent: (event: EngineEvent) => void } {
        const steps = new Map<string, Step>();
        return {
            steps,
            onEvent: (event) => {
                const metadata = event.resourcePreEvent?.metadata;
                if (!metadata) return;
                // A replacement is three steps of one resource (create-replacement, replace, delete-replaced).
                const replacing = ["create-replacement", "replace", "delete-replaced"].includes(metadata.op);
                steps.set(metadata.urn, {
                    urn: metadata.urn,
                    type: metadata.type,
                    name: urnName(metadata.urn),
                    op: replacing ? "replace" : metadata.op,
                });
            },
        };
    }

    async function preview(stackName: string, options: { exclude?: string[] } = {}): Promise<Step[]> {
        const { steps, onEvent } = stepRecorder();
        await (await stack(stackName)).preview({ ...options, excludeDependents: options.exclude && true, onEvent });
        return [...steps.values()];
    }

    /** Everything the engine plans to create for a new stack is the offline plan's resources. */
    async function previewMatchesPlan(stackName: string, cloud: string): Promise<Step[]> {
        const steps = await preview(stackName);
        const planned = offlinePlan(stackName, path.join(scratch, `plan-${stackName}`));
        // Besides creating everything, the program reads its own stack's last outputs (absent on a new stack):
        // a read, not a resource of the offline plan.
        const reads = steps.filter((step) => step.op === "read").map((step) => step.urn);
        assert.deepEqual(reads, [`urn:pulumi:${stackName}::kubeha::pulumi:pulumi:StackReference::deployed-stack`]);
        const managed = steps.filter((step) => !isDefaultProvider(step) && step.op !== "read");
        assert.deepEqual(
            managed.filter((step) => step.op !== "create").map((step) => `${step.op} ${step.urn}`),
            [],
            "a new stack creates everything",
        );
        assert.deepEqual(identities(managed), identities(planned));
        proved(
            `pulumi preview of ${stackName} (${cloud}) plans ${managed.length} resources, the offline plan's ` +
                `${planned.length} with the same names and types (and ${steps.length - managed.length} default providers)`,
        );
        return steps;
    }

    let devSteps: Step[];
    let hostless: { exclude: string[] };

    test("preview of dev (Aliyun) is the offline plan", async () => {
        devSteps = await previewMatchesPlan("dev", "Aliyun");
        hostless = { exclude: devSteps.filter((step) => needsHostOrCluster(step.type)).map((step) => step.urn) };
    });

    test("up of everything that needs no host, then a preview that expects no changes", async () => {
        const dev = await stack("dev");
        const result = await dev.up({ ...hostless, excludeDependents: true });
        const created = result.summary.resourceChanges?.create ?? 0;
        const state = await dev.exportStack();
        const resources = (state.deployment as { resources?: { type: string }[] }).resources ?? [];
        assert.ok(resources.some((resource) => resource.type.startsWith("tls:")));
        assert.ok(!resources.some((resource) => needsHostOrCluster(resource.type)));
        await dev.preview({ ...hostless, excludeDependents: true, expectNoChanges: true });
        const byPackage = new Map<string, number>();
        for (const { type } of resources)
            byPackage.set(type.split(":")[0], (byPackage.get(type.split(":")[0]) ?? 0) + 1);
        proved(
            `pulumi up of dev created ${created} resources (${[...byPackage].map(([pkg, n]) => `${pkg} ${n}`).join(", ")}), ` +
                `leaving out ${hostless.exclude.length} commands and Kubernetes objects and what depends on them; ` +
                `pulumi preview --expect-no-changes then passes`,
        );
    });

    /**
     * Sets one config value of dev (a path like `kubeha:workers.count`), previews everything that needs no host, and
     * checks the engine plans exactly the changes the two offline plans imply and nothing else; restores the value.
     */
    async function previewOfChange(key: string, value: string): Promise<{ changes: Map<string, OpType> }> {
        const dev = await stack("dev");
        const basePlan = offlinePlan("dev", path.join(scratch, "plan-dev"));
        const state = await dev.exportStack();
        const existing = new Set(
            ((state.deployment as { resources?: { urn: string }[] }).resources ?? []).map((resource) =>
                urnName(resource.urn),
            ),
        );
        const from = (await dev.getConfig(key, true).catch(() => undefined))?.value;
        await dev.setConfig(key, { value }, true);
        try {
            const changedPlan = offlinePlan(
                "dev",
                path.join(scratch, `plan-dev-${key.replace(/\W+/g, "-")}`),
                path.join(workDir, "Pulumi.dev.yaml"),
            );
            const expected = plannedChanges(basePlan, changedPlan, existing, new Set(hostless.exclude.map(urnName)));
            const steps = await preview("dev", hostless);
            const changes = new Map(
                steps
                    .filter((step) => step.op !== "same" && step.op !== "read" && !isDefaultProvider(step))
                    .map((step) => [step.name, step.op]),
            );
            assert.deepEqual([...changes.keys()].sort(), [...expected.keys()].sort());
            for (const [name, op] of changes) {
                const kind = expected.get(name)!;
                if (kind === "create") assert.equal(op, "create", name);
                else if (kind === "replace") assert.equal(op, "replace", name);
                else assert.ok(op === "update" || op === "replace", `${name}: ${op}`);
            }
            return { changes };
        } finally {
            if (from === undefined) await dev.removeConfig(key, true);
            else await dev.setConfig(key, { value: from }, true);
        }
    }

    test("adding a worker previews exactly what the offline plan changes", async () => {
        const workers = (await (await stack("dev")).getConfig("kubeha:workers").catch(() => undefined))?.value;
        const count = workers ? ((JSON.parse(workers) as { count?: number }).count ?? 3) : 3;
        const { changes } = await previewOfChange("kubeha:workers.count", String(count + 1));
        const named = (op: string) => [...changes].filter(([, kind]) => kind === op).map(([name]) => name);
        proved(
            `workers.count ${count} -> ${count + 1}: pulumi preview plans exactly the ${changes.size} changes the ` +
                `offline plans imply and nothing else: creates ${named("create").join(", ")}; ` +
                `updates ${named("update").join(", ") || "none"}; replaces ${named("replace").join(", ") || "none"}`,
        );
    });

    test("a new Kubernetes minor previews no change to any host, disk, key or certificate", async () => {
        const configured = (await (await stack("dev")).getConfig("kubeha:kubernetesVersion").catch(() => undefined))
            ?.value;
        const current = (configured ?? defaultKubernetesVersion).split(".").slice(0, 2).join(".");
        const next = supportedKubernetesMinors[supportedKubernetesMinors.indexOf(current as KubernetesMinor) + 1];
        assert.ok(next, `a supported minor after ${current}`);
        const { changes } = await previewOfChange("kubeha:kubernetesVersion", next);
        const inState = ((await (await stack("dev")).exportStack()).deployment as { resources?: unknown[] }).resources
            ?.length;
        // The hosts' user-data names the version; it is ignored after creation (a new host boots straight into the
        // new version), so the engine must not plan to replace any instance. What changes are remote steps, which
        // the offline upgrade tests (test/upgrade.test.ts) pin: only the upgrade steps.
        assert.deepEqual([...changes], []);
        proved(
            `kubernetesVersion ${current} -> ${next}: pulumi preview plans no change to any of the ${inState} ` +
                `resources in the state, which need no host (instances, disks, keys, certificates): the version reaches hosts only through their upgrade steps`,
        );
    });

    test("a second stack of the project previews independently of the first", async () => {
        await previewMatchesPlan("aws-dev", "AWS");
        await (await stack("dev")).preview({ ...hostless, excludeDependents: true, expectNoChanges: true });
        proved("a second stack (aws-dev) previews on its own while dev is up, and dev still plans no change");
    });

    test("stack outputs: credentials are secrets, certificates in clear; the state file holds no secret in clear", async () => {
        const dev = await stack("dev");
        const printed = JSON.parse(
            execFileSync(pulumiBinary(), ["stack", "output", "--json", "--stack", "dev"], {
                cwd: workDir,
                encoding: "utf8",
                env: { ...process.env, ...workspace.envVars },
            }),
        ) as Record<string, unknown>;
        const revealed = await dev.outputs();
        const planned = JSON.parse(fs.readFileSync(path.join(scratch, "plan-dev", "outputs.json"), "utf8")) as Record<
            string,
            unknown
        >;
        const secretOutputs = ["kubeconfig", "sshPrivateKey", "dashboardToken"].filter((key) => key in revealed);
        assert.ok(secretOutputs.includes("kubeconfig") && secretOutputs.includes("sshPrivateKey"));
        for (const key of secretOutputs) {
            assert.equal(printed[key], "[secret]", `${key} is shown as [secret]`);
            assert.equal(revealed[key].secret, true, `${key} is a secret`);
        }
        const certificates = printed.certificates as { name: string; notAfter: string }[];
        assert.deepEqual(
            certificates.map((certificate) => certificate.name),
            (planned.certificates as { name: string }[]).map((certificate) => certificate.name),
        );
        assert.ok(certificates.every((certificate) => !Number.isNaN(Date.parse(certificate.notAfter))));
        const stateFile = fs.readFileSync(path.join(backendDir, ".pulumi", "stacks", "kubeha", "dev.json"), "utf8");
        assert.doesNotMatch(stateFile, /PRIVATE KEY/);
        const withValues = secretOutputs.filter((key) => typeof revealed[key].value === "string");
        for (const key of withValues) {
            assert.ok(!stateFile.includes(revealed[key].value as string), `${key} is not in the state file in clear`);
        }
        proved(
            `pulumi stack output --json shows ${secretOutputs.join(", ")} as [secret] and the plan's ` +
                `${certificates.length} certificates with their expiry in clear; the state file holds no private key ` +
                `and none of ${withValues.join(", ")} in clear` +
                (!secretOutputs.includes("dashboardToken") || withValues.includes("dashboardToken")
                    ? ""
                    : " (dashboardToken has no value: the cluster's token controller fills it, and there is no cluster)"),
        );
    });

    test("refresh changes only the read of its own stack; destroy stops at the protected etcd disks, then removes everything", async () => {
        const dev = await stack("dev");
        const outputsByName = async () =>
            new Map(
                (
                    ((await dev.exportStack()).deployment as { resources?: { urn: string; outputs?: unknown }[] })
                        .resources ?? []
                )
                    .filter((resource) => !resource.urn.includes("::pulumi:providers:"))
                    .map((resource) => [urnName(resource.urn), JSON.stringify(resource.outputs ?? {})]),
            );
        const before = await outputsByName();
        const refresh = await dev.refresh();
        const after = await outputsByName();
        // The one thing refresh changes is the program's read of its own stack, which now has outputs to read.
        const changed = [...after].filter(([name, outputs]) => before.get(name) !== outputs).map(([name]) => name);
        assert.deepEqual(changed, ["deployed-stack"]);
        const changes = Object.entries(refresh.summary.resourceChanges ?? {}).filter(([op]) => op !== "same");
        assert.deepEqual(changes, [["update", 1]]);
        // The etcd disks are protected: destroy refuses until they are unprotected on purpose (README, Destroy).
        await assert.rejects(dev.destroy(), /protected/);
        const protectedNames = () =>
            dev
                .exportStack()
                .then((state) =>
                    ((state.deployment as { resources?: { urn: string; protect?: boolean }[] }).resources ?? [])
                        .filter((resource) => resource.protect)
                        .map((resource) => urnName(resource.urn)),
                );
        assert.deepEqual((await protectedNames()).sort(), [
            "master-1-etcd-disk",
            "master-2-etcd-disk",
            "master-3-etcd-disk",
        ]);
        execFileSync(pulumiBinary(), ["state", "unprotect", "--all", "--yes", "--stack", "dev"], {
            cwd: workDir,
            env: { ...process.env, ...workspace.envVars },
        });
        await dev.destroy();
        const state = await dev.exportStack();
        assert.deepEqual((state.deployment as { resources?: unknown[] }).resources ?? [], []);
        proved(
            `pulumi refresh of dev reports ${refresh.summary.resourceChanges?.same ?? 0} resources unchanged; pulumi destroy ` +
                `refuses while the etcd disks are protected, and after pulumi state unprotect --all leaves none`,
        );
    });

    function pulumiBinary(): string {
        return workspace.pulumiCommand.command;
    }
});
