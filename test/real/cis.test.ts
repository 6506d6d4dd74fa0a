// The CIS Kubernetes Benchmark, measured by a tool no one here wrote: checkov's Kubernetes checks (its CIS-mapped
// control-plane and etcd flag checks, and its workload checks) on
// - control-plane: the static pod manifests the real kubeadm (the toolchain's, the version the hosts run) writes
//   on master-1 from the dev plan's own kubeadm configuration;
// - etcd: each member's config file and unit from the plan (etcd runs from systemd, so as the equivalent pod: see
//   etcdAsPod); only checkov's etcd checks count here, the others would judge the wrapper;
// - manifests-dev, manifests-aws-dev: every Kubernetes object the program applies, in the dev plan (Aliyun, the
//   Kubernetes Dashboard) and the aws-dev plan with Headlamp and WireGuard (the other cloud, UI and backend).
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
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { etcdConfigPath, etcdUnitPath } from "../../render/etcd";
import { kubeadmConfigPaths } from "../../render/kubeadm";
import { pkiFiles } from "../../render/pki-files";
import { Plan, plan, projectDir } from "../support/plan";
import { hostFile, hostRoot, PlannedCluster, plannedCluster, vpcPrefixLength } from "../system/support/cluster";
import { output } from "../system/support/etcd";
import { Bind, run, systemTestSkipReason, TestNetwork } from "../system/support/netns";
import { toolchainBinary } from "../system/support/toolchain";
import {
    checkovSkipReason,
    compareWithAccepted,
    countsTable,
    etcdAsPod,
    Finding,
    readAccepted,
    runCheckov,
} from "./support/cis";

const acceptedFile = path.join(projectDir, "test/fixtures/cis-accepted.json");
const groups = ["control-plane", "etcd", "manifests-dev", "manifests-aws-dev"] as const;
/** checkov's etcd checks: the only ones that say something about a member run by systemd. */
const etcdChecks = ["CKV_K8S_116", "CKV_K8S_117", "CKV_K8S_118", "CKV_K8S_119", "CKV_K8S_121"];
const hostDirs = ["/etc/kubernetes", "/var/lib/kubelet"];

describe(
    "the CIS Kubernetes Benchmark on what the real kubeadm writes, etcd's files and every manifest the program applies",
    { skip: systemTestSkipReason() ?? checkovSkipReason() },
    () => {
        const network = new TestNetwork("kh-cis");
        let cluster: PlannedCluster;
        let other: Plan;
        let workDir: string;
        let master: string;
        let root: string;

        before(async () => {
            cluster = plannedCluster("dev");
            other = plan({
                stack: "aws-dev",
                config: { "kubeha:addons": { dashboard: "headlamp", cni: { backend: "wireguard" } } },
            });
            workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-cis-"));
            master = cluster.layout.find((host) => host.role === "master")!.name;
            root = hostRoot(cluster, master, workDir);
            for (const dir of hostDirs) fs.mkdirSync(path.join(root, dir), { recursive: true });
            const planned = cluster.layout.find((host) => host.name === master)!;
            await network.create(
                [{ name: master, ip: planned.privateIp, hostsFile: hostFile(cluster, master, "/etc/hosts") }],
                vpcPrefixLength(cluster),
            );
            // kubeadm init's phases that write files, as on the host (named as the host is: no --hostname-override).
            const binds: Bind[] = hostDirs.map((dir) => ({ source: path.join(root, dir), target: dir }));
            for (const phase of [
                ["certs", "all"],
                ["kubeconfig", "all"],
                ["control-plane", "all"],
                ["kubelet-start"],
            ]) {
                const argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', master];
                argv.push(toolchainBinary("kubeadm"), "init", "phase", ...phase, "--config", kubeadmConfigPaths.init);
                const result = await run(network.command(master, argv, binds), { timeoutMs: 120_000 });
                assert.equal(result.status, 0, `kubeadm init phase ${phase.join(" ")}\n${output(result)}`);
            }
        });

        after(async () => {
            await network.destroy();
            if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
        });

        test("checkov: every failed check is an accepted finding with its reason, and every accepted one still fails; counts per file group", () => {
            const scan = path.join(workDir, "scan");
            const copy = (group: string, from: string) => {
                fs.mkdirSync(path.join(scan, group), { recursive: true });
                for (const file of fs.readdirSync(from).filter((name) => name.endsWith(".yaml")))
                    fs.copyFileSync(path.join(from, file), path.join(scan, group, file));
            };
            copy("control-plane", path.join(root, "etc/kubernetes/manifests"));
            fs.mkdirSync(path.join(scan, "etcd"));
            for (const member of cluster.layout.filter((host) => host.etcdMember)) {
                const pod = etcdAsPod(
                    member.name,
                    hostFile(cluster, member.name, etcdUnitPath),
                    hostFile(cluster, member.name, etcdConfigPath),
                );
                fs.writeFileSync(path.join(scan, "etcd", `${member.name}.yaml`), toYaml(pod));
            }
            copy("manifests-dev", path.join(cluster.plan.dir, "manifests"));
            copy("manifests-aws-dev", path.join(other.dir, "manifests"));
            assert.deepEqual(fs.readdirSync(path.join(scan, "control-plane")).sort(), [
                "kube-apiserver.yaml",
                "kube-controller-manager.yaml",
                "kube-scheduler.yaml",
            ]);

            const findings: Finding[] = runCheckov(scan).filter(
                (item) => item.group !== "etcd" || etcdChecks.includes(item.check),
            );
            for (const group of groups) {
                assert.ok(
                    findings.some((item) => item.group === group && item.outcome === "passed"),
                    `checkov passed no check in ${group}: did it read the files?`,
                );
            }
            console.log(`checkov (CIS-mapped and workload checks), per file group:\n${countsTable(findings, groups)}`);
            const { unaccepted, stale } = compareWithAccepted(findings, readAccepted(acceptedFile));
            assert.deepEqual(
                unaccepted.map((item) => `${item.group} ${item.check} ${item.resource} (${item.name}; ${item.file})`),
                [],
                `failed checks not in ${path.relative(projectDir, acceptedFile)}: fix them, or list them with the reason`,
            );
            assert.deepEqual(stale, [], `accepted findings that no longer fail: remove them from ${acceptedFile}`);
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
            const planned = cluster.layout.find((host) => host.name === master)!;
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
