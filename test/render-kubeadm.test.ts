// The kubeadm documents (v1beta4) and the apiserver's encryption and audit files: apiVersions, kinds and
// every field issue 4 names, read back from the rendered YAML.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { resolveConfig } from "../config/resolve";
import {
    apiserverFiles,
    podSecurityExemptNamespaces,
    renderAdmissionConfig,
    renderEncryptionConfig,
} from "../render/apiserver-files";
import { renderKubeadmInit, renderKubeadmJoin, renderSchedulerConfig, schedulerFiles } from "../render/kubeadm";
import { configFor, layoutOf } from "./support/config";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const token = { token: "abc123.0123456789abcdef", ttl: "24h" };
const discovery = { token: token.token, caCertHash: `sha256:${"ab".repeat(32)}` };

const aliyun = configFor({ cloud: "aliyun", timezone: "Asia/Shanghai" });
const aliyunLayout = layoutOf(aliyun);
const master1 = aliyunLayout.find((host) => host.name === "master-1")!;

function documents(content: string): Doc[] {
    const docs = parseAllDocuments(content);
    for (const doc of docs) assert.deepEqual(doc.errors, []);
    return docs.map((doc) => doc.toJS() as Doc);
}

function byKind(docs: Doc[], kind: string): Doc {
    const found = docs.filter((doc) => doc.kind === kind);
    assert.equal(found.length, 1, kind);
    return found[0];
}

/** v1beta4 extraArgs as a name -> value map, after checking the list shape. */
function argMap(args: { name: string; value: string }[]): Record<string, string> {
    for (const arg of args) assert.deepEqual(Object.keys(arg).sort(), ["name", "value"]);
    assert.equal(new Set(args.map((arg) => arg.name)).size, args.length, "no flag twice");
    return Object.fromEntries(args.map((arg) => [arg.name, arg.value]));
}

