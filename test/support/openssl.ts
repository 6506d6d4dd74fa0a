// Keys, requests and certificates the plan does not make (a CA no cluster trusts, a node's request, a local
// mirror's certificate), made by openssl with P-256 keys like the plan's own.
import { execFileSync } from "node:child_process";

/** `openssl req` arguments for a new, unencrypted P-256 key written to `key`. */
const newKey = (key: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key];

/** A self-signed certificate valid for a day, and its key; `extra`: more `openssl req` arguments (-addext ...). */
export function selfSignedCertificate(certificate: string, key: string, subject: string, extra: string[] = []): void {
    execFileSync(
        "openssl",
        ["req", "-x509", ...newKey(key), "-out", certificate, "-subj", subject, "-days", "1", ...extra],
        { stdio: "pipe" },
    );
}

/** A certificate signing request (PEM) for a new key written to `key`; `extra`: more `openssl req` arguments. */
export function certificateRequest(key: string, subject: string, extra: string[] = []): string {
    return execFileSync("openssl", ["req", "-new", ...newKey(key), "-subj", subject, ...extra], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
}

/** Signs a request (PEM file) with a CA's certificate and key, for a day. */
export function signRequest(request: string, caCertificate: string, caKey: string, certificate: string): void {
    execFileSync(
        "openssl",
        ["x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial", "-days", "1"].concat(
            "-out",
            certificate,
        ),
        { stdio: "pipe" },
    );
}
