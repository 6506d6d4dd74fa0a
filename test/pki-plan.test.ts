// The PKI as the offline plan shows it: no private key anywhere without --show-secrets, the certificate
// list and the admin kubeconfig in the stack outputs, and with --show-secrets every certificate and key
// each host receives (hosts/<host>/files/) checked with openssl.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { PlannedHost, clusterLayout } from "../config/layout";
import { ClusterConfig, resolveConfig } from "../config/resolve";
import { readStackConfig } from "../plan/run";
import { plan, projectDir } from "./support/plan";
import {
    certificateInfo,
    checkHostPki,
    pkiPathsIn,
    publicKeyOfCertificate,
    publicKeyOfKey,
    verifies,
} from "./support/pki-checks";

const privateKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

interface Outputs {
    readonly zones: string[];
    readonly certificates: { name: string; subject: string; notAfter: string }[];
    readonly kubeconfig: unknown;
    readonly apiNames: string[];
}

function filesBelow(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? filesBelow(full) : [full];
    });
}

/** The stack's configuration as the program resolves it, and the layout the plan used. */
function planned(stack: string, zones: number): { config: ClusterConfig; layout: PlannedHost[] } {
    const { config: raw } = readStackConfig(projectDir, stack);
    const values = Object.fromEntries(
        Object.entries(raw)
            .filter(([key]) => key.startsWith("kubeha:"))
            .map(([key, text]) => [key.slice("kubeha:".length), text]),
    );
    const resolved = resolveConfig({ values, regions: { aliyun: raw["alicloud:region"], aws: raw["aws:region"] } });
    if (!resolved.ok) throw new Error(resolved.problems.join("\n"));
    const config = resolved.config;
    const layout = clusterLayout(config, zones);
    return { config, layout };
}

for (const stack of ["dev", "aws-dev"]) {
    describe(`${stack}: the plan without --show-secrets`, () => {
        const withoutSecrets = plan({ stack });
        const outputs = withoutSecrets.outputs as unknown as Outputs;

        test("no private key in any file of the plan", () => {
            const leaking = filesBelow(withoutSecrets.dir).filter((file) =>
                privateKey.test(fs.readFileSync(file, "utf8")),
            );
            assert.deepEqual(leaking, []);
        });

        test("the kubeconfig output is a secret; the plan's kubeconfig has its key redacted", () => {
            assert.equal(outputs.kubeconfig, "[secret]");
            const kubeconfig = parseYaml(withoutSecrets.file("kubeconfig")) as {
                users: { user: Record<string, string> }[];
            };
            assert.equal(kubeconfig.users[0].user["client-key-data"], "[secret]");
        });

        test("the apiserver certificate covers the kubeconfig's server, and waits for no load balancer", () => {
            const kubeconfig = parseYaml(withoutSecrets.file("kubeconfig")) as {
                clusters: { cluster: { server: string } }[];
            };
            const server = new URL(kubeconfig.clusters[0].cluster.server).hostname;
            const certificate = new X509Certificate(
                withoutSecrets.file("hosts/master-1/files/etc/kubernetes/pki/apiserver.crt"),
            );
            assert.ok(isIP(server) ? certificate.checkIP(server) : certificate.checkHost(server), server);
            // Not even through the resources it was issued from: the bootstrap behind it need not wait either.
            const byName = new Map(withoutSecrets.resources.map((resource) => [resource.name, resource]));
            const behind = new Set<string>();
            const visit = (name: string) => {
                for (const dependency of byName.get(name)?.dependencies ?? []) {
                    if (behind.has(dependency)) continue;
                    behind.add(dependency);
                    visit(dependency);
                }
            };
            visit("apiserver-cert");
            visit("master-1-kubeadm-config");
            const loadBalancers = [...behind].filter((name) => /LoadBalancer$/.test(byName.get(name)?.type ?? ""));
            assert.deepEqual(loadBalancers, []);
        });

        test("the outputs list every certificate with its subject and an expiry in the configured lifetime", () => {
            const { config } = planned(stack, outputs.zones.length);
            const certificates = withoutSecrets.resources
                .filter((resource) => /tls:index\/(selfSignedCert|locallySignedCert)/.test(resource.type))
                .map((resource) => resource.name.replace(/-cert$/, ""));
            assert.deepEqual(outputs.certificates.map((entry) => entry.name).sort(), certificates.sort());
            for (const entry of outputs.certificates) {
                const hours = entry.name.endsWith("-ca") ? config.pki.caValidityHours : config.pki.certValidityHours;
                // The plan's certificates start at 00:00 UTC of the day it ran (plan/tls-double.ts).
                const fromNow = (Date.parse(entry.notAfter) - Date.now()) / 3600_000;
                assert.ok(fromNow <= hours && fromNow > hours - 24, `${entry.name} expires ${entry.notAfter}`);
                assert.match(entry.subject, /^CN=[^,]+(, O=.+)?$/);
            }
        });
    });
}

