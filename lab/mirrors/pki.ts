// Per-lab trust material for the mirrors, kept in the lab's state dir (`/var/lib/kubeha-lab/<lab>/mirrors/pki`):
//
//   labPki(dir, names)      a lab CA (P-256, openssl) and one server certificate per mirror name (each valid for its
//                           name and its address), made once per lab and reused by later starts;
//   labAptKey(dir, lab)     a lab apt signing key (gpg, ed25519, no passphrase) in a private GNUPGHOME; returns its
//                           fingerprint and the armored public key (what the machines trust);
//   signRelease(key, file)  Release.gpg and InRelease beside a Release file, as apt expects them.
//
// Everything signed with the key is per lab: the Release files are signed when a lab starts, not cached.
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "../command";

/** Days the lab's certificates are valid: a lab lives for hours, but a forgotten one should not break overnight. */
const validityDays = "90";

export interface ServerCertificate {
    readonly certificate: string;
    readonly key: string;
}

export interface LabPki {
    /** The lab CA's certificate (PEM): machines and clients trust it. */
    readonly caCertificate: string;
    readonly servers: Record<string, ServerCertificate>;
}

const newKey = (key: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key];

/**
 * The lab CA and a certificate per server name (`names`: DNS name → IP address), created in `dir` if missing.
 * An existing certificate is kept only if it names the same address.
 */
export function labPki(dir: string, names: Record<string, string>): LabPki {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const caCertificate = path.join(dir, "ca.crt");
    const caKey = path.join(dir, "ca.key");
    if (!fs.existsSync(caCertificate)) {
        run("openssl", [
            ...["req", "-x509", ...newKey(caKey), "-out", caCertificate, "-days", validityDays],
            ...["-subj", "/CN=kubeha lab CA", "-addext", "basicConstraints=critical,CA:TRUE"],
            ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]);
    }
    const servers: Record<string, ServerCertificate> = {};
    for (const [name, address] of Object.entries(names)) {
        const certificate = path.join(dir, `${name}.crt`);
        const key = path.join(dir, `${name}.key`);
        const san = `subjectAltName=DNS:${name},IP:${address}`;
        const extensions = path.join(dir, `${name}.ext`);
        const wanted = `${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`;
        if (
            !fs.existsSync(certificate) ||
            !fs.existsSync(extensions) ||
            fs.readFileSync(extensions, "utf8") !== wanted
        ) {
            fs.writeFileSync(extensions, wanted);
            const request = run("openssl", ["req", "-new", ...newKey(key), "-subj", `/CN=${name}`]);
            run(
                "openssl",
                [
                    ...["x509", "-req", "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial"],
                    ...["-days", validityDays, "-extfile", extensions, "-out", certificate],
                ],
                { input: request },
            );
        }
        servers[name] = { certificate, key };
    }
    return { caCertificate, servers };
}

export interface AptKey {
    /** The private GNUPGHOME holding the secret key. */
    readonly home: string;
    /** 40 hex digits, upper case, as `gpg --with-colons` prints it (and as scripts/host-boot.sh compares it). */
    readonly fingerprint: string;
    /** Path of the armored public key (the repositories' Release.key and gpg files are copies of it). */
    readonly publicKeyFile: string;
}

function gpg(home: string, args: readonly string[]): string {
    return run("gpg", ["--batch", "--no-tty", "--no-autostart", ...args], {
        env: { ...process.env, GNUPGHOME: home },
    });
}

/** The lab's apt signing key in `dir/gnupg`, generated on first use. */
export function labAptKey(dir: string, lab: string): AptKey {
    const home = path.join(dir, "gnupg");
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const list = () =>
        gpg(home, ["--with-colons", "--list-secret-keys"])
            .split("\n")
            .filter((line) => line.startsWith("fpr:"))
            .map((line) => line.split(":")[9]);
    let [fingerprint] = list();
    if (!fingerprint) {
        // gpg-agent starts on demand for the secret key; --no-autostart would refuse key generation.
        run(
            "gpg",
            ["--batch", "--passphrase", "", "--quick-generate-key", `kubeha lab ${lab} apt`, "ed25519", "sign", "0"],
            {
                env: { ...process.env, GNUPGHOME: home },
            },
        );
        [fingerprint] = list();
    }
    const publicKeyFile = path.join(dir, "apt-key.asc");
    fs.writeFileSync(publicKeyFile, gpg(home, ["--armor", "--export", fingerprint]));
    return { home, fingerprint, publicKeyFile };
}

/** Writes Release.gpg (detached) and InRelease (clear-signed) beside `release`. */
export function signRelease(key: AptKey, release: string): void {
    const dir = path.dirname(release);
    for (const file of ["Release.gpg", "InRelease"]) fs.rmSync(path.join(dir, file), { force: true });
    run(
        "gpg",
        ["--batch", "--local-user", key.fingerprint, "--armor", "--detach-sign", "-o", `${dir}/Release.gpg`, release],
        {
            env: { ...process.env, GNUPGHOME: key.home },
        },
    );
    run("gpg", ["--batch", "--local-user", key.fingerprint, "--clearsign", "-o", `${dir}/InRelease`, release], {
        env: { ...process.env, GNUPGHOME: key.home },
    });
}

/** Stops the gpg-agent a lab key started (stopMirrors calls it before removing the state dir). */
export function stopGpgAgent(dir: string): void {
    const home = path.join(dir, "gnupg");
    if (fs.existsSync(home)) {
        try {
            run("gpgconf", ["--kill", "all"], { env: { ...process.env, GNUPGHOME: home } });
        } catch {
            // No agent running.
        }
    }
}
