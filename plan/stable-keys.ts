// Keys and signatures for the plan's tls double, derived from a seed (the resource's type, name and inputs), so
// that two plans of the same inputs are byte-identical and `diff -r` shows only what a change does. Plan keys are
// not secret (anyone can derive them from the plan's inputs) and are never used: a real `pulumi up` gets its keys
// from the tls provider. Node's crypto does the heavy work (prime tests, scalar multiplication); only the
// choice of secrets is made here.
import { checkPrimeSync, createECDH, createHash, createHmac, createPrivateKey, KeyObject } from "node:crypto";

/** length bytes of SHA-256 in counter mode over the seed. */
export function stableBytes(seed: string, length: number): Buffer {
    const blocks: Buffer[] = [];
    for (let i = 0; blocks.length * 32 < length; i++) {
        blocks.push(createHash("sha256").update(`${i}\n${seed}`).digest());
    }
    return Buffer.concat(blocks).subarray(0, length);
}

/** An endless stream of seeded bytes, read in order. */
function byteStream(seed: string): (length: number) => Buffer {
    let counter = 0;
    return (length) => stableBytes(`${seed}\n${counter++}`, length);
}

const toBigInt = (bytes: Buffer) => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString("hex")}`));
const toBytes = (value: bigint, length: number) => Buffer.from(value.toString(16).padStart(length * 2, "0"), "hex");
const base64url = (value: bigint) => {
    const hex = value.toString(16);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
};
const bitLength = (value: bigint) => value.toString(2).length;

function modInverse(value: bigint, modulus: bigint): bigint {
    let [oldR, r] = [((value % modulus) + modulus) % modulus, modulus];
    let [oldS, s] = [1n, 0n];
    while (r !== 0n) {
        const q = oldR / r;
        [oldR, r] = [r, oldR - q * r];
        [oldS, s] = [s, oldS - q * s];
    }
    if (oldR !== 1n) throw new Error("no modular inverse");
    return ((oldS % modulus) + modulus) % modulus;
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

/** NIST curves by OpenSSL name: their order n (FIPS 186-4 D.1.2) and the JWK name and hash WebCrypto pairs them with. */
export const curves: Record<string, { order: bigint; jwk: string; hash: string }> = {
    prime256v1: {
        order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
        jwk: "P-256",
        hash: "SHA-256",
    },
    secp384r1: {
        order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
        jwk: "P-384",
        hash: "SHA-384",
    },
    secp521r1: {
        order: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
        jwk: "P-521",
        hash: "SHA-512",
    },
};

/** An EC key whose secret scalar is drawn from the seed (uniformly below the curve order, by rejection). */
export function stableEcKey(curve: string, seed: string): KeyObject {
    const params = curves[curve];
    if (!params) throw new Error(`no stable keys for curve ${curve}`);
    const size = Math.ceil(bitLength(params.order) / 8);
    const next = byteStream(seed);
    let scalar = 0n;
    while (scalar === 0n || scalar >= params.order) {
        const bytes = next(size);
        // P-521's order has 521 bits: keep only as many, or nearly every draw would be rejected.
        scalar = toBigInt(bytes) >> BigInt(size * 8 - bitLength(params.order));
    }
    return ecKey(curve, scalar);
}

function ecKey(curve: string, scalar: bigint): KeyObject {
    const size = Math.ceil(bitLength(curves[curve].order) / 8);
    const ecdh = createECDH(curve);
    ecdh.setPrivateKey(toBytes(scalar, size));
    const point = ecdh.getPublicKey();
    const half = (point.length - 1) / 2;
    return createPrivateKey({
        format: "jwk",
        key: {
            kty: "EC",
            crv: curves[curve].jwk,
            d: toBytes(scalar, size).toString("base64url"),
            x: point.subarray(1, 1 + half).toString("base64url"),
            y: point.subarray(1 + half).toString("base64url"),
        },
    });
}

/** An Ed25519 key whose 32-byte private seed is drawn from the seed (RFC 8410 PKCS#8 around it). */
export function stableEd25519Key(seed: string): KeyObject {
    const prefix = Buffer.from("302e020100300506032b657004220420", "hex");
    return createPrivateKey({
        key: Buffer.concat([prefix, stableBytes(seed, 32)]),
        format: "der",
        type: "pkcs8",
    });
}

/** The odd primes below 2^14, to rule out most candidates before a primality test. */
const smallPrimes: bigint[] = (() => {
    const limit = 1 << 14;
    const composite = new Uint8Array(limit);
    const primes: bigint[] = [];
    for (let i = 3; i < limit; i += 2) {
        if (composite[i]) continue;
        primes.push(BigInt(i));
        for (let j = i * i; j < limit; j += 2 * i) composite[j] = 1;
    }
    return primes;
})();

/**
 * An RSA key (e = 65537) whose primes come from an incremental search from a seeded start (its two top bits set, so
 * that the modulus has exactly `bits` bits): the first candidate without a small factor that OpenSSL's primality
 * test accepts.
 */
export function stableRsaKey(bits: number, seed: string): KeyObject {
    const e = 65537n;
    const next = byteStream(seed);
    const prime = (primeBits: number): bigint => {
        for (;;) {
            const bytes = next(Math.ceil(primeBits / 8));
            const start =
                (toBigInt(bytes) >> BigInt(bytes.length * 8 - primeBits)) | (3n << BigInt(primeBits - 2)) | 1n;
            const residues = smallPrimes.map((small) => Number(start % small));
            const numbers = smallPrimes.map(Number);
            // A window of odd offsets; a new start if it holds no prime (rare: primes near 2^1024 are ~700 apart).
            for (let offset = 0; offset < 1 << 16; offset += 2) {
                if (residues.some((residue, i) => (residue + offset) % numbers[i] === 0)) continue;
                const candidate = start + BigInt(offset);
                if (bitLength(candidate) !== primeBits || gcd(e, candidate - 1n) !== 1n) continue;
                if (checkPrimeSync(candidate)) return candidate;
            }
        }
    };
    const p = prime(bits - Math.floor(bits / 2));
    let q = prime(Math.floor(bits / 2));
    while (q === p) q = prime(Math.floor(bits / 2));
    const n = p * q;
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const d = modInverse(e, lambda);
    return createPrivateKey({
        format: "jwk",
        key: {
            kty: "RSA",
            n: base64url(n),
            e: base64url(e),
            d: base64url(d),
            p: base64url(p),
            q: base64url(q),
            dp: base64url(d % (p - 1n)),
            dq: base64url(d % (q - 1n)),
            qi: base64url(modInverse(q, p)),
        },
    });
}

/**
 * An ECDSA signature with the nonce of RFC 6979 (deterministic ECDSA), in WebCrypto's form: r and s, each as long
 * as the order, concatenated. Same key and message, same signature; any verifier accepts it as ECDSA.
 */
export function deterministicEcdsaSignature(curve: string, scalar: bigint, hash: string, message: Buffer): Buffer {
    const { order } = curves[curve];
    const qlen = bitLength(order);
    const rlen = Math.ceil(qlen / 8);
    const digestName = hash.replace("-", "").toLowerCase();
    const digest = createHash(digestName).update(message).digest();
    const bits2int = (bytes: Buffer) => {
        const value = toBigInt(bytes);
        return bytes.length * 8 > qlen ? value >> BigInt(bytes.length * 8 - qlen) : value;
    };
    const z = bits2int(digest);
    const hmac = (key: Buffer, ...parts: Buffer[]) => createHmac(digestName, key).update(Buffer.concat(parts)).digest();
    const secret = toBytes(scalar, rlen);
    const hashed = toBytes(z % order, rlen);
    let v = Buffer.alloc(digest.length, 1);
    let k = Buffer.alloc(digest.length, 0);
    k = hmac(k, v, Buffer.from([0]), secret, hashed);
    v = hmac(k, v);
    k = hmac(k, v, Buffer.from([1]), secret, hashed);
    v = hmac(k, v);
    for (;;) {
        let t = Buffer.alloc(0);
        while (t.length * 8 < qlen) {
            v = hmac(k, v);
            t = Buffer.concat([t, v]);
        }
        const nonce = bits2int(t);
        if (nonce >= 1n && nonce < order) {
            const ecdh = createECDH(curve);
            ecdh.setPrivateKey(toBytes(nonce, rlen));
            const publicPoint = ecdh.getPublicKey();
            const x = toBigInt(publicPoint.subarray(1, 1 + (publicPoint.length - 1) / 2));
            const r = x % order;
            const s = (modInverse(nonce, order) * (z + r * scalar)) % order;
            if (r !== 0n && s !== 0n) return Buffer.concat([toBytes(r, rlen), toBytes(s, rlen)]);
        }
        k = hmac(k, v, Buffer.from([0]));
        v = hmac(k, v);
    }
}