describe("kubeadm init configuration (first master)", () => {
    const file = renderKubeadmInit(aliyun, aliyunLayout, master1, token, ["API-LB.example.COM"]);
    const docs = documents(file.content);
    const init = byKind(docs, "InitConfiguration");
    const cluster = byKind(docs, "ClusterConfiguration");
    const kubelet = byKind(docs, "KubeletConfiguration");
    const proxy = byKind(docs, "KubeProxyConfiguration");

    test("four documents with the right apiVersions; the file is secret", () => {
        assert.deepEqual(
            docs.map((doc) => `${doc.apiVersion} ${doc.kind}`),
            [
                "kubeadm.k8s.io/v1beta4 InitConfiguration",
                "kubeadm.k8s.io/v1beta4 ClusterConfiguration",
                "kubelet.config.k8s.io/v1beta1 KubeletConfiguration",
                "kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration",
            ],
        );
        assert.equal(file.mode, "0600");
        assert.equal(file.path, "/etc/kubernetes/kubeadm/init.yaml");
    });

    test("InitConfiguration: the given token, this master's name, address and containerd", () => {
        assert.deepEqual(init.bootstrapTokens.length, 1);
        assert.equal(init.bootstrapTokens[0].token, token.token);
        assert.equal(init.bootstrapTokens[0].ttl, "24h");
        assert.deepEqual(init.bootstrapTokens[0].usages, ["signing", "authentication"]);
        assert.equal(init.nodeRegistration.name, "master-1");
        assert.equal(init.nodeRegistration.criSocket, "unix:///run/containerd/containerd.sock");
        assert.deepEqual(argMap(init.nodeRegistration.kubeletExtraArgs), { "node-ip": master1.privateIp });
        // Masters keep kubeadm's NoSchedule taint (seed 002): no taints field overrides it.
        assert.equal(init.nodeRegistration.taints, undefined);
        assert.deepEqual(init.localAPIEndpoint, { advertiseAddress: master1.privateIp, bindPort: 6443 });
    });

    test("ClusterConfiguration: endpoint through the local proxy, mirror, version, networks, validity", () => {
        assert.equal(cluster.controlPlaneEndpoint, "apiserver.k8s.internal:8443");
        assert.equal(cluster.imageRepository, "registry.aliyuncs.com/google_containers");
        // The default minor's pinned patch: a label like stable-1.36 is resolved online, differently over time.
        assert.equal(cluster.kubernetesVersion, "v1.36.3");
        assert.deepEqual(cluster.networking, {
            podSubnet: "10.244.0.0/16",
            serviceSubnet: "10.96.0.0/12",
            dnsDomain: "cluster.local",
        });
        assert.equal(cluster.certificateValidityPeriod, `${aliyun.pki.certValidityHours}h`);
        assert.equal(cluster.caCertificateValidityPeriod, `${aliyun.pki.caValidityHours}h`);
        const exact = configFor({ cloud: "aws", kubernetesVersion: "1.37.2" });
        const exactCluster = byKind(
            documents(renderKubeadmInit(exact, layoutOf(exact), master1, token).content),
            "ClusterConfiguration",
        );
        assert.equal(exactCluster.kubernetesVersion, "v1.37.2");
        assert.equal(exactCluster.imageRepository, "registry.k8s.io");
    });

    test("CoreDNS: kubeadm's own unless mirrors.images.coredns sets dns.imageRepository and dns.imageTag", () => {
        assert.equal(cluster.dns, undefined);
        const clusterOf = (coredns: unknown) => {
            const overridden = configFor({ cloud: "aws", mirrors: { images: { coredns } } });
            const master = layoutOf(overridden).find((host) => host.name === "master-1")!;
            return byKind(
                documents(renderKubeadmInit(overridden, layoutOf(overridden), master, token).content),
                "ClusterConfiguration",
            );
        };
        assert.deepEqual(clusterOf({ repository: "registry.kubeha.lab/coredns", tag: "v1.14.2" }).dns, {
            imageRepository: "registry.kubeha.lab/coredns",
            imageTag: "v1.14.2",
        });
        // A whole reference: kubeadm appends the name itself (`<imageRepository>/coredns:<imageTag>`).
        assert.deepEqual(clusterOf("registry.example.com:5000/k8s/coredns:v1.14.2-site").dns, {
            imageRepository: "registry.example.com:5000/k8s",
            imageTag: "v1.14.2-site",
        });
        // The tag alone: kubeadm keeps taking the image from imageRepository (kubernetesImages).
        const tagOnly = clusterOf({ tag: "v1.14.2" });
        assert.deepEqual(tagOnly.dns, { imageTag: "v1.14.2" });
        assert.equal(tagOnly.imageRepository, "registry.k8s.io");
    });

    test("external etcd: every member by name over https, kubeadm's client certificate paths", () => {
        assert.equal(cluster.etcd.local, undefined);
        assert.deepEqual(cluster.etcd.external, {
            endpoints: [
                "https://master-1.k8s.internal:2379",
                "https://master-2.k8s.internal:2379",
                "https://master-3.k8s.internal:2379",
            ],
            caFile: "/etc/kubernetes/pki/etcd/ca.crt",
            certFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt",
            keyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key",
        });
        const dedicated = configFor({ cloud: "aws", etcd: '{"dedicated": true}' });
        const dedicatedCluster = byKind(
            documents(renderKubeadmInit(dedicated, layoutOf(dedicated), master1, token).content),
            "ClusterConfiguration",
        );
        assert.deepEqual(dedicatedCluster.etcd.external.endpoints, [
            "https://etcd-1.k8s.internal:2379",
            "https://etcd-2.k8s.internal:2379",
            "https://etcd-3.k8s.internal:2379",
        ]);
    });

    test("apiServer: certSANs, encryption at rest, the audit policy and seed 001's log rotation, the admission configuration, no anonymous-auth flag", () => {
        assert.deepEqual(cluster.apiServer.certSANs, [
            "apiserver.k8s.internal",
            "master-1.k8s.internal",
            "master-1",
            "master-2.k8s.internal",
            "master-2",
            "master-3.k8s.internal",
            "master-3",
            "127.0.0.1",
            "api-lb.example.com",
        ]);
        // The whole set: a flag dropped, added or changed is a decision, not an accident.
        assert.deepEqual(argMap(cluster.apiServer.extraArgs), {
            "admission-control-config-file": "/etc/kubernetes/admission/admission-config.yaml",
            "audit-log-maxage": "15",
            "audit-log-maxbackup": "3",
            "audit-log-maxsize": "100",
            "audit-log-path": "/var/log/kubernetes/audit/audit.log",
            "audit-log-truncate-enabled": "true",
            "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
            "default-not-ready-toleration-seconds": "60",
            "default-unreachable-toleration-seconds": "60",
            "delete-collection-workers": "2",
            "encryption-provider-config": "/etc/kubernetes/encryption/encryption-config.yaml",
            "encryption-provider-config-automatic-reload": "true",
            "enable-admission-plugins": "NodeRestriction,DenyServiceExternalIPs,NamespaceLifecycle,ServiceAccount",
            "kubelet-certificate-authority": "/etc/kubernetes/pki/ca.crt",
            "kubelet-timeout": "10s",
            "service-account-lookup": "true",
            profiling: "false",
        });
        // No anonymous-auth=false above: kubeadm's probes need anonymous /livez and /readyz.
        const names = cluster.apiServer.extraArgs.map((arg: { name: string }) => arg.name);
        assert.deepEqual(names, [...names].sort(), "sorted: the file never reorders");
        // Every file the flags name is inside a mounted host directory.
        const volumes: Doc[] = cluster.apiServer.extraVolumes;
        for (const file of [
            apiserverFiles.encryptionConfig,
            apiserverFiles.auditPolicy,
            apiserverFiles.auditLog,
            apiserverFiles.admissionConfig,
        ]) {
            const volume = volumes.find((each) => file.startsWith(`${each.hostPath}/`));
            assert.ok(volume, `${file} is mounted`);
            assert.equal(volume.mountPath, volume.hostPath);
        }
        const logVolume = volumes.find((each) => each.hostPath === apiserverFiles.auditLogDir)!;
        assert.equal(logVolume.readOnly, undefined, "the apiserver writes its audit log");
        assert.equal(logVolume.pathType, "DirectoryOrCreate");
        for (const each of volumes.filter((volume) => volume !== logVolume)) assert.equal(each.readOnly, true);
    });

    test("kubeadm's own keys are ECDSA P-256 like the program's PKI, not its default RSA-2048", () => {
        assert.equal(cluster.encryptionAlgorithm, "ECDSA-P256");
    });

    test("masters' kubelets talk to their own apiserver: kubeadm's ControlPlaneKubeletLocalMode stays on", () => {
        assert.equal(cluster.featureGates?.ControlPlaneKubeletLocalMode, undefined, "kubeadm's default (on) applies");
    });

    test("scheduler: profiling off through its configuration file, not the deprecated --profiling flag", () => {
        assert.deepEqual(argMap(cluster.scheduler.extraArgs), { config: schedulerFiles.config });
        const volume = (cluster.scheduler.extraVolumes as Doc[]).find((each) =>
            schedulerFiles.config.startsWith(`${each.hostPath}/`),
        );
        assert.equal(cluster.scheduler.extraVolumes.length, 2, "its config directory and localtime");
        assert.deepEqual(volume, {
            name: "scheduler-config",
            hostPath: schedulerFiles.dir,
            mountPath: schedulerFiles.dir,
            readOnly: true,
            pathType: "Directory",
        });
        const file = renderSchedulerConfig();
        assert.equal(file.path, schedulerFiles.config);
        // With --config the scheduler ignores kubeadm's --kubeconfig and --leader-elect: the file must say them.
        assert.deepEqual(parseYaml(file.content), {
            apiVersion: "kubescheduler.config.k8s.io/v1",
            kind: "KubeSchedulerConfiguration",
            clientConnection: { kubeconfig: "/etc/kubernetes/scheduler.conf" },
            leaderElection: { leaderElect: true },
            enableProfiling: false,
            enableContentionProfiling: false,
        });
    });

    test("controllerManager: its whole flag set; node-monitor tuning from config, no removed --pod-eviction-timeout", () => {
        // Upstream's grace-period default since 1.32 (kubernetes PR #126287): seed 000's 10 s and the old 40 s flap nodes.
        assert.deepEqual(argMap(cluster.controllerManager.extraArgs), {
            "cluster-signing-duration": "8760h",
            "node-monitor-grace-period": "50s",
            "node-monitor-period": "3s",
            profiling: "false",
            "terminated-pod-gc-threshold": "1000",
        });
        assert.equal(aliyun.pki.certValidityHours, 8760, "kubelet certificates live as long as every other leaf");
        const localtime = {
            name: "localtime",
            hostPath: "/etc/localtime",
            mountPath: "/etc/localtime",
            readOnly: true,
            pathType: "File",
        };
        assert.deepEqual(cluster.controllerManager.extraVolumes, [localtime]);
        assert.deepEqual((cluster.scheduler.extraVolumes as Doc[]).at(-1), localtime);
        const tuned = configFor({
            cloud: "aws",
            controlPlane:
                '{"nodeMonitorGracePeriodSeconds": 60, "nodeMonitorPeriodSeconds": 5, "podEvictionTimeoutSeconds": 30}',
        });
        const tunedCluster = byKind(
            documents(renderKubeadmInit(tuned, layoutOf(tuned), master1, token).content),
            "ClusterConfiguration",
        );
        assert.equal(argMap(tunedCluster.controllerManager.extraArgs)["node-monitor-grace-period"], "60s");
        assert.equal(argMap(tunedCluster.controllerManager.extraArgs)["node-monitor-period"], "5s");
        assert.equal(argMap(tunedCluster.apiServer.extraArgs)["default-unreachable-toleration-seconds"], "30");
    });

    test("the config refuses seed 000's 10s grace period, which makes healthy nodes flap", () => {
        const result = resolveConfig({
            values: { cloud: "aws", controlPlane: '{"nodeMonitorGracePeriodSeconds": 10}' },
            regions: { aws: "eu-central-1" },
        });
        assert.equal(result.ok, false);
        assert.match(
            result.ok ? "" : result.problems.join("\n"),
            /controlPlane\.nodeMonitorGracePeriodSeconds: must be at least 50: a kubelet takes up to ~45 s/,
        );
    });

    test("KubeletConfiguration: hardened as seed 004, systemd cgroups, log rotation, eviction", () => {
        assert.deepEqual(kubelet.authentication, {
            anonymous: { enabled: false },
            webhook: { enabled: true },
            x509: { clientCAFile: "/etc/kubernetes/pki/ca.crt" },
        });
        assert.deepEqual(kubelet.authorization, { mode: "Webhook" });
        assert.equal(kubelet.readOnlyPort, 0);
        assert.equal(kubelet.rotateCertificates, true);
        assert.equal(kubelet.serverTLSBootstrap, true);
        assert.equal(kubelet.cgroupDriver, "systemd");
        assert.equal(kubelet.resolvConf, "/run/systemd/resolve/resolv.conf");
        assert.equal(kubelet.serializeImagePulls, false);
        assert.equal(kubelet.maxPods, 220);
        assert.equal(kubelet.containerLogMaxSize, "20Mi");
        assert.equal(kubelet.containerLogMaxFiles, 10);
        assert.deepEqual(kubelet.evictionHard, {
            "memory.available": "100Mi",
            "nodefs.available": "10%",
            "nodefs.inodesFree": "5%",
            "imagefs.available": "15%",
        });
        // The grace period (50 s) outlasts a kubelet's reconnect (up to ~45 s, then it reports at once).
        assert.equal(kubelet.nodeStatusUpdateFrequency, "10s");
        assert.equal(aliyun.controlPlane.nodeMonitorGracePeriodSeconds, 50);
    });

    test("KubeProxyConfiguration: nftables by default; ipvs with seed 000's scheduler and sync periods", () => {
        assert.equal(proxy.mode, "nftables");
        assert.equal(proxy.ipvs, undefined);
        assert.equal(proxy.clusterCIDR, "10.244.0.0/16");
        const ipvs = configFor({ cloud: "aws", kubeProxyMode: "ipvs" });
        const ipvsProxy = byKind(
            documents(renderKubeadmInit(ipvs, layoutOf(ipvs), master1, token).content),
            "KubeProxyConfiguration",
        );
        assert.equal(ipvsProxy.mode, "ipvs");
        assert.deepEqual(ipvsProxy.ipvs, { scheduler: "lc", minSyncPeriod: "5s", syncPeriod: "15s" });
    });

    test("refuses a malformed token and a host that is not a master", () => {
        assert.throws(() => renderKubeadmInit(aliyun, aliyunLayout, master1, { token: "abcdef", ttl: "24h" }));
        const worker = aliyunLayout.find((host) => host.role === "worker")!;
        assert.throws(() => renderKubeadmInit(aliyun, aliyunLayout, worker, token));
    });
});

