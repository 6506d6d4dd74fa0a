// Checks of the cluster PKI as it lands on a host, made with openssl: which files each role gets (the
// names kubeadm and etcd read), who signed each certificate, its subject, SANs, usages, curve and
// lifetime, and that every key belongs to its certificate. Used on the component's own host files and
// on the files the plan writes under hosts/<host>/files/.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { apiProxyName, hostFqdn, PlannedHost } from "../../config/layout";
import { ClusterConfig } from "../../config/resolve";

export interface PkiExpectations {
    readonly config: ClusterConfig;
    readonly layout: readonly PlannedHost[];
    /** How clients outside the VPC reach the API: the apiserver certificate must name it. */
    readonly external: { readonly dns: string[]; readonly ip: string[] };
}

const kube = "/etc/kubernetes/pki";
const etcd = "/etc/etcd/pki";

/** kubeadm's well-known names (its constants package) and etcd's directory, per role. */
export function expectedPkiPaths(host: PlannedHost): string[] {
    const master = [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "front-proxy-client.crt",
        "front-proxy-client.key",
        "apiserver.crt",
        "apiserver.key",
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key",
        "apiserver-etcd-client.crt",
        "apiserver-etcd-client.key",
        "etcd/ca.crt",
    ].map((name) => `${kube}/${name}`);
    const member = ["ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"]
        .concat(["healthcheck-client.crt", "healthcheck-client.key"])
        .map((name) => `${etcd}/${name}`);
    return [
        ...(host.role === "master" ? master : []),
        ...(host.role === "worker" ? [`${kube}/ca.crt`] : []),
        ...(host.etcdMember ? member : []),
    ].sort();
}

type Usage = "server" | "client";

interface CertificateExpectation {
    readonly path: string;
    /** The CA certificate on the same host that must have signed it (itself for a CA). */
    readonly issuer: string;
    readonly commonName: (host: PlannedHost) => string;
    readonly organization?: string;
    readonly usages: Usage[];
    readonly names?: (expect: PkiExpectations, host: PlannedHost) => { dns: string[]; ip: string[] };
}

const cas: CertificateExpectation[] = [
    { path: `${kube}/ca.crt`, issuer: `${kube}/ca.crt`, commonName: () => "kubernetes", usages: [] },
    {
        path: `${kube}/front-proxy-ca.crt`,
        issuer: `${kube}/front-proxy-ca.crt`,
        commonName: () => "front-proxy-ca",
        usages: [],
    },
    { path: `${kube}/etcd/ca.crt`, issuer: `${kube}/etcd/ca.crt`, commonName: () => "etcd-ca", usages: [] },
    { path: `${etcd}/ca.crt`, issuer: `${etcd}/ca.crt`, commonName: () => "etcd-ca", usages: [] },
];

const leaves: CertificateExpectation[] = [
    {
        path: `${kube}/apiserver.crt`,
        issuer: `${kube}/ca.crt`,
        commonName: () => "kube-apiserver",
        usages: ["server"],
        names: ({ config, layout, external }) => {
            const masters = layout.filter((host) => host.role === "master");
            const domain = config.network.privateDomain;
            return {
                dns: [
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    `kubernetes.default.svc.${config.network.clusterDomain}`,
                    apiProxyName(domain),
                    ...masters.flatMap((host) => [host.name, hostFqdn(host.name, domain)]),
                    ...external.dns,
                ],
                ip: [
                    firstAddress(config.network.serviceCidr),
                    "127.0.0.1",
                    ...masters.map((host) => host.privateIp),
                    ...external.ip,
                ],
            };
        },
    },
    {
        path: `${kube}/apiserver-kubelet-client.crt`,
        issuer: `${kube}/ca.crt`,
        commonName: () => "kube-apiserver-kubelet-client",
        organization: "kubeadm:cluster-admins",
        usages: ["client"],
    },
    {
        path: `${kube}/front-proxy-client.crt`,
        issuer: `${kube}/front-proxy-ca.crt`,
        commonName: () => "front-proxy-client",
        usages: ["client"],
    },
    {
        path: `${kube}/apiserver-etcd-client.crt`,
        issuer: `${kube}/etcd/ca.crt`,
        commonName: () => "kube-apiserver-etcd-client",
        usages: ["client"],
    },
    {
        path: `${etcd}/server.crt`,
        issuer: `${etcd}/ca.crt`,
        commonName: (host) => host.name,
        usages: ["server", "client"],
        names: ({ config }, host) => ({
            dns: [hostFqdn(host.name, config.network.privateDomain), host.name, "localhost"],
            ip: [host.privateIp, "127.0.0.1"],
        }),
    },
    {
        path: `${etcd}/peer.crt`,
        issuer: `${etcd}/ca.crt`,
        commonName: (host) => host.name,
        usages: ["server", "client"],
        names: ({ config }, host) => ({
            dns: [hostFqdn(host.name, config.network.privateDomain), host.name],
            ip: [host.privateIp],
        }),
    },
    {
        path: `${etcd}/healthcheck-client.crt`,
        issuer: `${etcd}/ca.crt`,
        commonName: () => "kube-etcd-healthcheck-client",
        usages: ["client"],
    },
];

