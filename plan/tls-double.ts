// Test double for @pulumi/tls resources: generates real keys and certificates from the resource
// inputs, the way terraform-provider-tls does (Go crypto/x509), so openssl and etcd can check what
// the plan says will land on hosts. Everything it makes (keys, serial numbers, signatures, validity) is
// derived from the resource's type, name and inputs and the current UTC day, so two plans of the same
// inputs are byte-identical (plan/stable-keys.ts). Its keys are therefore not secret: plans only.
// It also never calls generateKeyPairSync for a key it exports: on Node 20.20 a garbage collection during
// KeyObject.export({ format: "jwk" }) can run the finished key-generation job's destructor, which waits for the
// lock the export holds: the process sleeps forever (gdb: ExportJWKEdKey -> GC -> ~KeyGenJob -> uv_mutex_lock).
// That was the 50-worker plan's intermittent hang: one chance per SSH host key.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, webcrypto } from "node:crypto";
import "./reflect-metadata";
import * as x509 from "@peculiar/x509";
import type * as pulumi from "@pulumi/pulumi";
import { revealed, withSecretOutputs } from "./secret-outputs";
import {
    curves,
    deterministicEcdsaSignature,
    stableBytes,
    stableEcKey,
    stableEd25519Key,
    stableRsaKey,
} from "./stable-keys";

type Inputs = Record<string, unknown>;
type Outputs = { id: string; state: Inputs };
type ResourceArgs = Pick<pulumi.runtime.MockResourceArgs, "type" | "name" | "inputs">;

type CryptoKey = webcrypto.CryptoKey;
type SigningAlgorithm = webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;

/**
 * WebCrypto with ECDSA signing made deterministic (RFC 6979 nonces): WebCrypto draws a random nonce, so the same
 * certificate would get a new signature, and new bytes, on every run. RSA PKCS#1 v1.5 and Ed25519 are deterministic.
 */
