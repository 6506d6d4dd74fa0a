// ClusterPki under the mock runtime, whose tls double really issues the certificates: every host's
// files are written out and checked with openssl (signer, subject, SANs, usages, curve, lifetime, key),
// real TLS handshakes are made between the parties that will talk to each other, and the kubeconfig,
// discovery hash, certificate list and bootstrap token are checked against what openssl says.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { apiProxyName, hostFqdn, PlannedHost, clusterLayout } from "../config/layout";
import { ClusterConfig, resolveConfig } from "../config/resolve";
import { KubehaMocks } from "../plan/mocks";
import { ClusterPki, ClusterPkiArgs, renewalRound } from "../components/pki";
import {
    certificateInfo,
    checkHostPki,
    handshake,
    opensslCaHash,
    publicKeyOfCertificate,
    publicKeyOfKey,
    TlsEnd,
    verifies,
} from "./support/pki-checks";

class RecordingMocks extends KubehaMocks {
    readonly registered: pulumi.runtime.MockResourceArgs[] = [];

    newResource(args: pulumi.runtime.MockResourceArgs) {
        this.registered.push(args);
        return super.newResource(args);
    }
}

const mocks = new RecordingMocks({ region: "cn-hangzhou" });
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-pki-"));

interface Scenario {
    readonly config: ClusterConfig;
    readonly layout: PlannedHost[];
    readonly pki: ClusterPki;
    /** The hosts' files at their absolute paths below root/<host>. */
    readonly root: string;
    readonly modes: Map<string, string>;
    readonly secret: Map<string, boolean>;
    readonly joinIdentities: string[];
}

function value<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) =>
        output.apply((resolved) => {
            resolve(resolved);
            return resolved;
        }),
    );
}

async function scenario(
    name: string,
    values: Record<string, unknown>,
    apiLoadBalancer: ClusterPkiArgs["apiLoadBalancer"],
): Promise<Scenario> {
    const resolved = resolveConfig({
        values: Object.fromEntries(
            Object.entries({ cloud: "aliyun", ...values }).map(([key, item]) => [
                key,
                typeof item === "string" ? item : JSON.stringify(item),
            ]),
        ),
        regions: { aliyun: "cn-hangzhou" },
    });
    if (!resolved.ok) throw new Error(resolved.problems.join("\n"));
    const config = resolved.config;
    const layout = clusterLayout(config, 3);
    const joinIdentities = layout.filter((host) => host.role !== "etcd").map((host) => `i-${name}-${host.name}`);
    // Each scenario under its own parent, so that the two programs' resources have distinct URNs.
    const parent = new pulumi.ComponentResource("kubeha:test:Scenario", name);
    const pki = new ClusterPki("pki", { config, layout, apiLoadBalancer, joinIdentities }, { parent });
    const root = path.join(workDir, name);
    const modes = new Map<string, string>();
    const secret = new Map<string, boolean>();
    for (const host of layout) {
        for (const file of pki.hostFiles(host.name)) {
            const content = pulumi.output(file.content);
            const target = path.join(root, host.name, file.path);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, await value(content));
            modes.set(`${host.name}:${file.path}`, file.mode);
            secret.set(`${host.name}:${file.path}`, await pulumi.isSecret(content));
        }
    }
    return { config, layout, pki, root, modes, secret, joinIdentities };
}

const hostRoot = (s: Scenario, host: string) => path.join(s.root, host);
const onHost = (s: Scenario, host: string, hostPath: string) => path.join(s.root, host, hostPath);

let dev: Scenario;
let dedicated: Scenario;
/** Like Aliyun's with kubeha:apiDns: a name (in mixed case, as an operator may type it) and one address per zone. */
const lbName = "K8s-API.Example.com";
const lbAddresses = ["203.0.113.9", "203.0.113.10", "203.0.113.11"];
const lb = { endpoint: lbName, names: [lbName, ...lbAddresses] };

before(async () => {
    await pulumi.runtime.setMocks(mocks, "kubeha", "dev", false);
    dev = await scenario("dev", {}, lb);
    dedicated = await scenario(
        "dedicated",
        {
            etcd: { dedicated: true, count: 3 },
            workers: { count: 2 },
            pki: { caValidityHours: 30000, certValidityHours: 2000, earlyRenewalHours: 100 },
        },
        undefined,
    );
});

after(() => fs.rmSync(workDir, { recursive: true, force: true }));