describe("kubeadm join configuration", () => {
    const master2 = aliyunLayout.find((host) => host.name === "master-2")!;
    const worker1 = aliyunLayout.find((host) => host.name === "worker-1")!;

    test("another master: a control-plane instance at its own address, discovery through the local proxy", () => {
        const file = renderKubeadmJoin(aliyun, master2, discovery);
        assert.equal(file.mode, "0600");
        const [join, ...rest] = documents(file.content);
        assert.equal(rest.length, 0);
        assert.equal(join.apiVersion, "kubeadm.k8s.io/v1beta4");
        assert.equal(join.kind, "JoinConfiguration");
        assert.deepEqual(join.discovery, {
            bootstrapToken: {
                token: discovery.token,
                apiServerEndpoint: "apiserver.k8s.internal:8443",
                caCertHashes: [discovery.caCertHash],
            },
        });
        assert.deepEqual(join.controlPlane, {
            localAPIEndpoint: { advertiseAddress: master2.privateIp, bindPort: 6443 },
        });
        assert.equal(join.nodeRegistration.name, "master-2");
        assert.equal(join.nodeRegistration.ignorePreflightErrors, undefined);
    });

    test("ignorePreflightErrors reaches init and every join, beside a worker's own", () => {
        const ignoring = configFor({ cloud: "aliyun", ignorePreflightErrors: ["SystemVerification"] });
        const [init] = documents(renderKubeadmInit(ignoring, layoutOf(ignoring), master1, token).content);
        assert.deepEqual(init.nodeRegistration.ignorePreflightErrors, ["SystemVerification"]);
        const [master] = documents(renderKubeadmJoin(ignoring, master2, discovery).content);
        assert.deepEqual(master.nodeRegistration.ignorePreflightErrors, ["SystemVerification"]);
        const [worker] = documents(renderKubeadmJoin(ignoring, worker1, discovery).content);
        assert.deepEqual(worker.nodeRegistration.ignorePreflightErrors, [
            "SystemVerification",
            "FileAvailable--etc-kubernetes-pki-ca.crt",
        ]);
        const [plain] = documents(renderKubeadmInit(aliyun, aliyunLayout, master1, token).content);
        assert.equal(plain.nodeRegistration.ignorePreflightErrors, undefined);
    });

    test("a worker: no control plane, its own name and address", () => {
        const [join] = documents(renderKubeadmJoin(aliyun, worker1, discovery).content);
        assert.equal(join.controlPlane, undefined);
        assert.equal(join.nodeRegistration.name, "worker-1");
        assert.deepEqual(argMap(join.nodeRegistration.kubeletExtraArgs), { "node-ip": worker1.privateIp });
        assert.equal(join.discovery.bootstrapToken.apiServerEndpoint, "apiserver.k8s.internal:8443");
    });

    test("with a provider id the kubelet runs with the external cloud provider and that id; without, neither", () => {
        const providerId = "aws:///eu-central-1a/i-0123456789abcdef0";
        const [join] = documents(renderKubeadmJoin(aliyun, { ...worker1, providerId }, discovery).content);
        assert.deepEqual(argMap(join.nodeRegistration.kubeletExtraArgs), {
            "node-ip": worker1.privateIp,
            "cloud-provider": "external",
            "provider-id": providerId,
        });
        const [init] = documents(renderKubeadmInit(aliyun, aliyunLayout, { ...master1, providerId }, token).content);
        assert.equal(argMap(init.nodeRegistration.kubeletExtraArgs)["provider-id"], providerId);
        const [plain] = documents(renderKubeadmInit(aliyun, aliyunLayout, master1, token).content);
        assert.deepEqual(argMap(plain.nodeRegistration.kubeletExtraArgs), { "node-ip": master1.privateIp });
    });

    test("refuses a malformed CA hash", () => {
        assert.throws(() => renderKubeadmJoin(aliyun, worker1, { ...discovery, caCertHash: "sha256:xyz" }));
    });
});