describe("dev: the plan with --show-secrets", () => {
    const withSecrets = plan({ stack: "dev", showSecrets: true });
    const outputs = withSecrets.outputs as unknown as Outputs;
    const { config, layout } = planned("dev", outputs.zones.length);
    const kubeconfig = parseYaml(withSecrets.file("kubeconfig")) as {
        clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
        users: { user: Record<string, string> }[];
    };
    const server = new URL(kubeconfig.clusters[0].cluster.server);

    test("keys are in it (so the check without secrets above can fail)", () => {
        assert.match(withSecrets.file("resources.json"), privateKey);
    });

    test("the admin kubeconfig names the load balancer in lower case and its identity verifies", () => {
        assert.equal(server.hostname, server.hostname.toLowerCase());
        assert.equal(server.port, "6443");
        const dir = fs.mkdtempSync(path.join(withSecrets.dir, "kubeconfig-"));
        const write = (name: string, base64: string) => {
            fs.writeFileSync(path.join(dir, name), Buffer.from(base64, "base64"));
            return path.join(dir, name);
        };
        const ca = write("ca.crt", kubeconfig.clusters[0].cluster["certificate-authority-data"]);
        const cert = write("admin.crt", kubeconfig.users[0].user["client-certificate-data"]);
        const key = write("admin.key", kubeconfig.users[0].user["client-key-data"]);
        assert.ok(verifies(ca, cert, "sslclient"));
        assert.equal(publicKeyOfKey(key), publicKeyOfCertificate(cert));
    });

    test("kubeadm makes its own keys (kubeconfigs, `kubeadm certs renew`) like the program's: ECDSA P-256", () => {
        const files = path.join(withSecrets.dir, "hosts", "master-1", "files");
        const init = parseAllDocuments(fs.readFileSync(path.join(files, "etc/kubernetes/kubeadm/init.yaml"), "utf8"))
            .map((doc) => doc.toJS() as Record<string, unknown>)
            .find((doc) => doc.kind === "ClusterConfiguration");
        assert.equal(init?.encryptionAlgorithm, "ECDSA-P256");
        for (const issued of ["ca.crt", "apiserver.crt", "front-proxy-ca.crt"]) {
            assert.equal(certificateInfo(path.join(files, "etc/kubernetes/pki", issued)).curve, "prime256v1", issued);
        }
    });

    test("every host's certificates and keys check out with openssl", () => {
        for (const host of layout.filter((candidate) => candidate.role !== "bastion")) {
            const files = pkiPathsIn(path.join(withSecrets.dir, "hosts", host.name, "files"));
            assert.ok(files.length > 0, `the plan delivers ${host.name}'s certificates`);
        }
        // Aliyun without apiDns: the kubeconfig uses the first zone's address; the certificate names every zone's.
        const names = outputs.apiNames;
        assert.equal(names.length, outputs.zones.length);
        assert.equal(server.hostname, names[0]);
        const external = { dns: [], ip: names };
        for (const host of layout) {
            checkHostPki({ config, layout, external }, host, path.join(withSecrets.dir, "hosts", host.name, "files"));
        }
    });
});
