// Test double for @pulumi/tls resources: generates real keys (and certificates) from the
// resource inputs, so openssl and etcd can check what the plan says will land on hosts.
import { createHash, createPublicKey, generateKeyPairSync, KeyObject } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

type Inputs = Record<string, unknown>;

export function tlsDouble(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const make = resources[args.type];
    if (!make) throw new Error(`the tls test double does not implement ${args.type}`);
    return { id: `${args.name}-id`, state: { ...args.inputs, ...make(args.inputs) } };
}

const resources: Record<string, (inputs: Inputs) => Inputs> = {
    "tls:index/privateKey:PrivateKey": (inputs) => privateKeyOutputs(generateKey(inputs)),
};

function generateKey(inputs: Inputs): KeyObject {
    switch (inputs.algorithm) {
        case "RSA":
            return generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) }).privateKey;
        case "ECDSA": {
            const curves: Record<string, string> = {
                P224: "secp224r1",
                P256: "prime256v1",
                P384: "secp384r1",
                P521: "secp521r1",
            };
            const curve = String(inputs.ecdsaCurve ?? "P224");
            return generateKeyPairSync("ec", { namedCurve: curves[curve] }).privateKey;
        }
        case "ED25519":
            return generateKeyPairSync("ed25519").privateKey;
        default:
            throw new Error(`tls:PrivateKey: unsupported algorithm ${String(inputs.algorithm)}`);
    }
}

/** The outputs tls.PrivateKey documents, in the encodings the provider uses. */
function privateKeyOutputs(key: KeyObject): Inputs {
    const type = key.asymmetricKeyType;
    const legacyFormat = type === "rsa" ? "pkcs1" : type === "ec" ? "sec1" : "pkcs8";
    const publicKey = createPublicKey(key);
    const sshPublic = opensshPublicKey(key);
    const sshBlob = Buffer.from(sshPublic.split(" ")[1], "base64");
    return {
        privateKeyPem: key.export({ format: "pem", type: legacyFormat as "pkcs1" | "sec1" | "pkcs8" }),
        privateKeyPemPkcs8: key.export({ format: "pem", type: "pkcs8" }),
        publicKeyPem: publicKey.export({ format: "pem", type: "spki" }),
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
        const curve = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" }[jwk.crv!];
        if (!curve) return "";
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

function uint32(value: number): Buffer {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    return buffer;
}