const stableSubtle = new Proxy(webcrypto.subtle, {
    get(target, property) {
        if (property === "sign") {
            return async (algorithm: webcrypto.EcdsaParams, key: CryptoKey, data: webcrypto.BufferSource) => {
                if (algorithm.name !== "ECDSA") return target.sign(algorithm, key, data);
                const jwk = await target.exportKey("jwk", key);
                const curve = Object.keys(curves).find((name) => curves[name].jwk === jwk.crv);
                if (!curve || !jwk.d) throw new Error(`the tls test double cannot sign with curve ${jwk.crv}`);
                const hash = typeof algorithm.hash === "string" ? algorithm.hash : algorithm.hash.name;
                const scalar = BigInt(`0x${Buffer.from(jwk.d, "base64url").toString("hex")}`);
                const message = Buffer.from(
                    ArrayBuffer.isView(data)
                        ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
                        : data,
                );
                return new Uint8Array(deterministicEcdsaSignature(curve, scalar, hash, message)).buffer;
            };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
    },
});
x509.cryptoProvider.set({
    subtle: stableSubtle,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
} as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The double as the plan's mocks use it: the provider's answer with its secret outputs marked, as the engine marks them. */
export async function tlsDouble(args: ResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
    const { id, state } = await tlsState(args);
    return { id, state: withSecretOutputs(state, tlsSecretOutputs[args.type] ?? []) };
}

/** What terraform-provider-tls reports for a new resource: its id and state (the inputs and what it generated). */
export async function tlsState(args: ResourceArgs): Promise<Outputs> {
    const make = resources[args.type];
    if (!make) throw new Error(`the tls test double does not implement ${args.type}`);
    const inputs = revealed(args.inputs) as Inputs;
    // Everything the resource draws comes from this seed: the same resource and inputs, the same result.
    const seed = `${args.type}\n${args.name}\n${JSON.stringify(inputs)}`;
    const { id, state } = await make(inputs, args.name, seed);
    return { id, state: { ...args.inputs, ...state } };
}

const resources: Record<string, (inputs: Inputs, name: string, seed: string) => Outputs | Promise<Outputs>> = {
    "tls:index/privateKey:PrivateKey": (inputs, name, seed) => ({
        id: `${name}-id`,
        state: privateKeyOutputs(generateKey(inputs, seed), seed),
    }),
    "tls:index/selfSignedCert:SelfSignedCert": selfSignedCert,
    "tls:index/certRequest:CertRequest": certRequest,
    "tls:index/locallySignedCert:LocallySignedCert": locallySignedCert,
};

/** The outputs the SDK declares secret (additionalSecretOutputs), by resource type. */
export const tlsSecretOutputs: Record<string, readonly string[]> = {
    "tls:index/privateKey:PrivateKey": ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"],
    "tls:index/selfSignedCert:SelfSignedCert": ["privateKeyPem"],
    "tls:index/certRequest:CertRequest": ["privateKeyPem"],
    "tls:index/locallySignedCert:LocallySignedCert": ["caPrivateKeyPem"],
};

function generateKey(inputs: Inputs, seed: string): KeyObject {
    switch (inputs.algorithm) {
        case "RSA":
            return stableRsaKey(Number(inputs.rsaBits ?? 2048), seed);
        case "ECDSA": {
            const curveNames: Record<string, string> = {
                P224: "secp224r1",
                P256: "prime256v1",
                P384: "secp384r1",
                P521: "secp521r1",
            };
            const curve = String(inputs.ecdsaCurve ?? "P224");
            // P-224, the provider's default, is drawn at random: Node imports no P-224 key from its parts, the program
            // never uses the curve, and the double refuses to sign with it (so such a plan fails anyway).
            if (curve === "P224") return generateKeyPairSync("ec", { namedCurve: curveNames[curve] }).privateKey;
            return stableEcKey(curveNames[curve], seed);
        }
        case "ED25519":
            return stableEd25519Key(seed);
        default:
            throw new Error(`tls:PrivateKey: unsupported algorithm ${String(inputs.algorithm)}`);
    }
}

/** The outputs tls.PrivateKey documents, in the encodings the provider uses. */
function privateKeyOutputs(key: KeyObject, seed: string): Inputs {
    const type = key.asymmetricKeyType;
    const legacyFormat = type === "rsa" ? "pkcs1" : type === "ec" ? "sec1" : "pkcs8";
    const publicKey = createPublicKey(key);
    const sshPublic = opensshPublicKey(key);
    const pem = {
        privateKeyPem: key.export({ format: "pem", type: legacyFormat as "pkcs1" | "sec1" | "pkcs8" }),
        privateKeyPemPkcs8: key.export({ format: "pem", type: "pkcs8" }),
        publicKeyPem: publicKey.export({ format: "pem", type: "spki" }),
    };
    // OpenSSH has no P-224: the provider leaves the OpenSSH encodings empty.
    if (!sshPublic)
        return { ...pem, publicKeyOpenssh: "", publicKeyFingerprintSha256: "", publicKeyFingerprintMd5: "" };
    const sshBlob = Buffer.from(sshPublic.split(" ")[1], "base64");
    return {
        ...pem,
        ...(type === "ed25519" ? { privateKeyOpenssh: opensshEd25519PrivateKey(key, sshBlob, seed) } : {}),
        publicKeyOpenssh: `${sshPublic}\n`,
        publicKeyFingerprintSha256: `SHA256:${createHash("sha256").update(sshBlob).digest("base64").replace(/=+$/, "")}`,
        publicKeyFingerprintMd5: createHash("md5")
            .update(sshBlob)
            .digest("hex")
            .replace(/(..)(?!$)/g, "$1:"),
    };
}

/** OpenSSH wire format (RFC 4253 6.6): strings and mpints, each prefixed with a 32-bit length. */
function opensshPublicKey(key: KeyObject): string {
    const sshCurves: Record<string, string> = { prime256v1: "nistp256", secp384r1: "nistp384", secp521r1: "nistp521" };
    if (key.asymmetricKeyType === "ec" && !sshCurves[key.asymmetricKeyDetails?.namedCurve ?? ""]) return "";
    const jwk = key.export({ format: "jwk" });
    const field = (data: Buffer) => Buffer.concat([uint32(data.length), data]);
    const text = (value: string) => field(Buffer.from(value));
    const mpint = (base64url: string) => {
        const bytes = Buffer.from(base64url, "base64url");
        return field(bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
    };
    let blob: Buffer;
    let name: string;
    if (jwk.kty === "RSA") {
        name = "ssh-rsa";
        blob = Buffer.concat([text(name), mpint(jwk.e!), mpint(jwk.n!)]);
    } else if (jwk.kty === "EC") {
        const curve = sshCurves[key.asymmetricKeyDetails!.namedCurve!];
        name = `ecdsa-sha2-${curve}`;
        const point = Buffer.concat([
            Buffer.from([4]),
            Buffer.from(jwk.x!, "base64url"),
            Buffer.from(jwk.y!, "base64url"),
        ]);
        blob = Buffer.concat([text(name), text(curve), field(point)]);
    } else {
        name = "ssh-ed25519";
        blob = Buffer.concat([text(name), field(Buffer.from(jwk.x!, "base64url"))]);
    }
    return `${name} ${blob.toString("base64")}`;
}

/**
 * An Ed25519 key in OpenSSH's own private key format (PROTOCOL.key in OpenSSH: "openssh-key-v1", unencrypted), the
 * one key type whose privateKeyOpenssh the program reads (SSH host keys); the provider fills it for every type.
 */
function opensshEd25519PrivateKey(key: KeyObject, publicBlob: Buffer, resourceSeed: string): string {
    const field = (data: Buffer) => Buffer.concat([uint32(data.length), data]);
    const text = (value: string) => field(Buffer.from(value));
    const jwk = key.export({ format: "jwk" });
    const seed = Buffer.from(jwk.d!, "base64url");
    const publicKey = Buffer.from(jwk.x!, "base64url");
    // The provider's check bytes are random: here from the resource's seed.
    const check = stableBytes(`${resourceSeed}\ncheck`, 4);
    let secret = Buffer.concat([
        check,
        check,
        text("ssh-ed25519"),
        field(publicKey),
        field(Buffer.concat([seed, publicKey])),
        text(""),
    ]);
    const padding = (8 - (secret.length % 8)) % 8;
    secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0"),
        text("none"),
        text("none"),
        text(""),
        uint32(1),
        field(publicBlob),
        field(secret),
    ]).toString("base64");
    const lines = body.match(/.{1,70}/g) ?? [];
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function uint32(value: number): Buffer {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    return buffer;
}

// --- Certificates --------------------------------------------------------------------------

/** allowedUses values (terraform-provider-tls spells them snake_case) as key usage bits or EKU OIDs. */
const keyUsages: Record<string, x509.KeyUsageFlags> = {
    digital_signature: x509.KeyUsageFlags.digitalSignature,
    content_commitment: x509.KeyUsageFlags.nonRepudiation,
    key_encipherment: x509.KeyUsageFlags.keyEncipherment,
    data_encipherment: x509.KeyUsageFlags.dataEncipherment,
    key_agreement: x509.KeyUsageFlags.keyAgreement,
    cert_signing: x509.KeyUsageFlags.keyCertSign,
    crl_signing: x509.KeyUsageFlags.cRLSign,
    encipher_only: x509.KeyUsageFlags.encipherOnly,
    decipher_only: x509.KeyUsageFlags.decipherOnly,
};
const extendedKeyUsages: Record<string, string> = {
    any_extended: "2.5.29.37.0",
    server_auth: "1.3.6.1.5.5.7.3.1",
    client_auth: "1.3.6.1.5.5.7.3.2",
    code_signing: "1.3.6.1.5.5.7.3.3",
    email_protection: "1.3.6.1.5.5.7.3.4",
    ipsec_end_system: "1.3.6.1.5.5.7.3.5",
    ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
    ipsec_user: "1.3.6.1.5.5.7.3.7",
    timestamping: "1.3.6.1.5.5.7.3.8",
    ocsp_signing: "1.3.6.1.5.5.7.3.9",
    microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
    netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
    microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
    microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
};

/** Subject fields in the order Go's pkix.Name encodes them, with their attribute OIDs. */
const subjectFields: [string, string][] = [
    ["country", "2.5.4.6"],
    ["province", "2.5.4.8"],
    ["locality", "2.5.4.7"],
    ["streetAddresses", "2.5.4.9"],
    ["postalCode", "2.5.4.17"],
    ["organization", "2.5.4.10"],
    ["organizationalUnit", "2.5.4.11"],
    ["commonName", "2.5.4.3"],
    ["serialNumber", "2.5.4.5"],
];

async function selfSignedCert(inputs: Inputs, _name: string, seed: string): Promise<Outputs> {
    const key = await signingKey(String(inputs.privateKeyPem));
    const name = subjectName(inputs.subject);
    if (inputs.isCaCertificate && name.length === 0) {
        throw new Error("tls:SelfSignedCert: a CA certificate needs a subject");
    }
    const { id, state } = await issue(inputs, seed, {
        subject: name,
        issuer: name,
        publicKey: key.publicKey,
        signer: key,
        authorityKeyId: inputs.setAuthorityKeyId ? "own" : undefined,
        alternativeNames: alternativeNames(inputs, name.length === 0),
    });
    return {
        id,
        state: { ...certificateDefaults(inputs, "self-signed"), ...state, keyAlgorithm: key.algorithm },
    };
}

async function certRequest(inputs: Inputs, _name: string, _seed: string): Promise<Outputs> {
    const key = await signingKey(String(inputs.privateKeyPem));
    const name = subjectName(inputs.subject);
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
        name,
        keys: { privateKey: key.privateKey, publicKey: key.publicKey },
        signingAlgorithm: key.signingAlgorithm,
        extensions: alternativeNames(inputs, false),
    });
    const certRequestPem = pem(request);
    return {
        id: createHash("sha1").update(Buffer.from(request.rawData)).digest("hex"),
        state: { keyAlgorithm: key.algorithm, certRequestPem },
    };
}

