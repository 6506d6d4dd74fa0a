// The CIS Kubernetes Benchmark, measured by a tool no one here wrote: checkov's Kubernetes checks (its CIS-mapped
// control-plane and etcd flag checks, and its workload checks) on the file groups of support/benchmark.ts (what the
// real kubeadm writes, etcd's files, every manifest the program applies); trivy's on the same: trivy.test.ts.
// Every failed check must be listed in test/fixtures/cis-accepted.json with its reason, and every listed one must
// still fail (fixed ones leave the list): the counts can only get better.
// What checkov does not check (the kubelet's configuration, file permissions on the hosts) is checked below on
// what the real kubeadm writes, each assertion citing the benchmark's recommendation (CIS Kubernetes Benchmark
// v1.10/v1.11 numbering).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { pkiFiles } from "../../render/pki-files";
import { projectDir } from "../support/plan";
import { systemTestSkipReason, TestNetwork } from "../system/support/netns";
import { assertAgainstAccepted, ScanFiles, writeScanFiles } from "./support/benchmark";
import { checkovSkipReason, runCheckov } from "./support/checkov";

const acceptedFile = path.join(projectDir, "test/fixtures/cis-accepted.json");
/** checkov's etcd checks: the only ones that say something about a member run by systemd. */
const etcdChecks = ["CKV_K8S_116", "CKV_K8S_117", "CKV_K8S_118", "CKV_K8S_119", "CKV_K8S_121"];