describe("apiserver files", () => {
    test("EncryptionConfiguration: secretbox first with the given key, identity to read old data", () => {
        const key = randomBytes(32).toString("base64");
        const file = renderEncryptionConfig(key);
        assert.equal(file.mode, "0600");
        const config = parseYaml(file.content);
        assert.equal(config.apiVersion, "apiserver.config.k8s.io/v1");
        assert.equal(config.kind, "EncryptionConfiguration");
        assert.deepEqual(config.resources, [
            {
                resources: ["secrets"],
                providers: [{ secretbox: { keys: [{ name: "key1", secret: key }] } }, { identity: {} }],
            },
        ]);
        assert.throws(() => renderEncryptionConfig(randomBytes(16).toString("base64")), /32 random bytes/);
    });
});

describe("the apiserver's admission configuration: Pod Security's defaults", () => {
    const podSecurity = (content: string) => {
        const config = parseYaml(content) as Doc;
        assert.equal(config.apiVersion, "apiserver.config.k8s.io/v1");
        assert.equal(config.kind, "AdmissionConfiguration");
        assert.deepEqual(
            config.plugins.map((plugin: Doc) => plugin.name),
            ["PodSecurity"],
        );
        const { configuration } = config.plugins[0];
        assert.equal(configuration.apiVersion, "pod-security.admission.config.k8s.io/v1");
        assert.equal(configuration.kind, "PodSecurityConfiguration");
        return configuration;
    };

    test("baseline enforced by default, restricted audited and warned, kube-system exempt; at its mounted path", () => {
        const file = renderAdmissionConfig(aliyun.podSecurity.enforce);
        assert.equal(file.path, apiserverFiles.admissionConfig);
        assert.equal(file.mode, "0644");
        const { defaults, exemptions } = podSecurity(file.content);
        assert.deepEqual(defaults, {
            enforce: "baseline",
            "enforce-version": "latest",
            audit: "restricted",
            "audit-version": "latest",
            warn: "restricted",
            "warn-version": "latest",
        });
        assert.deepEqual(exemptions, { usernames: [], runtimeClasses: [], namespaces: ["kube-system"] });
        assert.deepEqual([...podSecurityExemptNamespaces], ["kube-system"]);
    });

    test("podSecurity.enforce sets the enforced level; anything but the three levels is refused, naming the key", () => {
        for (const level of ["privileged", "restricted"] as const) {
            const config = configFor({ cloud: "aws", podSecurity: { enforce: level } });
            assert.equal(
                podSecurity(renderAdmissionConfig(config.podSecurity.enforce).content).defaults.enforce,
                level,
            );
        }
        const result = resolveConfig({
            values: { cloud: "aws", podSecurity: JSON.stringify({ enforce: "strict" }) },
            regions: { aws: "eu-central-1" },
        });
        assert.equal(result.ok, false);
        assert.match(
            (result as { problems: string[] }).problems.join("\n"),
            /podSecurity\.enforce.*must be one of privileged, baseline, restricted/,
        );
    });
});
