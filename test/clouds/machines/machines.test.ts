// Cloud machines (docs/machines.md): the validation of the machine list, and the plan of Pulumi.machines-dev.yaml:
// the preparation step first on every machine, connections pinning the configured host keys, no user-data anywhere,
// and the etcd and join steps as on the clouds.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { checkAgainstDeployment } from "../../../config/deployed";
import { machineHosts } from "../../../config/layout";
import { resolveConfig } from "../../../config/resolve";
import { machineResetEnvironment } from "../../../clouds/machines/reset";
import { stackFileConfig } from "../../support/config";
import { runPlanCli } from "../../support/plan";

const { config: stackConfig, values: exampleValues } = stackFileConfig("machines-dev");
type Machine = { name: string; role: string; address: string; zone?: string; hostKey: string };
const exampleMachines = stackConfig["kubeha:machines"] as Machine[];

/** The offline plan of the example stack, made once for the tests that read it. */
let planned: ReturnType<typeof runPlanCli> | undefined;
const examplePlan = () => (planned ??= runPlanCli({ stack: "machines-dev" }));

function problemsOf(values: Record<string, string>, regions = {}): string[] {
    const result = resolveConfig({ values, regions });
    return result.ok ? [] : result.problems;
}

describe("cloud machines: validation", () => {
    test("the example stack validates, with counts, zones and etcd placement from the list", () => {
        const result = resolveConfig({ values: exampleValues, regions: {} });
        assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
        assert.equal(result.config.masters.count, 3);
        assert.equal(result.config.workers.count, 2);
        assert.equal(result.config.etcd.dedicated, false);
        assert.deepEqual(result.config.zones, ["rack-1", "rack-2", "rack-3"]);
        assert.equal(result.config.cloudIntegration, false);
        assert.equal(result.config.backup.enabled, false);
    });

    test("every problem of the list is reported at once, each at its key", () => {
        const machines = [
            { ...exampleMachines[0] },
            { ...exampleMachines[1], name: "master-1" },
            { ...exampleMachines[3], address: exampleMachines[0].address },
            { ...exampleMachines[4], hostKey: "ssh-rsa AAAAB3NzaC1yc2E" },
            { ...exampleMachines[4], name: "worker-9", address: "10.244.0.7", hostKey: exampleMachines[4].hostKey },
        ];
        const problems = problemsOf({ ...exampleValues, machines: JSON.stringify(machines) });
        const expect = [
            /kubeha:machines\[1\]\.name: master-1 is machines\[0\]'s name too/,
            /kubeha:machines\[2\]\.address: 192\.0\.2\.11 is machines\[0\]'s address too/,
            /kubeha:machines\[3\]\.hostKey: must be the machine's Ed25519 SSH host key/,
            /kubeha:machines\[4\]\.address: 10\.244\.0\.7 lies in network\.podCidr/,
        ];
        for (const pattern of expect)
            assert.ok(
                problems.some((p) => pattern.test(p)),
                `${pattern}\n${problems.join("\n")}`,
            );
    });

    test("an even number of masters, an even number of etcd machines and a key of the wrong length are refused", () => {
        const machines = [
            exampleMachines[0],
            exampleMachines[1],
            { ...exampleMachines[3], name: "etcd-1", role: "etcd" },
            { ...exampleMachines[4], name: "etcd-2", role: "etcd" },
        ];
        const problems = problemsOf({ ...exampleValues, machines: JSON.stringify(machines) });
        assert.ok(
            problems.some((p) => /kubeha:machines: lists 2 masters: must be odd/.test(p)),
            problems.join("\n"),
        );
        assert.ok(
            problems.some((p) => /kubeha:machines: lists 2 etcd machines: must be odd/.test(p)),
            problems.join("\n"),
        );
        const short = problemsOf({
            ...exampleValues,
            machines: JSON.stringify([{ ...exampleMachines[0], hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==" }]),
        });
        assert.ok(
            short.some((p) => /machines\[0\]\.hostKey: .*not an Ed25519 public key/.test(p)),
            short.join("\n"),
        );
    });

    test("the clouds' keys are refused on machines, and the machines' keys on the clouds", () => {
        const onMachines = problemsOf(
            {
                ...exampleValues,
                zones: JSON.stringify(["a", "b"]),
                masters: JSON.stringify({ count: 5, instanceType: "t3.large" }),
                network: JSON.stringify({ vpcCidr: "10.0.0.0/16" }),
                mirrors: JSON.stringify({ insideVpc: true }),
            },
            { aws: "eu-central-1" },
        );
        for (const key of [
            "aws:region",
            "kubeha:zones",
            "kubeha:masters.count",
            "kubeha:masters.instanceType",
            "kubeha:network.vpcCidr",
            "kubeha:mirrors.insideVpc",
        ]) {
            assert.ok(
                onMachines.some((p) => p.startsWith(`${key}: `)),
                `${key}\n${onMachines.join("\n")}`,
            );
        }
        const onAws = problemsOf(
            {
                cloud: "aws",
                machines: exampleValues.machines,
                sshPrivateKey: exampleValues.sshPrivateKey,
                removeEtcdDataOnReset: "true",
                bastion: JSON.stringify({ address: "203.0.113.10" }),
            },
            { aws: "eu-central-1" },
        );
        for (const key of [
            "kubeha:machines",
            "kubeha:sshPrivateKey",
            "kubeha:removeEtcdDataOnReset",
            "kubeha:bastion.address",
        ]) {
            assert.ok(
                onAws.some((p) => p.startsWith(`${key}: applies to cloud machines only`)),
                `${key}\n${onAws.join("\n")}`,
            );
        }
    });

    test("the private key and a bastion's host key are required", () => {
        const { sshPrivateKey: _key, ...rest } = exampleValues;
        const problems = problemsOf({ ...rest, bastion: JSON.stringify({ address: "203.0.113.10" }) });
        assert.ok(
            problems.some((p) => p.startsWith("kubeha:sshPrivateKey: required for cloud machines")),
            problems.join("\n"),
        );
        assert.ok(
            problems.some((p) => p.startsWith("kubeha:bastion.hostKey: required with bastion.address")),
            problems.join("\n"),
        );
    });
});

describe("cloud machines: the plan of Pulumi.machines-dev.yaml", () => {
    const run = examplePlan();
    const resources = () =>
        JSON.parse(fs.readFileSync(path.join(run.outDir, "resources.json"), "utf8")) as {
            type: string;
            name: string;
            inputs: Record<string, unknown>;
        }[];

    test("plans offline", () => assert.equal(run.status, 0, run.stderr));

    test("no cloud resource and no user-data: the machines' preparation steps stand for the instances", () => {
        for (const resource of resources()) {
            assert.ok(!/^(aws|alicloud):/.test(resource.type), `${resource.type} ${resource.name}`);
            assert.equal(resource.inputs.userData, undefined, resource.name);
        }
        for (const machine of exampleMachines) {
            assert.ok(!fs.existsSync(path.join(run.outDir, "hosts", machine.name, "user-data")), machine.name);
        }
        // The keys come from the config (Cloud.sshKeys): no login key or host key is generated.
        const generated = resources().filter(
            (resource) =>
                resource.name === "ssh-key" || resource.name.endsWith("-host-key") || resource.name === "host-keys",
        );
        assert.deepEqual(
            generated.map((resource) => resource.name),
            [],
        );
    });

    test("the preparation step comes first on every machine and carries the boot files and script", () => {
        for (const machine of exampleMachines) {
            const steps = fs.readdirSync(path.join(run.outDir, "hosts", machine.name, "steps"));
            assert.equal(steps[0], "01-prepare.sh", `${machine.name}: ${steps.join(", ")}`);
            const script = fs.readFileSync(path.join(run.outDir, "hosts", machine.name, "steps", steps[0]), "utf8");
            assert.match(script, /KUBEHA_STAGES=/);
            assert.match(script, /\/usr\/local\/lib\/kubeha\/host-boot\.sh/);
            for (const file of ["/usr/local/lib/kubeha/host-boot.sh", "/etc/hosts", "/etc/sysctl.d/90-kubeha.conf"]) {
                assert.ok(
                    fs.existsSync(path.join(run.outDir, "hosts", machine.name, "files", file)),
                    `${machine.name} ${file}`,
                );
            }
            const hosts = fs.readFileSync(
                path.join(run.outDir, "hosts", machine.name, "files", "etc", "hosts"),
                "utf8",
            );
            for (const other of exampleMachines)
                assert.ok(hosts.includes(`${other.address} `), `${machine.name}: ${other.name}`);
        }
    });

    test("every connection pins the configured host keys, through the bastion", () => {
        const byName = new Map(exampleMachines.map((machine) => [machine.name, machine]));
        const bastion = stackConfig["kubeha:bastion"] as { hostKey: string; address: string };
        const commands = resources().filter((resource) => resource.type === "command:remote:Command");
        assert.ok(commands.length > 0);
        for (const command of commands) {
            const connection = command.inputs.connection as {
                host: string;
                hostKey: string;
                proxy?: { host: string; hostKey: string };
            };
            const machine = exampleMachines.find((item) => item.address === connection.host);
            assert.ok(machine, `${command.name} connects to ${connection.host}`);
            assert.equal(connection.hostKey, byName.get(machine.name)?.hostKey, command.name);
            assert.equal(connection.proxy?.host, bastion.address, command.name);
            assert.equal(connection.proxy?.hostKey, bastion.hostKey, command.name);
        }
    });

    test("etcd on every master, kubeadm init on the first, joins on the others and the workers", () => {
        const names = new Set(resources().map((resource) => resource.name));
        for (const name of [
            "master-1-etcd",
            "master-2-etcd",
            "master-3-etcd",
            "master-1-init",
            "master-2-join",
            "master-3-join",
            "worker-1-join",
            "worker-2-join",
        ]) {
            assert.ok(names.has(name), name);
        }
    });
});

describe("cloud machines: the reset (the preparation step's delete)", () => {
    const run = examplePlan();
    const prepareStep = (machine: string) =>
        (
            JSON.parse(fs.readFileSync(path.join(run.outDir, "resources.json"), "utf8")) as {
                name: string;
                inputs: Record<string, unknown>;
            }[]
        ).find((resource) => resource.name === `${machine}-prepare`)!;
    /** A KUBEHA_* value of the delete command (each is one quoted `env` word). */
    const resetValue = (command: string, name: string) => new RegExp(`'${name}=([^']*)'`).exec(command)?.[1];
    const filesOf = (machine: string): string[] => {
        const root = path.join(run.outDir, "hosts", machine, "files");
        return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
            .filter((entry) => entry.isFile())
            .map((entry) => path.join(entry.parentPath, entry.name).slice(root.length));
    };

    test("removes every file the plan installs on each machine but /etc/hosts, and stops every unit among them", () => {
        assert.equal(run.status, 0, run.stderr);
        for (const machine of exampleMachines) {
            const command = String(prepareStep(machine.name).inputs.delete);
            assert.match(command, /bash -c '#!\/usr\/bin\/env bash\n# Reset of a machine/, machine.name);
            const paths = resetValue(command, "KUBEHA_PATHS")!.split(" ");
            const units = resetValue(command, "KUBEHA_UNITS")!.split(" ");
            const files = filesOf(machine.name);
            assert.ok(files.length > 10, `${machine.name}: ${files.length} files`);
            const left = files.filter(
                (file) => file !== "/etc/hosts" && !paths.some((p) => file === p || file.startsWith(`${p}/`)),
            );
            assert.deepEqual(left, [], `${machine.name}: files the reset would leave`);
            assert.ok(!paths.includes("/etc/hosts"), "/etc/hosts is put back, not removed");
            const unitFiles = files.filter((file) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer)$/.test(file));
            for (const unit of unitFiles) assert.ok(units.includes(path.basename(unit)), `${machine.name}: ${unit}`);
            assert.ok(units.includes("kubelet.service") && units.includes("containerd.service"), machine.name);
            assert.equal(resetValue(command, "KUBEHA_PACKAGES"), "containerd.io kubelet kubeadm kubectl cri-tools");
            const master = machine.role === "master";
            assert.equal(resetValue(command, "KUBEHA_ETCD_DATA"), master ? "/var/lib/etcd/data" : undefined);
            assert.equal(resetValue(command, "KUBEHA_REMOVE_ETCD_DATA"), "false", "etcd's data is kept by default");
        }
    });

    test("kubeha:removeEtcdDataOnReset: true removes etcd's data too", () => {
        const result = resolveConfig({ values: { ...exampleValues, removeEtcdDataOnReset: "true" }, regions: {} });
        assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
        const layout = machineHosts(result.config);
        const master = layout.find((host) => host.name === "master-1")!;
        const environment = machineResetEnvironment(result.config, layout, master, "kubeha-machines-dev");
        assert.equal(environment.KUBEHA_REMOVE_ETCD_DATA, "true");
        assert.equal(environment.KUBEHA_ETCD_DATA, "/var/lib/etcd/data");
        const problems = problemsOf({ ...exampleValues, removeEtcdDataOnReset: "yes" });
        assert.ok(
            problems.some((p) => p.startsWith("kubeha:removeEtcdDataOnReset: must be true or false")),
            problems.join("\n"),
        );
    });
});

describe("cloud machines without a bastion", () => {
    const run = runPlanCli({ stack: "machines-dev", config: { "kubeha:bastion": undefined } });

    test("connect to each machine directly, on its own port, pinning its key", () => {
        assert.equal(run.status, 0, run.stderr);
        const resources = JSON.parse(fs.readFileSync(path.join(run.outDir, "resources.json"), "utf8")) as {
            type: string;
            name: string;
            inputs: { connection?: { host: string; port?: number; hostKey: string; proxy?: unknown } };
        }[];
        const prepare = resources.filter((resource) => resource.name.endsWith("-prepare"));
        assert.equal(prepare.length, exampleMachines.length);
        for (const resource of resources.filter((item) => item.type === "command:remote:Command")) {
            const connection = resource.inputs.connection;
            assert.ok(connection, resource.name);
            assert.equal(connection.proxy, undefined, resource.name);
            const machine = exampleMachines.find((item) => item.address === connection.host) as Machine & {
                port?: number;
            };
            assert.equal(connection.hostKey, machine.hostKey, resource.name);
            assert.equal(connection.port, machine.port ?? 22, resource.name);
        }
    });
});

describe("cloud machines on a deployed stack", () => {
    test("a new zone label is no zone change (labels move nothing); dropping an etcd member is refused", () => {
        const result = resolveConfig({
            values: {
                ...exampleValues,
                machines: JSON.stringify([
                    ...exampleMachines,
                    { ...exampleMachines[4], name: "worker-3", address: "192.0.2.23", zone: "rack-9" },
                ]),
            },
            regions: {},
        });
        assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
        const deployed = {
            zones: ["rack-1", "rack-2", "rack-3"],
            hosts: Object.fromEntries(exampleMachines.map((machine) => [machine.name, { role: machine.role }])),
        };
        const grown = checkAgainstDeployment(result.config, deployed);
        assert.deepEqual(grown.problems, []);
        assert.deepEqual(grown.zones, ["rack-1", "rack-2", "rack-3", "rack-9"]);

        const shrunk = resolveConfig({
            values: {
                ...exampleValues,
                machines: JSON.stringify(
                    exampleMachines.filter((machine) => machine.name !== "master-3" && machine.name !== "master-2"),
                ),
            },
            regions: {},
        });
        assert.ok(shrunk.ok);
        const problems = checkAgainstDeployment(shrunk.config, deployed).problems;
        assert.ok(
            problems.some((problem) => /^kubeha:machines: master-2, master-3 run etcd members/.test(problem)),
            problems.join("\n"),
        );
    });
});