async function locallySignedCert(inputs: Inputs, _name: string, seed: string): Promise<Outputs> {
    const request = new x509.Pkcs10CertificateRequest(String(inputs.certRequestPem));
    if (!(await request.verify())) {
        throw new Error("tls:LocallySignedCert: the certificate request's signature is invalid");
    }
    const ca = new x509.X509Certificate(String(inputs.caCertPem));
    const caKey = await signingKey(String(inputs.caPrivateKeyPem));
    if (!(await sameKey(ca, caKey.publicKey))) {
        throw new Error("tls:LocallySignedCert: caPrivateKeyPem does not belong to caCertPem");
    }
    const requested = extension(request.extensions, x509.SubjectAlternativeNameExtension);
    const { id, state } = await issue(inputs, seed, {
        subject: request.subjectName,
        issuer: ca.subjectName,
        publicKey: await request.publicKey.export(),
        signer: caKey,
        // Go's x509.CreateCertificate takes the authority key id from the signer's subject key id.
        authorityKeyId: extension(ca.extensions, x509.SubjectKeyIdentifierExtension)?.keyId,
        alternativeNames: requested ? [requested] : [],
    });
    return {
        id,
        state: { ...certificateDefaults(inputs, "locally-signed"), ...state, caKeyAlgorithm: caKey.algorithm },
    };
}