describe(
    "the CIS Kubernetes Benchmark on what the real kubeadm writes, etcd's files and every manifest the program applies",
    { skip: systemTestSkipReason() ?? checkovSkipReason() },
    () => {
        const network = new TestNetwork("kh-cis");
        let files: ScanFiles;
        let workDir: string;
        let root: string;

        before(async () => {
            workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-cis-"));
            files = await writeScanFiles(network, workDir);
            root = files.root;
        });

        after(async () => {
            await network.destroy();
            if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
        });

        test("checkov: every failed check is an accepted finding with its reason, and every accepted one still fails; counts per file group", () => {
            assertAgainstAccepted(
                "checkov (CIS-mapped and workload checks)",
                runCheckov(files.scan),
                etcdChecks,
                acceptedFile,
            );
        });

        test("the kubelet's configuration as kubeadm writes it meets CIS 4.2.1-4.2.13 (checkov does not read it)", () => {
            const config = parseYaml(fs.readFileSync(path.join(root, "var/lib/kubelet/config.yaml"), "utf8")) as {
                authentication: {
                    anonymous: { enabled: boolean };
                    webhook: { enabled: boolean };
                    x509: { clientCAFile?: string };
                };
                authorization: { mode: string };
                readOnlyPort?: number;
                streamingConnectionIdleTimeout?: string;
                makeIPTablesUtilChains?: boolean;
                eventRecordQPS?: number;
                serverTLSBootstrap?: boolean;
                rotateCertificates?: boolean;
                featureGates?: Record<string, boolean>;
                tlsCipherSuites?: string[];
                podPidsLimit?: number;
            };
            const flags = fs.readFileSync(path.join(root, "var/lib/kubelet/kubeadm-flags.env"), "utf8");
            assert.equal(config.authentication.anonymous.enabled, false, "4.2.1 anonymous-auth false");
            assert.equal(config.authentication.webhook.enabled, true, "4.2.1 webhook authentication");
            assert.equal(config.authorization.mode, "Webhook", "4.2.2 authorization-mode not AlwaysAllow");
            assert.equal(config.authentication.x509.clientCAFile, "/etc/kubernetes/pki/ca.crt", "4.2.3 client-ca-file");
            assert.ok(!config.readOnlyPort, "4.2.4 read-only-port 0 (absent: 0)");
            assert.ok(
                config.streamingConnectionIdleTimeout && !/^0[a-z]*$/.test(config.streamingConnectionIdleTimeout),
                `4.2.5 streaming-connection-idle-timeout not 0: ${config.streamingConnectionIdleTimeout}`,
            );
            assert.notEqual(config.makeIPTablesUtilChains, false, "4.2.6 make-iptables-util-chains true (default)");
            assert.doesNotMatch(flags, /--hostname-override/, "4.2.7 hostname-override not set");
            assert.notEqual(config.eventRecordQPS, 0, "4.2.8 event-qps not 0 (unlimited)");
            // 4.2.9 and 4.2.11: the serving certificate comes from the cluster CA (approved by kubeha's approver).
            assert.equal(
                config.serverTLSBootstrap,
                true,
                "4.2.9/4.2.11 serverTLSBootstrap (RotateKubeletServerCertificate)",
            );
            assert.notEqual(config.featureGates?.RotateKubeletServerCertificate, false, "4.2.11 feature gate not off");
            assert.equal(config.rotateCertificates, true, "4.2.10 rotate-certificates true");
            const strong = [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            ];
            assert.ok((config.tlsCipherSuites ?? []).length > 0, "4.2.12 tls-cipher-suites set");
            assert.deepEqual(
                (config.tlsCipherSuites ?? []).filter((suite) => !strong.includes(suite)),
                [],
                "4.2.12 only the benchmark's strong cipher suites",
            );
            assert.ok((config.podPidsLimit ?? -1) > 0, `4.2.13 pod PID limit set: ${config.podPidsLimit}`);
        });

        test("file permissions and owners of what kubeadm writes and what the program installs meet CIS 1.1.x and 4.1.x, except as listed", () => {
            const stat = (file: string) => {
                const info = fs.statSync(path.join(root, file));
                return { mode: info.mode & 0o777, owner: `${info.uid}:${info.gid}` };
            };
            const atMost = (file: string, mode: number, rule: string) => {
                const actual = stat(file);
                assert.equal(
                    actual.mode & ~mode,
                    0,
                    `${rule}: ${file} is ${actual.mode.toString(8)}, at most ${mode.toString(8)}`,
                );
                assert.equal(actual.owner, "0:0", `${rule}: ${file} is owned by root:root`);
            };
            const manifests = "/etc/kubernetes/manifests";
            atMost(`${manifests}/kube-apiserver.yaml`, 0o600, "1.1.1/1.1.2");
            atMost(`${manifests}/kube-controller-manager.yaml`, 0o600, "1.1.3/1.1.4");
            atMost(`${manifests}/kube-scheduler.yaml`, 0o600, "1.1.5/1.1.6");
            atMost("/etc/kubernetes/admin.conf", 0o600, "1.1.13/1.1.14");
            atMost("/etc/kubernetes/super-admin.conf", 0o600, "1.1.13/1.1.14");
            atMost("/etc/kubernetes/scheduler.conf", 0o600, "1.1.15/1.1.16");
            atMost("/etc/kubernetes/controller-manager.conf", 0o600, "1.1.17/1.1.18");
            atMost("/etc/kubernetes/kubelet.conf", 0o600, "4.1.5/4.1.6");
            // The program's PKI files, with the modes its files step installs them with (render/pki-files.ts).
            const planned = files.cluster.layout.find((host) => host.name === files.master)!;
            for (const file of pkiFiles(planned)) {
                const mode = parseInt(file.mode, 8);
                if (file.part === "key") assert.equal(mode & ~0o600, 0, `1.1.21: ${file.path} is ${file.mode}`);
                else
                    assert.equal(
                        mode & ~0o644,
                        0,
                        `1.1.20 (accepted at 0644, see the README): ${file.path} is ${file.mode}`,
                    );
            }
            // 4.1.9 (kubelet config.yaml 600) is not met: kubeadm writes it 0644 on every join and upgrade (it holds
            // no secret); listed in the README. This fails once kubeadm writes it 0600, to update the README.
            assert.equal(stat("/var/lib/kubelet/config.yaml").mode, 0o644, "4.1.9: kubeadm's mode changed");
        });
    },
);
