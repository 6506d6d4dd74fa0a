// Kubelet serving certificates approved for the cluster's life: the rendered timer and service (checked by
// systemd-analyze), the step that enables the timer, and scripts/approve-kubelet-serving.sh run both ways
// (the join-time step for one node, the timer's pass over all) against the kubectl stand-in, with one
// request for each reason a request must stay pending.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { hostFactsOf } from "../clouds/host-facts";
import { kubeletServingApprover, renderKubeletServingApprover } from "../render/kubelet-serving";
import { installedScript, steps } from "../render/steps";
import { configFor, layoutOf } from "./support/config";
import { certificateRequest } from "./support/openssl";
import { changes, StepSandbox } from "./support/step-sandbox";
import { unitProblems } from "./support/systemd";

const config = configFor({ cloud: "aws" });
const layout = layoutOf(config);
const files = renderKubeletServingApprover(config, layout);
const fileAt = (file: string) => {
    const found = files.find((candidate) => candidate.path === file);
    assert.ok(found, `${file} is rendered`);
    return found;
};
const unitPath = (unit: string) => `/etc/systemd/system/${unit}`;
const service = fileAt(unitPath(kubeletServingApprover.service));
const timer = fileAt(unitPath(kubeletServingApprover.timer));

/** The Environment= settings of a unit, as the service's process gets them. */
function unitEnvironment(unit: string): Record<string, string> {
    return Object.fromEntries(
        [...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((match) => [match[1], match[2]] as const),
    );
}

describe("the approver's files (render/kubelet-serving.ts)", () => {
    test("the nodes file lists every master and worker with its planned address and name, nothing else", () => {
        const nodes = fileAt(kubeletServingApprover.nodesFile).content.trimEnd().split("\n");
        const expected = layout.filter((host) => host.role === "master" || host.role === "worker");
        assert.equal(nodes.length, expected.length);
        for (const [i, host] of expected.entries()) {
            // The AWS cloud controller manager gives nodes their instance's private DNS name (kubeha:cloudIntegration).
            const awsName = `ip-${host.privateIp.replaceAll(".", "-")}.eu-central-1.compute.internal`;
            assert.equal(
                nodes[i],
                `${host.name} ${host.privateIp},${host.name}.${config.network.privateDomain},${awsName}`,
            );
        }
    });

    test("without the cloud integration, or on Aliyun, only the planned address and name", () => {
        for (const values of [{ cloud: "aws", cloudIntegration: false }, { cloud: "aliyun" }]) {
            const other = configFor(values);
            const [first] = renderKubeletServingApprover(other, layoutOf(other))
                .find((file) => file.path === kubeletServingApprover.nodesFile)!
                .content.split("\n");
            const master1 = layoutOf(other).find((host) => host.name === "master-1")!;
            assert.equal(first, `master-1 ${master1.privateIp},master-1.${other.network.privateDomain}`);
        }
        const usEast = configFor({ cloud: "aws" }, { aws: "us-east-1" });
        assert.deepEqual(hostFactsOf(usEast).nodeNames(usEast, layout[0]), [
            `ip-${layout[0].privateIp.replaceAll(".", "-")}.ec2.internal`,
        ]);
    });

    test("systemd-analyze accepts the service and its timer", () => {
        assert.deepEqual(unitProblems(service, [installedScript("serving-cert")]), []);
        assert.deepEqual(unitProblems(timer, [], [service]), []);
    });

    test("the service runs the serving-cert script in its all-nodes mode, with variables the script reads", () => {
        assert.match(service.content, new RegExp(`^ExecStart=${installedScript("serving-cert")}$`, "m"));
        const environment = unitEnvironment(service.content);
        assert.deepEqual(environment, { KUBEHA_NODES_FILE: kubeletServingApprover.nodesFile });
        for (const name of Object.keys(environment)) assert.ok(name in steps["serving-cert"].variables, name);
        assert.match(service.content, /^Type=oneshot$/m);
        assert.match(timer.content, new RegExp(`^OnUnitActiveSec=${kubeletServingApprover.intervalMinutes}min$`, "m"));
    });
});

describe("serving-approver: the timer is loaded, enabled and started; a changed unit reloads it", () => {
    const sandbox = new StepSandbox("serving-approver");
    after(() => sandbox.remove());
    const variables = { KUBEHA_TIMER: kubeletServingApprover.timer };
    const install = (unit: { path: string; content: string }) =>
        sandbox.writeHostFile("master-2", unit.path, unit.content);

    test("a timer whose units are not installed is an error that says so", async () => {
        const run = await sandbox.run("master-2", steps["serving-approver"].script, variables);
        assert.equal(run.status, 1);
        assert.match(run.stderr, /FAILED: kubeha-approve-kubelet-serving\.timer is not installed/);
        assert.deepEqual(changes(sandbox.takeCalls()), ["master-2: systemctl daemon-reload"]);
    });

    test("loads, enables and starts it once; the second run only checks", async () => {
        install(service);
        install(timer);
        const { firstCalls, second } = await sandbox.runTwice("master-2", steps["serving-approver"].script, variables);
        assert.deepEqual(changes(firstCalls), [
            "master-2: systemctl daemon-reload",
            `master-2: systemctl enable --quiet ${kubeletServingApprover.timer}`,
            `master-2: systemctl start ${kubeletServingApprover.timer}`,
        ]);
        assert.match(second.stderr, /is active with its current units/);
    });

    test("a changed service unit is read again and the timer restarted", async () => {
        install({ ...service, content: service.content.replace("Type=oneshot", "Type=oneshot\nNice=5") });
        const { firstCalls } = await sandbox.runTwice("master-2", steps["serving-approver"].script, variables);
        assert.deepEqual(changes(firstCalls), [
            "master-2: systemctl daemon-reload",
            `master-2: systemctl restart ${kubeletServingApprover.timer}`,
        ]);
    });
});

const hex = (text: string) => Buffer.from(text).toString("hex");

/** A subjectAltName's DER (GeneralNames) in hex, for `openssl req -addext subjectAltName=DER:...`: any bytes. */
function generalNames(names: [tag: number, value: string | Buffer][]): string {
    const tlv = (tag: number, value: Buffer) => {
        assert.ok(value.length < 128, "short form lengths only");
        return Buffer.concat([Buffer.from([tag, value.length]), value]);
    };
    return tlv(0x30, Buffer.concat(names.map(([tag, value]) => tlv(tag, Buffer.from(value))))).toString("hex");
}

describe("approve-kubelet-serving.sh: approves only a planned node's own kubelet-serving requests", () => {
    const sandbox = new StepSandbox("serving-cert");
    const script = steps["serving-cert"].script;
    const nodesFile = kubeletServingApprover.nodesFile;
    const [worker1, worker2] = layout.filter((host) => host.role === "worker");
    const fqdn = (name: string) => `${name}.${config.network.privateDomain}`;
    const csrDir = (name: string) => path.join(sandbox.state, "csr", name);
    const conditions = (name: string) => fs.readFileSync(path.join(csrDir(name), "conditions"), "utf8");
    const addCsr = (
        name: string,
        fields: {
            cn: string;
            sans?: string;
            user: string;
            signer?: string;
            usages?: string;
            groups?: string;
            request?: string;
            conditions?: string;
        },
    ) => {
        const dir = csrDir(name);
        fs.mkdirSync(dir, { recursive: true });
        const key = path.join(dir, "key.pem");
        const request = certificateRequest(
            key,
            `/O=system:nodes/CN=${fields.cn}`,
            fields.sans ? ["-addext", `subjectAltName=${fields.sans}`] : [],
        );
        fs.rmSync(key);
        const values: Record<string, string> = {
            signer: fields.signer ?? "kubernetes.io/kubelet-serving",
            user: fields.user,
            groups: fields.groups ?? "system:nodes,system:authenticated,",
            usages: fields.usages ?? "digital signature,server auth,",
            conditions: fields.conditions ?? "",
            request: fields.request ?? Buffer.from(request).toString("base64"),
        };
        for (const [field, value] of Object.entries(values)) fs.writeFileSync(path.join(dir, field), value);
    };
    const ownSans = (host: typeof worker1) => `DNS:${host.name},DNS:${fqdn(host.name)},IP:${host.privateIp}`;
    const node = (host: typeof worker1) => ({ cn: `system:node:${host.name}`, user: `system:node:${host.name}` });

    /** Every request that must stay pending, with the reason the script must give. */
    const refused: Record<string, string> = {
        "csr-foreign-ip": `names 10.9.9.9, which is not ${worker1.name}'s`,
        "csr-neighbour-name": `names ${fqdn(worker2.name)}, which is not ${worker1.name}'s`,
        "csr-other-subject": `subject is CN=system:node:${worker2.name},O=system:nodes`,
        "csr-client-usage": "usage 'client auth' is not a server's",
        "csr-no-server-usage": "usages lack server auth",
        "csr-email": `names email:ops@example.com (only DNS names and IP addresses allowed)`,
        // The review's bypass: `openssl req -text` prints the newline, and a line-based check saw only worker-1.
        "csr-newline-in-name": `names a DNS name holding a control, space, comma or non-ASCII byte (hex ${hex(`${worker1.name}\n`)})`,
        "csr-ipv6": "names an IP address that is not IPv4 (hex 20010db8000000000000000000000001)",
        "csr-no-names": "names no DNS name or address",
        "csr-not-in-group": "requester is not in system:nodes",
        "csr-not-base64": "request is not base64",
        "csr-not-pem": "request is not a PEM certificate request",
        "csr-unplanned-node": "requested by system:node:intruder-1, which is not a node of this cluster",
        "csr-service-account": "requested by system:serviceaccount:default:builder, not by a node",
    };
    /** Requests the approver must not even look at: another signer, and ones decided already. */
    const ignored = ["csr-client-signer", "csr-denied"];

    before(() => {
        sandbox.writeHostFile("master-1", nodesFile, fileAt(nodesFile).content);
        sandbox.writeHostFile("master-1", "/etc/kubernetes/admin.conf", "stub admin.conf");
        fs.writeFileSync(path.join(sandbox.state, "apiserver-up"), "");
        addCsr("csr-good", { ...node(worker1), sans: ownSans(worker1) });
        addCsr("csr-good-worker-2", { ...node(worker2), sans: ownSans(worker2) });
        addCsr("csr-foreign-ip", { ...node(worker1), sans: `DNS:${worker1.name},IP:10.9.9.9` });
        addCsr("csr-neighbour-name", { ...node(worker1), sans: `DNS:${worker1.name},DNS:${fqdn(worker2.name)}` });
        addCsr("csr-other-subject", { ...node(worker1), cn: `system:node:${worker2.name}`, sans: ownSans(worker1) });
        addCsr("csr-client-usage", {
            ...node(worker1),
            sans: ownSans(worker1),
            usages: "digital signature,client auth,",
        });
        addCsr("csr-no-server-usage", {
            ...node(worker1),
            sans: ownSans(worker1),
            usages: "digital signature,key encipherment,",
        });
        addCsr("csr-email", { ...node(worker1), sans: `DNS:${worker1.name},email:ops@example.com` });
        addCsr("csr-no-names", node(worker1));
        addCsr("csr-newline-in-name", {
            ...node(worker1),
            sans: `DER:${generalNames([
                [0x82, `${worker1.name}\n`],
                [0x82, "kubernetes.default.svc"],
                [0x87, Buffer.from([10, 96, 0, 1])],
            ])}`,
        });
        addCsr("csr-ipv6", { ...node(worker1), sans: `DNS:${worker1.name},IP:2001:db8::1` });
        addCsr("csr-not-in-group", { ...node(worker1), sans: ownSans(worker1), groups: "system:authenticated," });
        addCsr("csr-not-base64", { ...node(worker1), request: "not base64 at all!" });
        addCsr("csr-not-pem", { ...node(worker1), request: Buffer.from("not a request").toString("base64") });
        addCsr("csr-unplanned-node", { cn: "system:node:intruder-1", user: "system:node:intruder-1", sans: "DNS:x" });
        addCsr("csr-service-account", {
            cn: `system:node:${worker1.name}`,
            user: "system:serviceaccount:default:builder",
            sans: ownSans(worker1),
        });
        addCsr("csr-client-signer", {
            ...node(worker1),
            sans: ownSans(worker1),
            signer: "kubernetes.io/kube-apiserver-client-kubelet",
        });
        addCsr("csr-denied", { ...node(worker1), sans: ownSans(worker1), conditions: "Denied," });
    });
    after(() => sandbox.remove());

    test("a node missing from the nodes file, or no nodes file, is an error before anything else", async () => {
        const unknown = await sandbox.run("master-1", script, { KUBEHA_NODES_FILE: nodesFile, KUBEHA_NODE_NAME: "x" });
        assert.equal(unknown.status, 1);
        assert.match(unknown.stderr, /FAILED: x is not in \/etc\/kubeha\/kubelet-serving-nodes/);
        const missing = await sandbox.run("master-2", script, { KUBEHA_NODES_FILE: nodesFile });
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /FAILED: the nodes file \/etc\/kubeha\/kubelet-serving-nodes is missing/);
        assert.deepEqual(sandbox.takeCalls(), []);
    });

    test("the join-time step, nothing acceptable for its node yet: fails within its budget, says why", async () => {
        const good = path.join(csrDir("csr-good"), "request");
        const request = fs.readFileSync(good, "utf8");
        fs.writeFileSync(good, "not base64 at all!");
        const run = await sandbox.run("master-1", script, {
            KUBEHA_NODES_FILE: nodesFile,
            KUBEHA_NODE_NAME: worker1.name,
            KUBEHA_TIMEOUT: "3",
        });
        fs.writeFileSync(good, request);
        assert.equal(run.status, 1);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
        assert.match(run.stderr, /left csr-good pending: request is not base64/);
        assert.match(run.stderr, /left csr-foreign-ip pending: names 10\.9\.9\.9/);
        assert.doesNotMatch(run.stderr, /csr-good-worker-2|csr-unplanned-node|csr-service-account/, "other nodes'");
        assert.match(run.stderr, /look at: kubectl get csr/);
    });

    test("the join-time step approves exactly its node's good request, once", async () => {
        const { firstCalls } = await sandbox.runTwice("master-1", script, {
            KUBEHA_NODES_FILE: nodesFile,
            KUBEHA_NODE_NAME: worker1.name,
        });
        assert.deepEqual(changes(firstCalls), [
            "master-1: kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=10s certificate approve csr-good",
        ]);
        assert.equal(conditions("csr-good-worker-2"), "", "another node's request waits for its own step");
    });

    test("the timer's pass (the service's own environment): approves every good request, leaves the rest", async () => {
        const environment = unitEnvironment(service.content);
        const { first, firstCalls, second } = await sandbox.runTwice("master-1", script, environment);
        assert.deepEqual(changes(firstCalls), [
            "master-1: kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=10s certificate approve csr-good-worker-2",
        ]);
        assert.match(
            first.stderr,
            new RegExp(`approved csr-good-worker-2 \\(serving certificate of ${worker2.name}\\)`),
        );
        for (const run of [first, second]) {
            for (const [name, reason] of Object.entries(refused)) {
                assert.ok(
                    run.stderr.includes(`left ${name} pending: ${reason}\n`),
                    `${name}: ${reason}\n${run.stderr}`,
                );
            }
            for (const name of ignored) assert.ok(!run.stderr.includes(name), name);
        }
        for (const name of Object.keys(refused)) assert.equal(conditions(name), "", `${name} stays pending`);
        assert.equal(conditions("csr-denied"), "Denied,");
        assert.equal(conditions("csr-client-signer"), "");
    });

    test("the timer's pass fails visibly when the API does not answer", async () => {
        const up = path.join(sandbox.state, "apiserver-up");
        fs.rmSync(up);
        const run = await sandbox.run("master-1", script, unitEnvironment(service.content));
        fs.writeFileSync(up, "");
        assert.equal(run.status, 1);
        assert.match(run.stderr, /FAILED: could not list or approve certificate requests/);
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });
});