interface Issuance {
    readonly subject: x509.JsonName | x509.Name;
    readonly issuer: x509.JsonName | x509.Name;
    readonly publicKey: CryptoKey;
    readonly signer: SigningKey;
    /** The issuer's key id, "own" for a self-signed certificate that names itself, or none. */
    readonly authorityKeyId?: string;
    readonly alternativeNames: x509.Extension[];
}

/** A certificate as Go's x509.CreateCertificate makes it from the provider's template. */
async function issue(inputs: Inputs, seed: string, issuance: Issuance): Promise<Outputs> {
    const isCa = Boolean(inputs.isCaCertificate);
    const subjectKeyId =
        isCa || inputs.setSubjectKeyId
            ? await x509.SubjectKeyIdentifierExtension.create(issuance.publicKey)
            : undefined;
    const authorityKeyId = issuance.authorityKeyId === "own" ? subjectKeyId?.keyId : issuance.authorityKeyId;
    const validity = validityWindow(inputs);
    const serial = serialNumber(seed);
    const certificate = await x509.X509CertificateGenerator.create({
        serialNumber: serial.hex,
        subject: issuance.subject,
        issuer: issuance.issuer,
        notBefore: validity.notBefore,
        notAfter: validity.notAfter,
        publicKey: issuance.publicKey,
        signingKey: issuance.signer.privateKey,
        signingAlgorithm: issuance.signer.signingAlgorithm,
        extensions: [
            ...usageExtensions(inputs),
            new x509.BasicConstraintsExtension(isCa, pathLength(inputs), true),
            ...(subjectKeyId ? [subjectKeyId] : []),
            ...(authorityKeyId ? [new x509.AuthorityKeyIdentifierExtension(authorityKeyId)] : []),
            ...issuance.alternativeNames,
        ],
    });
    return { id: serial.decimal, state: { ...validity.state, certPem: pem(certificate) } };
}

