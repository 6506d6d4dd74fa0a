// The tls test double on its own: the state it reports matches the certificates it issues, secrets
// stay secret, and it refuses what the real provider refuses.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { tlsDouble } from "../plan/tls-double";
import { certificateInfo, openssl, verifies } from "./support/pki-checks";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-tls-double-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function create(type: string, name: string, inputs: Record<string, unknown>) {
    const { id, state } = await tlsDouble({ type: `tls:index/${type}`, name, inputs });
    const resolved: Record<string, unknown> = {};
    const secrets: string[] = [];
    for (const [key, item] of Object.entries(state)) {
        if (pulumi.Output.isInstance(item)) {
            if (await pulumi.isSecret(item)) secrets.push(key);
            resolved[key] = await new Promise((resolve) => item.apply(resolve));
        } else resolved[key] = item;
    }
    return { id, state: resolved, secrets };
}

function file(name: string, content: unknown): string {
    fs.writeFileSync(path.join(dir, name), String(content));
    return path.join(dir, name);
}

describe("a CA and a certificate it signs", async () => {
    const caKey = await create("privateKey:PrivateKey", "ca-key", { algorithm: "RSA", rsaBits: 2048 });
    const ca = await create("selfSignedCert:SelfSignedCert", "ca", {
        privateKeyPem: caKey.state.privateKeyPem,
        subject: { commonName: "test-ca", organization: "kubeha" },
        isCaCertificate: true,
        allowedUses: ["cert_signing", "digital_signature"],
        validityPeriodHours: 100,
    });
    const key = await create("privateKey:PrivateKey", "key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
    const request = await create("certRequest:CertRequest", "csr", {
        privateKeyPem: key.state.privateKeyPem,
        subject: { commonName: "leaf" },
        dnsNames: ["leaf.test"],
        ipAddresses: ["10.0.0.1"],
    });
    const leaf = await create("locallySignedCert:LocallySignedCert", "leaf", {
        certRequestPem: request.state.certRequestPem,
        caCertPem: ca.state.certPem,
        caPrivateKeyPem: caKey.state.privateKeyPem,
        allowedUses: ["digital_signature", "server_auth"],
        validityPeriodHours: 10,
        earlyRenewalHours: 2,
    });
    const caFile = file("ca.crt", ca.state.certPem);
    const leafFile = file("leaf.crt", leaf.state.certPem);

    test("the leaf verifies against the CA, with the requested names and usages", () => {
        assert.ok(verifies(caFile, leafFile, "sslserver"));
        const info = certificateInfo(leafFile);
        assert.deepEqual(info.names, { dns: ["leaf.test"], ip: ["10.0.0.1"] });
        assert.deepEqual(info.extendedKeyUsage, ["TLS Web Server Authentication"]);
        assert.deepEqual(certificateInfo(caFile).subject, { CN: "test-ca", O: "kubeha" });
    });

    test("the reported state is the certificate's: validity window, serial, renewal settings", () => {
        const info = certificateInfo(leafFile);
        assert.equal(Date.parse(String(leaf.state.validityStartTime)), info.notBefore.getTime());
        assert.equal(Date.parse(String(leaf.state.validityEndTime)), info.notAfter.getTime());
        const serial = openssl(["x509", "-in", leafFile, "-noout", "-serial"]).trim().split("=")[1];
        assert.equal(leaf.id, BigInt(`0x${serial}`).toString());
        assert.equal(leaf.state.earlyRenewalHours, 2);
        assert.equal(leaf.state.readyForRenewal, false);
        assert.equal(leaf.state.caKeyAlgorithm, "RSA");
        assert.equal(ca.state.earlyRenewalHours, 0);
    });

    test("the leaf's authority key id is the CA's subject key id", () => {
        const keyId = (certificate: string, extension: string) =>
            openssl(["x509", "-in", certificate, "-noout", "-ext", extension]).split("\n")[1].trim();
        assert.equal(keyId(leafFile, "authorityKeyIdentifier"), keyId(caFile, "subjectKeyIdentifier"));
    });

    test("private keys are secrets in the state, as the engine keeps them", () => {
        assert.deepEqual(key.secrets.sort(), ["privateKeyPem", "privateKeyPemPkcs8"]);
        assert.deepEqual(request.secrets, ["privateKeyPem"]);
        assert.deepEqual(leaf.secrets, ["caPrivateKeyPem"]);
    });

    test("usages spelled as in the SDK's doc comments (camelCase) are refused, as the provider does", async () => {
        await assert.rejects(
            create("locallySignedCert:LocallySignedCert", "camel", {
                certRequestPem: request.state.certRequestPem,
                caCertPem: ca.state.certPem,
                caPrivateKeyPem: caKey.state.privateKeyPem,
                allowedUses: ["digitalSignature", "serverAuth"],
                validityPeriodHours: 10,
            }),
            /digitalSignature, serverAuth/,
        );
    });

    test("a certificate for tls's P-224 default key cannot be made", async () => {
        const weak = await create("privateKey:PrivateKey", "weak", { algorithm: "ECDSA" });
        await assert.rejects(
            create("certRequest:CertRequest", "weak-csr", { privateKeyPem: weak.state.privateKeyPem }),
            /secp224r1/,
        );
    });
});