describe("etcd on the masters, behind a load balancer", () => {
    test("every host gets the files kubeadm and etcd expect, and every certificate checks out", () => {
        const external = { dns: [lbName.toLowerCase()], ip: lbAddresses };
        for (const host of dev.layout) checkHostPki({ ...dev, external }, host, hostRoot(dev, host.name));
    });

    test("keys are 0600 and secret; certificates and public keys are 0644", () => {
        assert.ok(dev.modes.size > 0);
        for (const [file, mode] of dev.modes) {
            const isKey = file.endsWith(".key");
            assert.equal(mode, isKey ? "0600" : "0644", file);
            if (isKey) assert.ok(dev.secret.get(file), `${file} is not a secret`);
        }
    });

    test("every host trusts the same CAs", () => {
        const read = (host: string, hostPath: string) => fs.readFileSync(onHost(dev, host, hostPath), "utf8");
        const masters = dev.layout.filter((host) => host.role === "master");
        const kubernetesCa = read("master-1", "/etc/kubernetes/pki/ca.crt");
        for (const host of dev.layout.filter((candidate) => candidate.role !== "bastion")) {
            assert.equal(read(host.name, "/etc/kubernetes/pki/ca.crt"), kubernetesCa, host.name);
        }
        const etcdCa = read("master-1", "/etc/kubernetes/pki/etcd/ca.crt");
        for (const host of masters) {
            assert.equal(read(host.name, "/etc/kubernetes/pki/etcd/ca.crt"), etcdCa, host.name);
            assert.equal(read(host.name, "/etc/etcd/pki/ca.crt"), etcdCa, host.name);
        }
        assert.notEqual(etcdCa, kubernetesCa);
    });

    test("the discovery hash equals openssl's sha256 over the CA's public key", async () => {
        const computed = await value(dev.pki.discoveryTokenCaCertHash);
        assert.match(computed, /^sha256:[0-9a-f]{64}$/);
        assert.equal(computed, opensslCaHash(onHost(dev, "worker-1", "/etc/kubernetes/pki/ca.crt")));
    });

    test("the admin kubeconfig reaches the load balancer by its lower-case name as kubeadm:cluster-admins", async () => {
        const output = dev.pki.adminKubeconfig;
        assert.ok(await pulumi.isSecret(output));
        const kubeconfig = parseYaml(await value(output)) as {
            clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
            users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
        };
        assert.equal(kubeconfig.clusters[0].cluster.server, `https://${lbName.toLowerCase()}:6443`);
        const dir = path.join(workDir, "kubeconfig");
        fs.mkdirSync(dir, { recursive: true });
        const decode = (data: string, file: string) => {
            fs.writeFileSync(path.join(dir, file), Buffer.from(data, "base64"));
            return path.join(dir, file);
        };
        const ca = decode(kubeconfig.clusters[0].cluster["certificate-authority-data"], "ca.crt");
        const cert = decode(kubeconfig.users[0].user["client-certificate-data"], "admin.crt");
        const key = decode(kubeconfig.users[0].user["client-key-data"], "admin.key");
        assert.equal(
            fs.readFileSync(ca, "utf8"),
            fs.readFileSync(onHost(dev, "master-1", "/etc/kubernetes/pki/ca.crt"), "utf8"),
        );
        assert.ok(verifies(ca, cert, "sslclient"));
        assert.equal(publicKeyOfKey(key), publicKeyOfCertificate(cert));
        const info = certificateInfo(cert);
        assert.deepEqual(info.subject, { CN: "kubernetes-admin", O: "kubeadm:cluster-admins" });
        assert.deepEqual(info.extendedKeyUsage, ["TLS Web Client Authentication"]);
        assert.equal((info.notAfter.getTime() - info.notBefore.getTime()) / 3600_000, dev.config.pki.certValidityHours);
        // The apiserver certificate, served as every master serves it, is what kubectl verifies.
        const apiserver = end(dev, "master-1", "/etc/kubernetes/pki/apiserver", "/etc/kubernetes/pki/ca.crt");
        const admin: TlsEnd = { cert, key, trusts: ca };
        assert.ok(await handshake(apiserver, admin, lbName.toLowerCase()));
    });

    test("the certificate list names every certificate with its real subject and expiry", async () => {
        const listed = await value(dev.pki.certificates);
        // Both scenarios registered their certificates: together the two lists name every one of them.
        const issued = mocks.registered
            .filter((args) => /SelfSignedCert|LocallySignedCert/.test(args.type))
            .map((args) => args.name.replace(/-cert$/, ""));
        const bothLists = [...listed, ...(await value(dedicated.pki.certificates))].map((entry) => entry.name);
        assert.deepEqual([...new Set(bothLists)].sort(), [...new Set(issued)].sort());
        assert.equal(new Set(listed.map((entry) => entry.name)).size, listed.length);
        const files: Record<string, [string, string]> = {
            "kubernetes-ca": ["master-1", "/etc/kubernetes/pki/ca.crt"],
            "front-proxy-ca": ["master-1", "/etc/kubernetes/pki/front-proxy-ca.crt"],
            "etcd-ca": ["master-1", "/etc/etcd/pki/ca.crt"],
            apiserver: ["master-2", "/etc/kubernetes/pki/apiserver.crt"],
            "apiserver-kubelet-client": ["master-1", "/etc/kubernetes/pki/apiserver-kubelet-client.crt"],
            "front-proxy-client": ["master-1", "/etc/kubernetes/pki/front-proxy-client.crt"],
            "apiserver-etcd-client": ["master-3", "/etc/kubernetes/pki/apiserver-etcd-client.crt"],
            "etcd-healthcheck-client": ["master-1", "/etc/etcd/pki/healthcheck-client.crt"],
            ...Object.fromEntries(
                dev.layout
                    .filter((host) => host.etcdMember)
                    .flatMap((host) => [
                        [`${host.name}-etcd-server`, [host.name, "/etc/etcd/pki/server.crt"]],
                        [`${host.name}-etcd-peer`, [host.name, "/etc/etcd/pki/peer.crt"]],
                    ]),
            ),
        };
        for (const entry of listed.filter((candidate) => candidate.name !== "admin")) {
            const [host, hostPath] = files[entry.name];
            const info = certificateInfo(onHost(dev, host, hostPath));
            assert.equal(new Date(entry.notAfter).getTime(), info.notAfter.getTime(), entry.name);
            const subject = Object.fromEntries(entry.subject.split(", ").map((part) => part.split("=")));
            assert.deepEqual(subject, info.subject, entry.name);
        }
    });

    test("real TLS handshakes between the parties that talk to each other", async () => {
        const k = "/etc/kubernetes/pki";
        const e = "/etc/etcd/pki";
        const domain = dev.config.network.privateDomain;
        const master2 = dev.layout.find((host) => host.name === "master-2")!;
        // The apiserver as a server that trusts the kubernetes CA for clients, and a client of that CA.
        const apiserver = end(dev, master2.name, `${k}/apiserver`, `${k}/ca.crt`);
        const kubernetesClient = end(dev, "master-1", `${k}/apiserver-kubelet-client`, `${k}/ca.crt`);
        // Clients in the cluster reach it by the Service name, the local proxy's name, loopback, the master's own name and address.
        const names = ["kubernetes.default.svc", apiProxyName(domain), "127.0.0.1", master2.name, master2.privateIp];
        for (const name of names) {
            assert.ok(await handshake(apiserver, kubernetesClient, name), `apiserver as ${name}`);
        }
        // Aggregated API servers trust the front-proxy CA for the apiserver's proxy identity.
        const aggregatedServer = { ...apiserver, trusts: onHost(dev, master2.name, `${k}/front-proxy-ca.crt`) };
        const frontProxyClient = end(dev, "master-1", `${k}/front-proxy-client`, `${k}/ca.crt`);
        assert.ok(await handshake(aggregatedServer, frontProxyClient, "kubernetes"));
        // The apiserver and operators reach etcd on every member by name, address and loopback.
        for (const member of dev.layout.filter((host) => host.etcdMember)) {
            const etcdServer = end(dev, member.name, `${e}/server`, `${e}/ca.crt`);
            const apiserverClient = end(dev, "master-1", `${k}/apiserver-etcd-client`, `${k}/etcd/ca.crt`);
            const healthcheck = end(dev, member.name, `${e}/healthcheck-client`, `${e}/ca.crt`);
            for (const name of [hostFqdn(member.name, domain), member.privateIp, "127.0.0.1", "localhost"]) {
                assert.ok(await handshake(etcdServer, apiserverClient, name), `${member.name} etcd as ${name}`);
            }
            assert.ok(await handshake(etcdServer, healthcheck, "127.0.0.1"));
            // Peers authenticate each other with their peer certificates.
            const peer = end(dev, member.name, `${e}/peer`, `${e}/ca.crt`);
            const otherPeer = end(
                dev,
                member.name === "master-1" ? "master-2" : "master-1",
                `${e}/peer`,
                `${e}/ca.crt`,
            );
            assert.ok(await handshake(peer, otherPeer, hostFqdn(member.name, domain)));
            assert.ok(await handshake(peer, otherPeer, member.privateIp));
        }
        // And the checks can fail: a kubernetes-CA client is refused by etcd, a wrong name by the client.
        const etcdServer = end(dev, "master-1", `${e}/server`, `${e}/ca.crt`);
        assert.equal(await handshake(etcdServer, kubernetesClient, "127.0.0.1"), false);
        const apiserverClient = end(dev, "master-1", `${k}/apiserver-etcd-client`, `${k}/etcd/ca.crt`);
        assert.equal(await handshake(etcdServer, apiserverClient, "master-2.k8s.internal"), false);
    });

    test("keys are ECDSA P-256 (RSA 2048 for service-account tokens), never tls's P-224 default", () => {
        const keys = mocks.registered.filter((args) => args.type === "tls:index/privateKey:PrivateKey");
        for (const key of keys.filter((args) => args.name !== "ssh-key")) {
            const expected =
                key.name === "service-account-key"
                    ? { algorithm: "RSA", rsaBits: 2048 }
                    : { algorithm: "ECDSA", ecdsaCurve: "P256" };
            assert.deepEqual(key.inputs, expected, key.name);
        }
    });

    test("the bootstrap token has kubeadm's form, is a secret, and is keyed on the joining hosts", async () => {
        assert.ok(await pulumi.isSecret(dev.pki.bootstrapToken));
        assert.match(await value(dev.pki.bootstrapToken), /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
        const tokens = mocks.registered.filter((args) => args.name === "bootstrap-token");
        const keepers = tokens.map((args) => (args.inputs as { keepers: { joinIdentities: string } }).keepers);
        assert.ok(keepers.some((keeper) => keeper.joinIdentities === dev.joinIdentities.join(" ")));
        assert.notEqual(await value(dev.pki.bootstrapToken), await value(dedicated.pki.bootstrapToken));
    });
});

describe("dedicated etcd hosts, no load balancer, custom lifetimes", () => {
    test("etcd certificates go to the etcd hosts only, and every certificate checks out", () => {
        for (const host of dedicated.layout) {
            checkHostPki({ ...dedicated, external: { dns: [], ip: [] } }, host, hostRoot(dedicated, host.name));
        }
        assert.equal(fs.existsSync(onHost(dedicated, "master-1", "/etc/etcd/pki")), false);
    });

    test("the certificate list carries the configured lifetimes", async () => {
        const { caValidityHours, certValidityHours } = dedicated.config.pki;
        for (const entry of await value(dedicated.pki.certificates)) {
            const hours = entry.name.endsWith("-ca") ? caValidityHours : certValidityHours;
            // The tls double starts certificates at 00:00 UTC of the current day (plan/tls-double.ts).
            const today = Math.floor(Date.now() / 86400_000) * 86400_000;
            const lifetime = (new Date(entry.notAfter).getTime() - today) / 3600_000;
            assert.equal(lifetime, hours, `${entry.name}: ${entry.notAfter}`);
        }
    });

    test("without a load balancer the kubeconfig names the per-node API proxy", async () => {
        const { privateDomain } = dedicated.config.network;
        const expected = `https://${apiProxyName(privateDomain)}:${dedicated.config.network.apiProxyPort}`;
        assert.equal(await value(dedicated.pki.apiServerUrl), expected);
    });
});

describe("renewal rounds", () => {
    const hour = 3600_000;
    const anchor = "2026-01-01T00:00:00Z";
    const start = Date.parse(anchor);
    const validity = 8760;
    const early = 720;
    const period = validity - early;

    test("a certificate issued with its CA is renewed exactly earlyRenewalHours before it expires", () => {
        const justBefore = start + (validity - early) * hour - 1;
        assert.equal(renewalRound(justBefore, anchor, period), 0);
        assert.equal(renewalRound(justBefore + 1, anchor, period), 1);
    });

    test("whenever a certificate was issued, its round changes at least earlyRenewalHours before it expires", () => {
        for (let issuedAt = start; issuedAt < start + 5 * validity * hour; issuedAt += 97 * hour + 13) {
            const round = renewalRound(issuedAt, anchor, period);
            const expiresAt = issuedAt + validity * hour;
            assert.ok(renewalRound(expiresAt - early * hour, anchor, period) > round, new Date(issuedAt).toISOString());
        }
    });

    test("between round changes the trigger is constant, so a second pulumi up plans no change", () => {
        assert.equal(renewalRound(start + 10 * hour, anchor, period), renewalRound(start + 20 * hour, anchor, period));
    });
});

function end(s: Scenario, host: string, base: string, trusts: string): TlsEnd {
    return {
        cert: onHost(s, host, `${base}.crt`),
        key: onHost(s, host, `${base}.key`),
        trusts: onHost(s, host, trusts),
    };
}