/** Outputs the SDK declares as always present: the inputs given, else the provider's defaults. */
function certificateDefaults(inputs: Inputs, type: "self-signed" | "locally-signed"): Inputs {
    const defaults: Inputs = {
        earlyRenewalHours: 0,
        isCaCertificate: false,
        maxPathLength: 0,
        setSubjectKeyId: false,
        ...(type === "self-signed" ? { setAuthorityKeyId: false } : {}),
    };
    return {
        ...Object.fromEntries(Object.entries(defaults).filter(([key]) => inputs[key] === undefined)),
        readyForRenewal: false,
    };
}

interface SigningKey {
    /** "RSA" or "ECDSA", as the provider reports keyAlgorithm. */
    readonly algorithm: string;
    readonly privateKey: CryptoKey;
    readonly publicKey: CryptoKey;
    readonly signingAlgorithm: SigningAlgorithm;
}

/** A PEM private key (PKCS#1, SEC1 or PKCS#8) as WebCrypto keys, with the signature Go would use for it. */
async function signingKey(privateKeyPem: string): Promise<SigningKey> {
    const key = createPrivateKey(privateKeyPem);
    const spki = createPublicKey(key).export({ format: "der", type: "spki" });
    const pkcs8 = key.export({ format: "der", type: "pkcs8" });
    let algorithm: string;
    let importAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
    let signingAlgorithm: SigningAlgorithm;
    if (key.asymmetricKeyType === "rsa") {
        algorithm = "RSA";
        importAlgorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
        signingAlgorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    } else if (key.asymmetricKeyType === "ec") {
        const curve = key.asymmetricKeyDetails?.namedCurve;
        const webCurves: Record<string, [string, string]> = {
            prime256v1: ["P-256", "SHA-256"],
            secp384r1: ["P-384", "SHA-384"],
            secp521r1: ["P-521", "SHA-512"],
        };
        if (!curve || !webCurves[curve]) throw new Error(`the tls test double cannot sign with curve ${curve}`);
        algorithm = "ECDSA";
        importAlgorithm = { name: "ECDSA", namedCurve: webCurves[curve][0] };
        signingAlgorithm = { name: "ECDSA", hash: webCurves[curve][1] };
    } else {
        throw new Error(`the tls test double cannot sign with ${key.asymmetricKeyType} keys`);
    }
    const subtle = webcrypto.subtle;
    return {
        algorithm,
        signingAlgorithm,
        // Extractable: the deterministic ECDSA signer reads the scalar (stableSubtle).
        privateKey: await subtle.importKey("pkcs8", pkcs8, importAlgorithm, true, ["sign"]),
        publicKey: await subtle.importKey("spki", spki, importAlgorithm, true, ["verify"]),
    };
}

