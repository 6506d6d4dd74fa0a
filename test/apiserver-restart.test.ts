// Re-issued certificates reach the running kube-apiservers: in the plan, one restart step per master,
// chained master after master, running nothing on creation and run only by the content of the certificates
// the apiserver reads (etcd's steps do not see them); on a host, scripts/restart-apiserver.sh checks that the
// files on disk are the ones issued, restarts only an apiserver that started before they were written, and
// waits until it is ready (crictl and kubectl stand-ins).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { digestOf } from "../components/host-files";
import { bundleInStdin, decodeBundle } from "../render/file-bundle";
import { apiserverCertificates } from "../render/pki-files";
import { steps } from "../render/steps";
import { plan } from "./support/plan";
import { changes, StepSandbox } from "./support/step-sandbox";

describe("the plan: apiserver restarts one master after another, on certificate content only, never on creation", () => {
    const shown = plan({ stack: "dev", showSecrets: true });
    const masters = ["master-1", "master-2", "master-3"];
    const restart = (master: string) => shown.named(`${master}-${steps["apiserver-restart"].name}`);

    test("each master's restart waits for its own join and the previous master's restart", () => {
        for (const [i, master] of masters.entries()) {
            const dependencies = restart(master).dependencies;
            assert.ok(dependencies.includes(i === 0 ? "master-1-init" : `${master}-join`), master);
            if (i > 0) assert.ok(dependencies.includes(`${masters[i - 1]}-apiserver-restart`), master);
            assert.ok(dependencies.includes(`${master}-files`), `${master}: after the new files are installed`);
        }
        assert.ok(!restart("master-1").dependencies.some((name) => name.endsWith("-apiserver-restart")));
    });

    test("it runs only as an update, on the digest of exactly the certificates the apiserver reads, as installed", () => {
        for (const master of masters) {
            const inputs = restart(master).inputs;
            assert.equal(inputs.create, undefined, `${master}: nothing runs on creation`);
            assert.match(String(inputs.update), /restart-apiserver\.sh$/, master);
            // Only a replaced host replaces the step (and then runs nothing: its apiserver starts after its files).
            assert.deepEqual(inputs.triggers, [`${master}-id`], master);
            const delivered = decodeBundle(bundleInStdin(shown.named(`${master}-files`).inputs.stdin as string));
            const certificates = delivered
                .filter((file) => (apiserverCertificates as readonly string[]).includes(file.path))
                .sort((a, b) => a.path.localeCompare(b.path));
            assert.equal(certificates.length, apiserverCertificates.length, master);
            const environment = inputs.environment as Record<string, string>;
            assert.equal(environment.KUBEHA_APISERVER_CERTS_DIGEST, digestOf(certificates), master);
            assert.equal(environment.KUBEHA_APISERVER_CERTS, certificates.map((file) => file.path).join(","), master);
        }
    });

    test("etcd's steps are keyed to no certificate: a renewal does not restart etcd", () => {
        const digest = (restart("master-1").inputs.environment as Record<string, string>).KUBEHA_APISERVER_CERTS_DIGEST;
        for (const master of masters) {
            const etcd = shown.named(`${master}-etcd`).inputs;
            assert.ok(!JSON.stringify([etcd.triggers, etcd.environment]).includes(digest), master);
        }
    });
});

describe("restart-apiserver.sh on a master", () => {
    const sandbox = new StepSandbox("apiserver-restart");
    after(() => sandbox.remove());
    const script = steps["apiserver-restart"].script;
    const certificateText = (file: string) => `certificate ${file}\n`;
    const variables = {
        KUBEHA_APISERVER_CERTS: apiserverCertificates.join(","),
        KUBEHA_APISERVER_CERTS_DIGEST: digestOf(
            apiserverCertificates.map((file) => ({ path: file, content: certificateText(file) })),
        ),
        KUBEHA_TIMEOUT: "30",
    };
    const container = (host: string, file: string) => path.join(sandbox.state, host, "apiserver", file);
    /** The host's kube-apiserver container: its id and when it started. */
    const runningApiserver = (host: string, id: string, started: Date) => {
        fs.mkdirSync(path.dirname(container(host, "id")), { recursive: true });
        fs.writeFileSync(container(host, "id"), `${id}\n`);
        fs.writeFileSync(container(host, "started"), `${started.toISOString()}\n`);
    };
    const installCertificates = (host: string) => {
        sandbox.writeHostFile(host, "/etc/kubernetes/admin.conf", "stub admin.conf");
        for (const file of apiserverCertificates) sandbox.writeHostFile(host, file, certificateText(file));
    };
    fs.writeFileSync(path.join(sandbox.state, "apiserver-up"), "");

    test("renewed certificates: stops the old container once, waits for the new one to be ready", async () => {
        installCertificates("master-1");
        runningApiserver("master-1", "c0ffee", new Date(Date.now() - 3600_000));
        fs.writeFileSync(path.join(sandbox.state, "master-1", "readyz-failures"), "2");
        const { first, firstCalls, second } = await sandbox.runTwice("master-1", script, variables);
        assert.deepEqual(changes(firstCalls), ["master-1: crictl stop --timeout 30 c0ffee"]);
        assert.match(first.stderr, /container c0ffee started before its certificates were renewed/);
        assert.match(first.stderr, /waiting for this master's kube-apiserver to be ready \(attempt 2 failed/);
        assert.notEqual(fs.readFileSync(container("master-1", "id"), "utf8").trim(), "c0ffee");
        assert.match(second.stderr, /started after its certificates were last written: no restart/);
    });

    test("an apiserver that started after its certificates were written is left running", async () => {
        installCertificates("master-2");
        runningApiserver("master-2", "beef", new Date(Date.now() + 2000));
        const { firstCalls } = await sandbox.runTwice("master-2", script, variables);
        assert.deepEqual(changes(firstCalls), []);
        assert.ok(
            firstCalls.some((call) => /--server=https:\/\/127\.0\.0\.1:6443 .*get --raw=\/readyz/.test(call.command)),
        );
    });

    test("no running apiserver, or a missing certificate: fails within its budget and says where to look", async () => {
        installCertificates("master-3");
        const none = await sandbox.run("master-3", script, { ...variables, KUBEHA_TIMEOUT: "2" });
        assert.equal(none.status, 1);
        assert.match(none.stderr, /FAILED: this master runs no kube-apiserver container/);
        assert.match(none.stderr, /look at: crictl ps -a --name kube-apiserver/);
        fs.rmSync(sandbox.hostPath("master-3", apiserverCertificates[3]));
        const missing = await sandbox.run("master-3", script, variables);
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, new RegExp(`FAILED: ${apiserverCertificates[3]} is missing`));
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });

    test("certificates on disk other than the ones issued: refuses before touching the apiserver", async () => {
        installCertificates("master-3");
        sandbox.writeHostFile("master-3", apiserverCertificates[0], "an older CA certificate\n");
        runningApiserver("master-3", "f00d", new Date(Date.now() - 3600_000));
        const stale = await sandbox.run("master-3", script, variables);
        assert.equal(stale.status, 1);
        assert.match(
            stale.stderr,
            /FAILED: the certificates on this master \(sha256 [0-9a-f]{64}\) are not the ones issued/,
        );
        assert.deepEqual(changes(sandbox.takeCalls()), []);
    });
});
