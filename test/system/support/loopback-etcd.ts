// A 3-member etcd for the etcd step scripts, run by the systemctl stand-in (test/support/step-stubs): members on
// loopback addresses of their own (127.0.0.<first>..+2) with mutual TLS from openssl certificates, and config files
// with the keys and layout render/etcd.ts writes, loopback addresses in place of host names that need DNS.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Document } from "yaml";

export const loopbackMembers = ["etcd-1", "etcd-2", "etcd-3"] as const;
export type LoopbackMember = (typeof loopbackMembers)[number];

function openssl(args: string[]): void {
    const result = spawnSync("openssl", args, { encoding: "utf8" });
    assert.equal(result.status, 0, `openssl ${args.join(" ")}: ${result.stderr}`);
}

/** Whether a process (an etcd member the test started) is still running. */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

export class LoopbackEtcd {
    readonly pki: string;
    readonly endpoints: string;

    /**
     * dir: where the PKI and the config files go; firstAddress: the last byte of etcd-1's loopback address (tests
     * that may run at the same time take different ones); dataDir: each member's data directory.
     */
    constructor(
        private readonly dir: string,
        private readonly firstAddress: number,
        readonly dataDir: (member: LoopbackMember) => string,
    ) {
        this.pki = path.join(dir, "pki");
        this.endpoints = loopbackMembers.map((member) => this.clientUrl(member)).join(",");
    }

    address(member: LoopbackMember): string {
        return `127.0.0.${this.firstAddress + loopbackMembers.indexOf(member)}`;
    }
    clientUrl(member: LoopbackMember): string {
        return `https://${this.address(member)}:12379`;
    }
    peerUrl(member: LoopbackMember): string {
        return `https://${this.address(member)}:12380`;
    }
    configPath(member: LoopbackMember): string {
        return path.join(this.dir, "config", `${member}.yaml`);
    }

    /** A CA, a serving and peer certificate per member, and the client certificate etcdctl presents. */
    issueCertificates(): void {
        const pki = this.pki;
        fs.mkdirSync(pki, { recursive: true });
        const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            ["req", "-x509", ...ec, "-keyout", `${pki}/ca.key`, "-out", `${pki}/ca.crt`, "-days", "1"].concat([
                "-subj",
                "/CN=kubeha test etcd CA",
            ]),
        );
        const issue = (name: string, extensions: string) => {
            fs.writeFileSync(`${pki}/${name}.ext`, extensions);
            openssl(
                ["req", "-new", ...ec, "-keyout", `${pki}/${name}.key`, "-out", `${pki}/${name}.csr`].concat([
                    "-subj",
                    `/CN=${name}`,
                ]),
            );
            openssl(
                ["x509", "-req", "-in", `${pki}/${name}.csr`, "-CA", `${pki}/ca.crt`, "-CAkey", `${pki}/ca.key`].concat(
                    ["-CAcreateserial", "-days", "1", "-extfile", `${pki}/${name}.ext`, "-out", `${pki}/${name}.crt`],
                ),
            );
        };
        for (const member of loopbackMembers) {
            // Peers dial from 127.0.0.1 on loopback, and etcd checks a peer's certificate against its address.
            issue(
                member,
                `subjectAltName=IP:${this.address(member)},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`,
            );
        }
        issue("client", "extendedKeyUsage=clientAuth\n");
    }

    /** The member's config, as install-files delivers it (a new host gets it afresh). */
    writeConfig(member: LoopbackMember, retention = "1h"): void {
        const tls = (name: string) => ({
            "cert-file": `${this.pki}/${name}.crt`,
            "key-file": `${this.pki}/${name}.key`,
            "client-cert-auth": true,
            "trusted-ca-file": `${this.pki}/ca.crt`,
        });
        const document = new Document({
            name: member,
            "data-dir": this.dataDir(member),
            "listen-client-urls": this.clientUrl(member),
            "advertise-client-urls": this.clientUrl(member),
            "listen-peer-urls": this.peerUrl(member),
            "initial-advertise-peer-urls": this.peerUrl(member),
            "initial-cluster": loopbackMembers.map((other) => `${other}=${this.peerUrl(other)}`).join(","),
            "initial-cluster-state": "new",
            "initial-cluster-token": "kubeha-steps-test",
            "client-transport-security": tls(member),
            "peer-transport-security": tls(member),
            "auto-compaction-mode": "periodic",
            "auto-compaction-retention": retention,
            logger: "zap",
            "log-outputs": ["stderr"],
        });
        document.commentBefore = ` etcd member ${member} (test)`;
        fs.mkdirSync(path.dirname(this.configPath(member)), { recursive: true });
        fs.writeFileSync(this.configPath(member), document.toString());
    }

    /** The KUBEHA_ETCD_* client settings the etcd steps take. */
    clientVariables(): Record<string, string> {
        return {
            KUBEHA_ETCD_ENDPOINTS: this.endpoints,
            KUBEHA_ETCD_CACERT: `${this.pki}/ca.crt`,
            KUBEHA_ETCD_CERT: `${this.pki}/client.crt`,
            KUBEHA_ETCD_KEY: `${this.pki}/client.key`,
        };
    }

    /** etcdctl (the binary given) with the client certificate, against every member or the one given; must succeed. */
    etcdctl(etcdctl: string, args: string[], at = this.endpoints): string {
        const result = spawnSync(
            etcdctl,
            [
                `--endpoints=${at}`,
                `--cacert=${this.pki}/ca.crt`,
                `--cert=${this.pki}/client.crt`,
                `--key=${this.pki}/client.key`,
                ...args,
            ],
            { encoding: "utf8", env: { PATH: process.env.PATH, ETCDCTL_API: "3" }, timeout: 30_000 },
        );
        assert.equal(result.status, 0, `etcdctl ${args.join(" ")}: ${result.stderr}`);
        return result.stdout;
    }
}