async function sameKey(certificate: x509.X509Certificate, publicKey: CryptoKey): Promise<boolean> {
    const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", publicKey));
    return spki.equals(Buffer.from(certificate.publicKey.rawData));
}

/** The extension of one kind, parsed (peculiar parses only the kinds its factory knows). */
function extension<T extends x509.Extension>(
    extensions: x509.Extension[],
    kind: abstract new (...args: never[]) => T,
): T | undefined {
    return extensions.find((item): item is T => item instanceof kind);
}

function subjectName(subject: unknown): x509.JsonName {
    const fields = (subject ?? {}) as Record<string, unknown>;
    return subjectFields.flatMap(([field, oid]) => {
        const value = fields[field];
        if (value === undefined || value === null || value === "") return [];
        return (Array.isArray(value) ? value : [value]).map((item) => ({ [oid]: [String(item)] }));
    });
}

/** Key usage (critical, as Go marks it) and extended key usage from allowedUses. */
function usageExtensions(inputs: Inputs): x509.Extension[] {
    const uses = (inputs.allowedUses ?? []) as string[];
    const unknown = uses.filter((use) => keyUsages[use] === undefined && extendedKeyUsages[use] === undefined);
    if (unknown.length > 0) {
        throw new Error(
            `allowedUses: ${unknown.join(", ")} not accepted by the tls provider (it spells them snake_case)`,
        );
    }
    const bits = uses.reduce((flags, use) => flags | (keyUsages[use] ?? 0), 0);
    const ekus = uses.filter((use) => extendedKeyUsages[use]).map((use) => extendedKeyUsages[use]);
    return [
        ...(bits ? [new x509.KeyUsagesExtension(bits, true)] : []),
        ...(ekus.length > 0 ? [new x509.ExtendedKeyUsageExtension(ekus)] : []),
    ];
}

/** Subject alternative names; critical only when the subject is empty (RFC 5280 4.2.1.6). */
function alternativeNames(inputs: Inputs, emptySubject: boolean): x509.Extension[] {
    const names: x509.JsonGeneralName[] = [
        ...((inputs.dnsNames ?? []) as string[]).map((value) => ({ type: "dns" as const, value })),
        ...((inputs.ipAddresses ?? []) as string[]).map((value) => ({ type: "ip" as const, value })),
        ...((inputs.uris ?? []) as string[]).map((value) => ({ type: "url" as const, value })),
    ];
    return names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, emptySubject)] : [];
}

function pathLength(inputs: Inputs): number | undefined {
    const length = Number(inputs.maxPathLength ?? 0);
    return inputs.isCaCertificate && length > 0 ? length : undefined;
}

/**
 * From the start of the current UTC day for validityPeriodHours (the provider starts at the time of creation): the
 * same all day, so plans of one day agree, and never in the future, so real components accept the certificates.
 */
function validityWindow(inputs: Inputs): { notBefore: Date; notAfter: Date; state: Inputs } {
    const notBefore = new Date(Math.floor(Date.now() / 86400_000) * 86400_000);
    const notAfter = new Date(notBefore.getTime() + Number(inputs.validityPeriodHours) * 3600_000);
    const rfc3339 = (date: Date) => date.toISOString().replace(".000Z", "Z");
    return {
        notBefore,
        notAfter,
        state: { validityStartTime: rfc3339(notBefore), validityEndTime: rfc3339(notAfter) },
    };
}

/** A positive 128-bit serial number, as the provider draws it at random, here from the seed (its decimal form is the resource id). */
function serialNumber(seed: string): { hex: string; decimal: string } {
    const bytes = stableBytes(`${seed}\nserial`, 16);
    // Positive, and a first byte of 0 would make the DER integer non-minimal.
    bytes[0] = bytes[0] & 0x7f || 1;
    const hex = bytes.toString("hex");
    return { hex, decimal: BigInt(`0x${hex}`).toString() };
}

/** PEM with the trailing newline Go's pem.Encode writes. */
function pem(data: x509.X509Certificate | x509.Pkcs10CertificateRequest): string {
    return `${data.toString("pem").replace(/\r\n/g, "\n").trimEnd()}\n`;
}