/** The PKI files (certificates, keys, public keys) below a host's file tree, as absolute host paths. */
export function pkiPathsIn(root: string): string[] {
    const found: string[] = [];
    const walk = (dir: string) => {
        if (!fs.existsSync(dir)) return;
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (/\.(crt|key|pub)$/.test(entry.name)) found.push(`/${path.relative(root, full)}`);
        }
    };
    walk(path.join(root, kube));
    walk(path.join(root, etcd));
    return found.sort();
}

/** Every check on one host's files; root holds them at their absolute paths. */
export function checkHostPki(expect: PkiExpectations, host: PlannedHost, root: string): void {
    const expected = expectedPkiPaths(host);
    assert.deepEqual(pkiPathsIn(root), expected, `${host.name}: PKI files`);
    const file = (hostPath: string) => path.join(root, hostPath);
    const present = new Set(expected);
    const hostCas = cas.filter((ca) => present.has(ca.path));

    for (const spec of [...cas, ...leaves].filter((candidate) => present.has(candidate.path))) {
        const where = `${host.name}:${spec.path}`;
        const info = certificateInfo(file(spec.path));
        const isCa = spec.issuer === spec.path;
        assert.ok(verifies(file(spec.issuer), file(spec.path)), `${where} does not verify against ${spec.issuer}`);
        for (const other of hostCas.filter((ca) => !sameFile(file(ca.path), file(spec.issuer)))) {
            assert.ok(!verifies(file(other.path), file(spec.path)), `${where} also verifies against ${other.path}`);
        }
        for (const usage of spec.usages) {
            const purpose = usage === "server" ? "sslserver" : "sslclient";
            assert.ok(verifies(file(spec.issuer), file(spec.path), purpose), `${where} fails openssl ${purpose}`);
        }
        assert.deepEqual(
            info.subject,
            { CN: spec.commonName(host), ...(spec.organization ? { O: spec.organization } : {}) },
            `${where} subject`,
        );
        assert.equal(info.curve, "prime256v1", `${where}: key is not ECDSA P-256`);
        assert.equal(info.basicConstraints, isCa ? "CA:TRUE" : "CA:FALSE", `${where} basic constraints`);
        assert.ok(info.keyUsage.includes("Digital Signature"), `${where} key usage ${info.keyUsage}`);
        assert.equal(info.keyUsage.includes("Certificate Sign"), isCa, `${where} key usage ${info.keyUsage}`);
        const ekus = { server: "TLS Web Server Authentication", client: "TLS Web Client Authentication" };
        assert.deepEqual(info.extendedKeyUsage.sort(), spec.usages.map((usage) => ekus[usage]).sort(), `${where} EKU`);
        const names = spec.names?.(expect, host) ?? { dns: [], ip: [] };
        assert.deepEqual(
            { dns: [...info.names.dns].sort(), ip: [...info.names.ip].sort() },
            { dns: [...new Set(names.dns)].sort(), ip: [...new Set(names.ip)].sort() },
            `${where} subject alternative names`,
        );
        const hours = isCa ? expect.config.pki.caValidityHours : expect.config.pki.certValidityHours;
        assert.equal((info.notAfter.getTime() - info.notBefore.getTime()) / 3600_000, hours, `${where} lifetime`);
        const key = spec.path.replace(/\.crt$/, ".key");
        if (present.has(key)) {
            assert.equal(publicKeyOfKey(file(key)), publicKeyOfCertificate(file(spec.path)), `${key} ≠ ${where}`);
        }
    }
    if (present.has(`${kube}/sa.key`)) {
        assert.equal(publicKeyOfKey(file(`${kube}/sa.key`)), publicKeyPem(file(`${kube}/sa.pub`)), "sa.key ≠ sa.pub");
        assert.match(openssl(["pkey", "-in", file(`${kube}/sa.key`), "-noout", "-text"]), /Private-Key: \(2048 bit/);
    }
}

export interface CertificateInfo {
    readonly subject: Record<string, string>;
    readonly notBefore: Date;
    readonly notAfter: Date;
    readonly keyUsage: string[];
    readonly extendedKeyUsage: string[];
    readonly basicConstraints: string;
    readonly names: { dns: string[]; ip: string[] };
    /** The named curve of an EC key, or `rsa<bits>`. */
    readonly curve: string;
}

export function certificateInfo(certFile: string): CertificateInfo {
    const text = openssl([
        "x509",
        "-in",
        certFile,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-startdate",
        "-enddate",
        "-ext",
        "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints",
    ]);
    const line = (prefix: string) => text.split("\n").find((candidate) => candidate.startsWith(prefix)) ?? "";
    const extension = (name: string) => {
        const lines = text.split("\n");
        const at = lines.findIndex((candidate) => candidate.startsWith(`X509v3 ${name}:`));
        return at < 0 ? [] : lines[at + 1].trim().split(/,\s*/);
    };
    const names = extension("Subject Alternative Name");
    const details = openssl(["x509", "-in", certFile, "-noout", "-text"]);
    const curve = /ASN1 OID: (\S+)/.exec(details)?.[1] ?? `rsa${/Public-Key: \((\d+) bit/.exec(details)?.[1]}`;
    return {
        subject: Object.fromEntries(
            line("subject=")
                .slice("subject=".length)
                .split(",")
                .map((part) => part.split("=") as [string, string]),
        ),
        notBefore: new Date(line("notBefore=").slice("notBefore=".length)),
        notAfter: new Date(line("notAfter=").slice("notAfter=".length)),
        keyUsage: extension("Key Usage"),
        extendedKeyUsage: extension("Extended Key Usage"),
        basicConstraints: extension("Basic Constraints").join(", "),
        names: {
            dns: names.filter((name) => name.startsWith("DNS:")).map((name) => name.slice(4)),
            ip: names.filter((name) => name.startsWith("IP Address:")).map((name) => name.slice(11)),
        },
        curve,
    };
}

/** `openssl verify` of a certificate against exactly one trusted CA, optionally for a TLS purpose. */
export function verifies(caFile: string, certFile: string, purpose?: "sslserver" | "sslclient"): boolean {
    const args = ["verify", "-x509_strict", "-CAfile", caFile, ...(purpose ? ["-purpose", purpose] : []), certFile];
    return spawnSync("openssl", args, { encoding: "utf8" }).status === 0;
}

export function publicKeyOfCertificate(certFile: string): string {
    return openssl(["x509", "-in", certFile, "-noout", "-pubkey"]);
}

export function publicKeyOfKey(keyFile: string): string {
    return openssl(["pkey", "-in", keyFile, "-pubout"]);
}

function publicKeyPem(publicKeyFile: string): string {
    return openssl(["pkey", "-pubin", "-in", publicKeyFile]);
}

/** kubeadm's documented way to compute --discovery-token-ca-cert-hash. */
export function opensslCaHash(caFile: string): string {
    const spki = execFileSync("sh", [
        "-c",
        'openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform der | sha256sum',
        "sh",
        caFile,
    ]);
    return `sha256:${spki.toString("utf8").split(" ")[0]}`;
}

export function openssl(args: string[], input?: string): string {
    return execFileSync("openssl", args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

function sameFile(a: string, b: string): boolean {
    return fs.readFileSync(a, "utf8") === fs.readFileSync(b, "utf8");
}

/** The first address of a /n IPv4 range (the kubernetes.default Service IP). */
function firstAddress(cidr: string): string {
    const [base] = cidr.split("/");
    const octets = base.split(".").map(Number);
    octets[3] += 1;
    return octets.join(".");
}

export interface TlsEnd {
    readonly cert: string;
    readonly key: string;
    /** The CA file this end trusts for the other end's certificate. */
    readonly trusts: string;
}

/**
 * A real mutual-TLS handshake between openssl s_server and s_client on 127.0.0.1: each end verifies the
 * other's chain and usage, the client also the server's name or address. Resolves to whether both ends
 * accepted (in TLS 1.3 the client finishes before the server has judged its certificate, so both count).
 */
export async function handshake(server: TlsEnd, client: TlsEnd, serverName: string): Promise<boolean> {
    // s_server's stdin stays open: at end of input it would close the connection before the client is done.
    const serverProcess = spawn(
        "openssl",
        ["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-cert", server.cert, "-key", server.key].concat([
            "-CAfile",
            server.trusts,
            "-Verify",
            "1",
            "-verify_return_error",
            "-purpose",
            "sslclient",
        ]),
        { stdio: ["pipe", "pipe", "pipe"] },
    );
    let serverOut = "";
    let serverErr = "";
    serverProcess.stderr.on("data", (chunk: Buffer) => (serverErr += chunk.toString()));
    const exited = new Promise<void>((resolve) => serverProcess.on("exit", () => resolve()));
    try {
        const port = await new Promise<string>((resolve, reject) => {
            serverProcess.stdout.on("data", (chunk: Buffer) => {
                serverOut += chunk.toString();
                const match = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(serverOut);
                if (match) resolve(match[1]);
            });
            void exited.then(() => reject(new Error(`openssl s_server exited before accepting: ${serverErr}`)));
        });
        const nameCheck = /^[\d.]+$/.test(serverName) ? ["-verify_ip", serverName] : ["-verify_hostname", serverName];
        const clientResult = spawnSync(
            "openssl",
            ["s_client", "-connect", `127.0.0.1:${port}`, "-cert", client.cert, "-key", client.key]
                .concat(["-CAfile", client.trusts, "-verify_return_error", "-purpose", "sslserver"])
                .concat([...nameCheck, "-brief"]),
            { input: "\n", encoding: "utf8", timeout: 10_000 },
        );
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        const clientAccepted = clientResult.status === 0 && /Verification: OK/.test(clientResult.stderr);
        const serverAccepted = serverOut.includes("Client certificate") && !/\bERROR\b/.test(serverErr);
        return clientAccepted && serverAccepted;
    } finally {
        serverProcess.kill();
    }
}
