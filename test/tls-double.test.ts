// The tls test double on its own: the state it reports matches the certificates it issues, secrets
// stay secret, and it refuses what the real provider refuses.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { createECDH } from "node:crypto";
import { curves, deterministicEcdsaSignature } from "../plan/stable-keys";
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
        // The double starts validity at 00:00 UTC today: 30 hours still covers the rest of the day.
        validityPeriodHours: 30,
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

describe("the same resource and inputs give the same bytes; another name, another key", () => {
    test("keys of every algorithm the program uses", async () => {
        for (const inputs of [
            { algorithm: "ECDSA", ecdsaCurve: "P256" },
            { algorithm: "ECDSA", ecdsaCurve: "P384" },
            { algorithm: "ED25519" },
            { algorithm: "RSA", rsaBits: 2048 },
        ]) {
            const first = await create("privateKey:PrivateKey", "key", inputs);
            const again = await create("privateKey:PrivateKey", "key", inputs);
            const other = await create("privateKey:PrivateKey", "other-key", inputs);
            assert.deepEqual(again.state, first.state, inputs.algorithm);
            assert.notEqual(other.state.privateKeyPem, first.state.privateKeyPem, inputs.algorithm);
        }
    });

    test("certificates, requests and their ECDSA signatures (RFC 6979 nonces)", async () => {
        const make = async () => {
            const key = await create("privateKey:PrivateKey", "ca-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const ca = await create("selfSignedCert:SelfSignedCert", "ca", {
                privateKeyPem: key.state.privateKeyPem,
                subject: { commonName: "ca" },
                isCaCertificate: true,
                allowedUses: ["cert_signing"],
                validityPeriodHours: 48,
            });
            const csr = await create("certRequest:CertRequest", "csr", {
                privateKeyPem: key.state.privateKeyPem,
                subject: { commonName: "leaf" },
            });
            return [ca.id, ca.state.certPem, csr.id, csr.state.certRequestPem];
        };
        assert.deepEqual(await make(), await make());
    });

    test('the ECDSA signer is RFC 6979\'s: its P-256/SHA-256 test vector (A.2.5, message "sample")', () => {
        const signature = deterministicEcdsaSignature(
            "prime256v1",
            0xc9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721n,
            "SHA-256",
            Buffer.from("sample"),
        );
        assert.equal(
            signature.toString("hex"),
            "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716" +
                "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
        );
    });

    test("each curve's order is right: n - 1 times the generator is its negation (same x)", () => {
        for (const [curve, { order }] of Object.entries(curves)) {
            const size = Math.ceil(order.toString(2).length / 8);
            const x = (scalar: bigint) => {
                const ecdh = createECDH(curve);
                ecdh.setPrivateKey(Buffer.from(scalar.toString(16).padStart(size * 2, "0"), "hex"));
                const point = ecdh.getPublicKey();
                return point.subarray(1, 1 + (point.length - 1) / 2).toString("hex");
            };
            assert.equal(x(order - 1n), x(1n), curve);
        }
    });
});
