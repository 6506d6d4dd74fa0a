// scripts/wait-for-api.mjs (step api-ready) against a real HTTPS server on loopback: it waits, with
// back-off, until /readyz answers 200 over TLS verified with the cluster CA, and gives up in time.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";

const script = path.resolve(__dirname, "../scripts/wait-for-api.mjs");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-api-"));
const pem = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");

let server: https.Server;
let notReadyFor = 0;
let requests = 0;

before(async () => {
    for (const name of ["ca", "other-ca"]) {
        execFileSync("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-keyout", path.join(dir, `${name}.key`), "-out", path.join(dir, `${name}.crt`), "-subj", `/CN=${name}`,
        ]); // prettier-ignore
    }
    execFileSync("openssl", [
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path.join(dir, "api.key"), "-out", path.join(dir, "api.csr"), "-subj", "/CN=kube-apiserver",
    ]); // prettier-ignore
    fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    execFileSync("openssl", [
        "x509", "-req", "-in", path.join(dir, "api.csr"), "-CA", path.join(dir, "ca.crt"),
        "-CAkey", path.join(dir, "ca.key"), "-CAcreateserial", "-days", "1",
        "-extfile", path.join(dir, "san.ext"), "-out", path.join(dir, "api.crt"),
    ]); // prettier-ignore
    server = https.createServer({ key: pem("api.key"), cert: pem("api.crt") }, (request, response) => {
        requests++;
        const ready = request.url === "/readyz" && notReadyFor-- <= 0;
        response.writeHead(ready ? 200 : 503).end(ready ? "ok" : "not ready");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

function run(environment: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? "", ...environment } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (data) => (stdout += data));
        child.stderr.on("data", (data) => (stderr += data));
        child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
    });
}

const url = () => `https://localhost:${(server.address() as AddressInfo).port}`;

test("waits through 503s with back-off, then succeeds once /readyz answers 200", async () => {
    notReadyFor = 2;
    requests = 0;
    const result = await run({ KUBEHA_API_URL: url(), KUBEHA_CA_CERT: pem("ca.crt"), KUBEHA_TIMEOUT: "30" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(requests, 3);
    assert.match(result.stderr, /HTTP 503; next attempt in 1s/);
    assert.match(result.stderr, /HTTP 503; next attempt in 2s/);
    assert.match(result.stdout, /is ready \(attempt 3\)/);
});

test("refuses a server whose certificate the cluster CA did not sign, and gives up in time", async () => {
    notReadyFor = 0;
    const started = Date.now();
    const result = await run({ KUBEHA_API_URL: url(), KUBEHA_CA_CERT: pem("other-ca.crt"), KUBEHA_TIMEOUT: "4" });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /FAILED: .* did not answer 200 within 4s: .*certificate/);
    assert.match(result.stderr, /allowedCidrs\.api/);
    assert.ok(Date.now() - started < 10_000, "bounded by KUBEHA_TIMEOUT");
});

test("names what is missing", async () => {
    const result = await run({ KUBEHA_API_URL: url() });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /KUBEHA_API_URL and KUBEHA_CA_CERT are required/);
});
