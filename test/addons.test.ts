// The addons (flannel and the web UI) as the offline plan shows them: every object in manifests/ validated
// against the Kubernetes OpenAPI schemas (kubernetes-models), and checked against the rest of the cluster
// (kubeadm's pod subnet, the security groups, the mirror preset, secret outputs, the chosen UI).
// What the plan does not record (the provider each object uses, a token the cluster would issue) is checked
// on the component itself, in-process under the same mock runtime.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ClusterAddons } from "../components/addons";
import { clusterLayout } from "../config/layout";
import { mirroredImage } from "../config/mirrors";
import { flannelPort } from "../config/ports";
import { ClusterConfig } from "../config/resolve";
import { addonImages, cloudIntegrationImages, pauseImageTag } from "../config/versions";
import { loadStackConfig } from "../config/stack";
import { KubehaMocks } from "../plan/mocks";
import { Recorder, secretPlaceholder } from "../plan/recorder";
import { PlannedResource, plannedResources, readStackConfig } from "../plan/run";
import { cloudOf } from "../clouds";
import { podSecurityExemptNamespaces } from "../render/apiserver-files";
import { flannelBackend, flannelNetConf } from "../render/flannel";
import { clusterConfiguration } from "../render/kubeadm";
import { Plan, plan, projectDir } from "./support/plan";

interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string> };
    [field: string]: unknown;
}

type Figures = Partial<Record<"cpu" | "memory", string>>;
interface PodSpec {
    containers: { name: string; image: string; resources?: { requests?: Figures; limits?: Figures } }[];
    initContainers?: { name: string; image: string }[];
}

const mirrorOverride = {
    flannelImages: "registry.example.cn/flannel-io",
    dashboardImages: "registry.example.cn/kubernetesui",
    cloudImages: "registry.example.cn/acs",
};

/** The plans these tests read: each UI choice, both backends, both clouds, a mirror override, another pod CIDR. */
const scenarios = {
    dashboard: { stack: "dev", changes: {} },
    headlamp: {
        stack: "dev",
        changes: {
            "kubeha:addons": { dashboard: "headlamp", cni: { backend: "wireguard" }, longLivedDashboardToken: true },
            "kubeha:mirrors": mirrorOverride,
        },
    },
    none: {
        stack: "dev",
        changes: {
            "kubeha:addons": { dashboard: "none" },
            "kubeha:network": { podCidr: "10.200.0.0/16" },
            "kubeha:cloudIntegration": false,
        },
    },
    aws: { stack: "aws-dev", changes: {} },
    mirrored: { stack: "dev", changes: { "kubeha:mirrors": mirrorOverride } },
} as const;
type Scenario = (typeof scenarios)[keyof typeof scenarios];

function planOf(scenario: Scenario, showSecrets = false): Plan {
    return plan({ stack: scenario.stack, config: scenario.changes, showSecrets });
}

/** manifests/*.yaml of a plan, parsed. Written with secrets shown: a redacted Secret's data is "[secret]", not a map. */
function objectsOf(scenario: Scenario): KubeObject[] {
    const dir = path.join(planOf(scenario, true).dir, "manifests");
    return fs.readdirSync(dir).map((file) => parseYaml(fs.readFileSync(path.join(dir, file), "utf8")));
}

/** The stack's configuration as the program resolves it (Pulumi.<stack>.yaml over Pulumi.yaml, then validated). */
function configOf(scenario: Scenario): ClusterConfig {
    const { config: raw } = readStackConfig(projectDir, scenario.stack);
    for (const [key, value] of Object.entries(scenario.changes)) raw[key] = JSON.stringify(value);
    pulumi.runtime.setAllConfig(raw);
    return loadStackConfig().config;
}

function find(objects: KubeObject[], kind: string, name: string): KubeObject {
    const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
    assert.ok(found, `no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
    return found;
}

function podSpecs(objects: KubeObject[]): PodSpec[] {
    return objects
        .filter((object) => ["DaemonSet", "Deployment", "StatefulSet", "Job"].includes(object.kind))
        .map((object) => (object.spec as { template: { spec: PodSpec } }).template.spec);
}

function images(objects: KubeObject[]): string[] {
    return podSpecs(objects).flatMap((spec) =>
        [...spec.containers, ...(spec.initContainers ?? [])].map((container) => container.image),
    );
}

function netConf(objects: KubeObject[]): { Network: string; Backend: Record<string, unknown> } {
    const configMap = find(objects, "ConfigMap", "kube-flannel-cfg") as KubeObject & { data: Record<string, string> };
    return JSON.parse(configMap.data["net-conf.json"]);
}

/** The model class kubernetes-models has for an object's apiVersion and kind (core "v1" lives at kubernetes-models/v1). */
function modelFor(object: KubeObject): (new (data: unknown) => { validate(): void }) | undefined {
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(`kubernetes-models/${object.apiVersion}`)[object.kind];
    } catch {
        return undefined;
    }
}

describe("every object in manifests/ validates against the Kubernetes OpenAPI schemas", () => {
    for (const [name, scenario] of Object.entries(scenarios)) {
        test(name, () => {
            const objects = objectsOf(scenario);
            assert.ok(objects.length >= 6);
            for (const object of objects) {
                const Model = modelFor(object);
                assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}: cannot validate it`);
                assert.doesNotThrow(
                    () => new Model(object).validate(),
                    `${object.kind} ${object.metadata.name} does not match the schema`,
                );
            }
        });
    }

    test("the validation rejects a broken object (it is not vacuous)", () => {
        const daemonSet = structuredClone(find(objectsOf(scenarios.dashboard), "DaemonSet", "kube-flannel-ds"));
        (daemonSet.spec as { selector?: unknown }).selector = undefined;
        const Model = modelFor(daemonSet)!;
        assert.throws(() => new Model(daemonSet).validate(), /selector/);
    });

    test("every object the program applies is in manifests/", () => {
        const planned = planOf(scenarios.dashboard).resources.filter((r) => r.type.startsWith("kubernetes:"));
        assert.equal(objectsOf(scenarios.dashboard).length, planned.length);
    });
});

describe("flannel", () => {
    test("Network is kubeadm's podSubnet, for the default and for another pod CIDR", () => {
        for (const scenario of [scenarios.dashboard, scenarios.none]) {
            const config = configOf(scenario);
            const layout = clusterLayout(config, 3);
            const { networking } = clusterConfiguration(config, layout) as { networking: { podSubnet: string } };
            assert.equal(netConf(objectsOf(scenario)).Network, networking.podSubnet);
        }
        assert.equal(netConf(objectsOf(scenarios.none)).Network, "10.200.0.0/16");
    });

    test("the upstream DaemonSet: CNI init containers, flanneld flags, xtables lock, tolerations, priority", () => {
        const objects = objectsOf(scenarios.dashboard);
        const namespace = find(objects, "Namespace", "kube-flannel");
        assert.equal(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"], "privileged");
        const daemonSet = find(objects, "DaemonSet", "kube-flannel-ds");
        assert.equal(daemonSet.metadata.namespace, "kube-flannel");
        const spec = (daemonSet.spec as { template: { spec: Record<string, unknown> & PodSpec } }).template.spec;
        assert.deepEqual(
            spec.initContainers?.map((container) => container.name),
            ["install-cni-plugin", "install-cni"],
        );
        const flanneld = spec.containers[0] as PodSpec["containers"][0] & Record<string, unknown>;
        assert.deepEqual(
            [flanneld.command, flanneld.args],
            [["/opt/bin/flanneld"], ["--ip-masq", "--kube-subnet-mgr"]],
        );
        assert.deepEqual(flanneld.resources, { requests: { cpu: "100m", memory: "50Mi" } });
        const volumes = spec.volumes as { name: string; hostPath?: { path: string; type?: string } }[];
        assert.deepEqual(volumes.find((volume) => volume.name === "xtables-lock")?.hostPath, {
            path: "/run/xtables.lock",
            type: "FileOrCreate",
        });
        assert.equal(spec.priorityClassName, "system-node-critical");
        assert.equal(spec.hostNetwork, true);
        assert.deepEqual(spec.tolerations, [{ effect: "NoSchedule", operator: "Exists" }]);
        assert.equal(spec.serviceAccountName, find(objects, "ServiceAccount", "flannel").metadata.name);
        const binding = find(objects, "ClusterRoleBinding", "flannel") as KubeObject & {
            subjects: { name: string; namespace: string }[];
        };
        assert.deepEqual(binding.subjects[0], { kind: "ServiceAccount", name: "flannel", namespace: "kube-flannel" });
    });

    test("net-conf.json: vxlan on its Linux port by default, wireguard with its documented ListenPort", () => {
        assert.deepEqual(JSON.parse(flannelNetConf("10.244.0.0/16", "vxlan")), {
            Network: "10.244.0.0/16",
            EnableNFTables: false,
            Backend: { Type: "vxlan", Port: 8472 },
        });
        assert.deepEqual(flannelBackend("wireguard"), { Type: "wireguard", ListenPort: 51820 });
    });
});

describe("Pod Security: where each workload runs", () => {
    test("every workload is in a namespace Pod Security exempts (kube-system) or one the program creates with its level", () => {
        const levels: Record<string, string> = {};
        for (const scenario of Object.values(scenarios)) {
            const objects = objectsOf(scenario);
            const labelled = new Map(
                objects
                    .filter((object) => object.kind === "Namespace")
                    .map((object) => [
                        object.metadata.name,
                        object.metadata.labels?.["pod-security.kubernetes.io/enforce"] ?? "none",
                    ]),
            );
            for (const object of objects.filter((o) =>
                ["DaemonSet", "Deployment", "StatefulSet", "Job"].includes(o.kind),
            )) {
                const namespace = object.metadata.namespace!;
                levels[`${object.kind}/${namespace}/${object.metadata.name}`] = (
                    podSecurityExemptNamespaces as readonly string[]
                ).includes(namespace)
                    ? "exempt"
                    : (labelled.get(namespace) ?? "not created by the plan");
            }
        }
        // flanneld needs host networking, host paths and NET_ADMIN; the UIs hold a cluster-admin login and meet
        // restricted.
        assert.deepEqual(levels, {
            "DaemonSet/kube-flannel/kube-flannel-ds": "privileged",
            "DaemonSet/kube-system/cloud-controller-manager": "exempt",
            "DaemonSet/kube-system/csi-plugin": "exempt",
            "DaemonSet/kube-system/ebs-csi-node": "exempt",
            "DaemonSet/kube-system/aws-cloud-controller-manager": "exempt",
            "Deployment/kube-system/csi-provisioner": "exempt",
            "Deployment/kube-system/ebs-csi-controller": "exempt",
            "Deployment/headlamp/headlamp": "restricted",
            "Deployment/kubernetes-dashboard/dashboard-metrics-scraper": "restricted",
            "Deployment/kubernetes-dashboard/kubernetes-dashboard": "restricted",
        });
    });
});

describe("every workload's security contexts, exactly", () => {
    /** `<kind>/<name>` → the pod's securityContext and each container's (init containers first), by name. */
    function securityContexts(objects: KubeObject[]): Record<string, unknown> {
        const contexts: Record<string, unknown> = {};
        for (const object of objects.filter((o) =>
            ["DaemonSet", "Deployment", "StatefulSet", "Job"].includes(o.kind),
        )) {
            type Container = { name: string; securityContext?: unknown };
            const spec = (object.spec as { template: { spec: Record<string, unknown> } }).template.spec;
            const containers = [
                ...((spec.initContainers as Container[] | undefined) ?? []),
                ...(spec.containers as Container[]),
            ];
            contexts[`${object.kind}/${object.metadata.name}`] = {
                pod: spec.securityContext ?? null,
                ...Object.fromEntries(containers.map((c) => [c.name, c.securityContext ?? null])),
            };
        }
        return contexts;
    }

    const flannel = {
        pod: null,
        // Upstream's: the init containers copy files as root; flanneld needs only these two capabilities.
        "install-cni-plugin": null,
        "install-cni": null,
        "kube-flannel": { capabilities: { add: ["NET_ADMIN", "NET_RAW"] }, privileged: false },
    };
    // Upstream's: the disk plugin mounts devices on the host (privileged); the controller runs as non-root.
    const readOnlyRoot = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true };
    const aliyunIntegration = {
        "DaemonSet/cloud-controller-manager": { pod: null, "cloud-controller-manager": null },
        "DaemonSet/csi-plugin": {
            pod: null,
            "disk-driver-registrar": null,
            "csi-plugin": { privileged: true, allowPrivilegeEscalation: true },
        },
        "Deployment/csi-provisioner": {
            pod: { runAsNonRoot: true, runAsUser: 65532 },
            "csi-provisioner": readOnlyRoot,
            "external-disk-provisioner": readOnlyRoot,
            "external-disk-attacher": readOnlyRoot,
            "external-disk-resizer": readOnlyRoot,
        },
    };
    const dashboardContainer = {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 1001,
        runAsGroup: 2001,
    };

    test("kubernetes-dashboard: RuntimeDefault seccomp, non-root, no capabilities, read-only root, no privilege escalation", () => {
        assert.deepEqual(securityContexts(objectsOf(scenarios.dashboard)), {
            "DaemonSet/kube-flannel-ds": flannel,
            ...aliyunIntegration,
            "Deployment/kubernetes-dashboard": {
                pod: { seccompProfile: { type: "RuntimeDefault" } },
                "kubernetes-dashboard": dashboardContainer,
            },
            "Deployment/dashboard-metrics-scraper": {
                pod: { seccompProfile: { type: "RuntimeDefault" } },
                "dashboard-metrics-scraper": dashboardContainer,
            },
        });
    });

    test("headlamp and none: Headlamp runs as its chart runs it, non-root with a read-only root; flannel's are the same everywhere", () => {
        assert.deepEqual(securityContexts(objectsOf(scenarios.headlamp)), {
            "DaemonSet/kube-flannel-ds": flannel,
            ...aliyunIntegration,
            "Deployment/headlamp": {
                pod: { seccompProfile: { type: "RuntimeDefault" } },
                headlamp: {
                    allowPrivilegeEscalation: false,
                    capabilities: { drop: ["ALL"] },
                    privileged: false,
                    readOnlyRootFilesystem: true,
                    runAsNonRoot: true,
                    runAsUser: 100,
                    runAsGroup: 101,
                },
            },
        });
        assert.deepEqual(securityContexts(objectsOf(scenarios.none)), { "DaemonSet/kube-flannel-ds": flannel });
    });

    test("every UI container requests CPU and memory and is limited in both (CIS 5.7 / checkov CKV_K8S_10-13)", () => {
        for (const scenario of [scenarios.dashboard, scenarios.headlamp]) {
            const containers = podSpecs(objectsOf(scenario)).flatMap((spec) => spec.containers);
            const ui = containers.filter((c) => /dashboard|headlamp/.test(c.name));
            assert.ok(ui.length > 0);
            for (const container of ui) {
                const { requests, limits } = container.resources ?? {};
                for (const figures of [requests, limits])
                    assert.deepEqual(Object.keys(figures ?? {}).sort(), ["cpu", "memory"], container.name);
            }
        }
    });

    test("the AWS cloud controller manager and EBS CSI driver: upstream's, the node plugin alone privileged", () => {
        const readOnly = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true };
        assert.deepEqual(securityContexts(objectsOf(scenarios.aws)), {
            "DaemonSet/kube-flannel-ds": flannel,
            "DaemonSet/aws-cloud-controller-manager": { pod: null, "aws-cloud-controller-manager": null },
            "Deployment/ebs-csi-controller": {
                pod: { fsGroup: 1000, runAsGroup: 1000, runAsNonRoot: true, runAsUser: 1000 },
                "ebs-plugin": readOnly,
                "csi-provisioner": readOnly,
                "csi-attacher": readOnly,
                "csi-resizer": readOnly,
                "liveness-probe": readOnly,
            },
            "DaemonSet/ebs-csi-node": {
                pod: { fsGroup: 0, runAsGroup: 0, runAsNonRoot: false, runAsUser: 0 },
                "ebs-plugin": { privileged: true, readOnlyRootFilesystem: true },
                "node-driver-registrar": readOnly,
                "liveness-probe": readOnly,
            },
            "Deployment/kubernetes-dashboard": {
                pod: { seccompProfile: { type: "RuntimeDefault" } },
                "kubernetes-dashboard": dashboardContainer,
            },
            "Deployment/dashboard-metrics-scraper": {
                pod: { seccompProfile: { type: "RuntimeDefault" } },
                "dashboard-metrics-scraper": dashboardContainer,
            },
        });
    });
});

describe("flannel's backend port is the one the security groups open", () => {
    const cases: [string, Scenario][] = [
        ["Aliyun, vxlan", scenarios.dashboard],
        ["Aliyun, wireguard", scenarios.headlamp],
        ["AWS, vxlan", scenarios.aws],
    ];
    for (const [name, scenario] of cases) {
        test(name, () => {
            const backend = netConf(objectsOf(scenario)).Backend;
            assert.equal(backend.Type, configOf(scenario).addons.cni.backend);
            const port = backend.Type === "vxlan" ? backend.Port : backend.ListenPort;
            const opened = planOf(scenario)
                .resources.filter((resource) => /SecurityGroup(Ingress)?Rule$/.test(resource.type))
                .filter((resource) => /flannel/.test(resource.name))
                .map(firewallPort);
            assert.ok(opened.length >= 2, `no flannel rules in the ${scenario.stack} plan`);
            for (const rule of opened) assert.deepEqual(rule, { protocol: "udp", from: port, to: port });
            assert.equal(port, flannelPort(backend.Type as "vxlan" | "wireguard").from);
        });
    }
});

/** The port range a planned security-group rule opens, on either cloud. */
function firewallPort(rule: PlannedResource): { protocol: string; from: number; to: number } {
    const inputs = rule.inputs as Record<string, string | number>;
    if (rule.type.startsWith("alicloud:")) {
        const [from, to] = String(inputs.portRange).split("/").map(Number);
        return { protocol: String(inputs.ipProtocol), from, to };
    }
    return { protocol: String(inputs.ipProtocol), from: Number(inputs.fromPort), to: Number(inputs.toPort) };
}

describe("images are pinned and follow the mirror preset", () => {
    const cases: [string, Scenario, "dashboardImages" | "headlampImages"][] = [
        ["kubernetes-dashboard, china preset", scenarios.dashboard, "dashboardImages"],
        ["kubernetes-dashboard, global preset (AWS)", scenarios.aws, "dashboardImages"],
        ["headlamp, flannel and dashboard mirrors overridden", scenarios.headlamp, "headlampImages"],
    ];
    for (const [name, scenario, uiMirror] of cases) {
        test(name, () => {
            const config = configOf(scenario);
            const { mirrors } = config;
            const cloudImages = Object.values(cloudIntegrationImages[config.cloud as "aws" | "aliyun"]).map((image) =>
                mirroredImage(image, mirrors.cloudImages),
            );
            const all = images(objectsOf(scenario));
            assert.ok(all.length >= 3);
            for (const image of all) {
                const repository = image.slice(0, image.lastIndexOf("/"));
                if (cloudImages.includes(image)) {
                    // The cloud integration's images: a release tag (no digest could be established for them yet).
                    assert.match(image, /:v\d+\.\d+\.\d+(-[a-z0-9.]+)?$/, `${image} is not pinned to a release`);
                    continue;
                }
                assert.ok([mirrors.flannelImages, mirrors[uiMirror]].includes(repository), image);
                // The release tag for people, the digest for containerd (which pulls the digest).
                assert.match(
                    image,
                    /\/[a-z0-9-]+:v\d+\.\d+\.\d+(-[a-z0-9]+)?@sha256:[0-9a-f]{64}$/,
                    `${image} is not pinned to a release and a digest`,
                );
            }
        });
    }

    test("every image has a digest of its own, the same in every plan", () => {
        // The cloud integration's images are pinned by tag only (config/versions.ts says why).
        const cloudImageNames = new Set(
            [...Object.values(cloudIntegrationImages.aws), ...Object.values(cloudIntegrationImages.aliyun)].map(
                (image) => image.slice(image.lastIndexOf("/") + 1),
            ),
        );
        const digestOf = new Map<string, string>();
        for (const scenario of Object.values(scenarios)) {
            for (const image of images(objectsOf(scenario)).filter(
                (candidate) => !cloudImageNames.has(candidate.slice(candidate.lastIndexOf("/") + 1)),
            )) {
                const [nameAndTag, digest] = image.slice(image.lastIndexOf("/") + 1).split("@");
                assert.equal(digestOf.get(nameAndTag) ?? digest, digest, `${nameAndTag} has two digests`);
                digestOf.set(nameAndTag, digest);
            }
        }
        assert.deepEqual([...digestOf.keys()].map((nameAndTag) => nameAndTag.split(":")[0]).sort(), [
            "dashboard",
            "flannel",
            "flannel-cni-plugin",
            "headlamp",
            "metrics-scraper",
        ]);
        assert.equal(new Set(digestOf.values()).size, digestOf.size, "two images share a digest");
    });

    test("overriding mirrors in the stack config moves those images, and only those", () => {
        const before = images(objectsOf(scenarios.dashboard));
        const after = images(objectsOf(scenarios.mirrored));
        assert.equal(after.length, before.length);
        for (const [i, image] of after.entries()) {
            assert.ok(image.startsWith("registry.example.cn/"), image);
            assert.notEqual(image, before[i]);
            // Same image, tag and digest from another registry.
            assert.equal(image.split("/").pop(), before[i].split("/").pop());
        }
        const headlamp = images(objectsOf(scenarios.headlamp)).find((image) => image.includes("/headlamp:"));
        assert.ok(headlamp?.startsWith(`${configOf(scenarios.dashboard).mirrors.headlampImages}/`), headlamp);
    });
});

describe("a private registry from the stack file: every image's repository, tag and digest", () => {
    const digest = (hex: string) => `sha256:${hex.repeat(64)}`;
    // What a site with re-packed images (other digests) and its own signed apt repository puts in its stack file.
    const privateMirrors = {
        stack: "aws-dev",
        changes: {
            "kubeha:mirrors": {
                kubernetesApt: "https://mirror.kubeha.lab/kubernetes",
                kubernetesAptKey: "0123456789abcdef0123456789abcdef01234567",
                containerdApt: "https://mirror.kubeha.lab/docker",
                containerdAptKey: "89ABCDEF0123456789ABCDEF0123456789ABCDEF",
                kubernetesImages: "registry.kubeha.lab/k8s",
                flannelImages: "registry.kubeha.lab/flannel-io",
                cloudImages: "registry.kubeha.lab:5000/csi",
                images: {
                    pause: { digest: digest("1") },
                    coredns: { repository: "registry.kubeha.lab/coredns", tag: "v1.14.2" },
                    flannel: { digest: digest("2") },
                    flannelCniPlugin: { tag: "v1.9.1-lab", digest: digest("3") },
                    dashboard: `registry.kubeha.lab/ui/dashboard:v2.7.0-lab@${digest("4")}`,
                    dashboardMetricsScraper: { repository: "registry.kubeha.lab/ui" },
                    cloudControllerManager: `registry.kubeha.lab/aws/cloud-controller-manager@${digest("5")}`,
                    csiLivenessProbe: { tag: "v2.18.0-lab" },
                },
            },
        },
    } as const;

    test("the manifests pull exactly the configured references", () => {
        const { aws } = cloudIntegrationImages;
        const moved = (upstream: string) =>
            `registry.kubeha.lab:5000/csi/${upstream.slice(upstream.lastIndexOf("/") + 1)}`;
        const expected = [
            `registry.kubeha.lab/flannel-io/flannel:v0.28.9@${digest("2")}`,
            `registry.kubeha.lab/flannel-io/flannel-cni-plugin:v1.9.1-lab@${digest("3")}`,
            `registry.kubeha.lab/ui/dashboard:v2.7.0-lab@${digest("4")}`,
            // A repository alone keeps the default tag and digest (a faithful copy).
            `registry.kubeha.lab/ui/metrics-scraper:v1.0.8@${addonImages.dashboardMetricsScraper.digest}`,
            `registry.kubeha.lab/aws/cloud-controller-manager@${digest("5")}`,
            moved(aws.csiDriver),
            moved(aws.csiProvisioner),
            moved(aws.csiAttacher),
            moved(aws.csiResizer),
            "registry.kubeha.lab:5000/csi/livenessprobe:v2.18.0-lab",
            moved(aws.csiNodeDriverRegistrar),
        ];
        assert.deepEqual([...new Set(images(objectsOf(privateMirrors)))].sort(), expected.sort());
    });

    test("the hosts get the apt keys, the sandbox image and kubeadm's CoreDNS from the same stack file", () => {
        const { dir } = planOf(privateMirrors);
        const hostFile = (host: string, file: string) => fs.readFileSync(path.join(dir, "hosts", host, file), "utf8");
        const [command] = (parseYaml(hostFile("worker-1", "user-data")) as { runcmd: string[][] }).runcmd;
        const environment = Object.fromEntries(
            command.filter((word) => word.startsWith("KUBEHA_")).map((word) => word.split(/=(.*)/s, 2)),
        );
        assert.deepEqual(environment.KUBEHA_APT_KEYS.split("\n"), [
            "/etc/apt/keyrings/kubernetes.asc 0123456789ABCDEF0123456789ABCDEF01234567 " +
                "https://mirror.kubeha.lab/kubernetes/v1.36/deb/Release.key",
            "/etc/apt/keyrings/docker.asc 89ABCDEF0123456789ABCDEF0123456789ABCDEF https://mirror.kubeha.lab/docker/gpg",
        ]);
        const sandbox = `registry.kubeha.lab/k8s/pause:${pauseImageTag}@${digest("1")}`;
        assert.equal(environment.KUBEHA_SANDBOX_IMAGE, sandbox);
        assert.ok(hostFile("worker-1", "files/etc/containerd/config.toml").includes(`  sandbox = "${sandbox}"\n`));
        const cluster = parseAllDocuments(hostFile("master-1", "files/etc/kubernetes/kubeadm/init.yaml"))
            .map((doc) => doc.toJS() as { kind: string; dns?: unknown; imageRepository?: string })
            .find((doc) => doc.kind === "ClusterConfiguration");
        assert.deepEqual(cluster?.dns, { imageRepository: "registry.kubeha.lab/coredns", imageTag: "v1.14.2" });
        assert.equal(cluster?.imageRepository, "registry.kubeha.lab/k8s");
    });
});

describe("addons.dashboard chooses the UI", () => {
    const deployments = (objects: KubeObject[]) =>
        objects
            // The cloud integration's CSI controllers are no UI.
            .filter((object) => object.kind === "Deployment" && !object.metadata.name.includes("csi"))
            .map((object) => object.metadata.name)
            .sort();

    test("kubernetes-dashboard (the default): the dashboard and its metrics scraper, an admin with short-lived tokens", () => {
        const objects = objectsOf(scenarios.dashboard);
        assert.deepEqual(deployments(objects), ["dashboard-metrics-scraper", "kubernetes-dashboard"]);
        assert.equal(find(objects, "Deployment", "kubernetes-dashboard").metadata.namespace, "kubernetes-dashboard");
        clusterAdmin(objects, "kubernetes-dashboard", "admin-user");
        assert.deepEqual(tokenSecrets(objects), [], "no long-lived token unless configured");
        const access = planOf(scenarios.dashboard).outputs.dashboardAccess as Record<string, string>;
        assert.equal(access.ui, "kubernetes-dashboard");
        assert.equal(access.command, "kubectl --kubeconfig kubeconfig proxy");
        // The proxy URL names the Service's namespace, name and scheme: they must be the ones applied.
        const service = find(objects, "Service", "kubernetes-dashboard") as KubeObject & {
            spec: { ports: { port: number; targetPort: number }[] };
        };
        assert.deepEqual(service.spec.ports, [{ port: 443, targetPort: 8443 }]);
        assert.equal(
            access.url,
            `http://localhost:8001/api/v1/namespaces/${service.metadata.namespace}/services/https:${service.metadata.name}:/proxy/`,
        );
        assert.equal(
            access.tokenCommand,
            "kubectl --kubeconfig kubeconfig -n kubernetes-dashboard create token admin-user --duration=1h",
        );
        assert.match(access.tokenGrants, /^cluster-admin \(ServiceAccount kubernetes-dashboard\/admin-user\) for 1h/);
        assert.equal(planOf(scenarios.dashboard).outputs.dashboardToken, undefined);
    });

    test("headlamp with longLivedDashboardToken: Headlamp's Deployment and Service, an admin with a token Secret", () => {
        const objects = objectsOf(scenarios.headlamp);
        assert.deepEqual(deployments(objects), ["headlamp"]);
        assert.ok(!objects.some((object) => object.metadata.name.includes("dashboard")));
        clusterAdmin(objects, "headlamp", "headlamp-admin");
        const [secret] = tokenSecrets(objects);
        assert.deepEqual(tokenSecrets(objects).length, 1);
        assert.equal(secret.metadata.name, "headlamp-admin");
        assert.equal(secret.metadata.namespace, "headlamp");
        assert.equal(secret.metadata.annotations["kubernetes.io/service-account.name"], "headlamp-admin");
        const service = find(objects, "Service", "headlamp") as KubeObject & {
            spec: { ports: { port: number; targetPort: number }[] };
        };
        const access = planOf(scenarios.headlamp).outputs.dashboardAccess as Record<string, string>;
        // The port-forward must name the Service and port that exist.
        assert.equal(
            access.command,
            `kubectl --kubeconfig kubeconfig -n ${service.metadata.namespace} port-forward svc/headlamp 8080:${service.spec.ports[0].port}`,
        );
        assert.equal(access.url, "http://localhost:8080/");
        assert.equal(
            access.tokenCommand,
            "kubectl --kubeconfig kubeconfig -n headlamp get secret headlamp-admin -o jsonpath='{.data.token}' | base64 -d",
        );
        assert.match(access.tokenGrants, /^cluster-admin \(ServiceAccount headlamp\/headlamp-admin\) with no expiry/);
        assert.equal(planOf(scenarios.headlamp).outputs.dashboardToken, secretPlaceholder);
    });

    test("none, without the cloud integration: flannel only, no UI, no admin, no token", () => {
        const objects = objectsOf(scenarios.none);
        assert.deepEqual(deployments(objects), []);
        for (const object of objects) {
            assert.match(object.metadata.name, /flannel/);
            assert.equal(object.metadata.namespace ?? "kube-flannel", "kube-flannel");
        }
        const { outputs } = planOf(scenarios.none);
        assert.equal(outputs.dashboardToken, undefined);
        assert.equal(outputs.dashboardAccess, undefined);
    });

    test("no UI is exposed outside the cluster: every Service is ClusterIP", () => {
        for (const scenario of [scenarios.dashboard, scenarios.headlamp]) {
            const services = objectsOf(scenario).filter((object) => object.kind === "Service");
            assert.ok(services.length >= 1);
            for (const service of services) {
                const type = (service.spec as { type?: string }).type ?? "ClusterIP";
                assert.equal(type, "ClusterIP", `${service.metadata.name} is ${type}`);
            }
        }
    });
});

/** The admin ServiceAccount and its cluster-admin binding. */
function clusterAdmin(objects: KubeObject[], namespace: string, name: string): void {
    const account = find(objects, "ServiceAccount", name);
    assert.equal(account.metadata.namespace, namespace);
    const binding = find(objects, "ClusterRoleBinding", name) as KubeObject & {
        roleRef: { name: string };
        subjects: { kind: string; name: string; namespace: string }[];
    };
    assert.equal(binding.roleRef.name, "cluster-admin");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name, namespace }]);
}

/** The long-lived ServiceAccount token Secrets among the objects. */
function tokenSecrets(objects: KubeObject[]) {
    return objects.filter(
        (object) => object.kind === "Secret" && object.type === "kubernetes.io/service-account-token",
    ) as (KubeObject & { metadata: { annotations: Record<string, string> } })[];
}

describe("stack outputs: the kubeconfig and the token are secrets", () => {
    test("outputs.json shows [secret] without --show-secrets", () => {
        const { outputs } = planOf(scenarios.headlamp);
        assert.equal(outputs.kubeconfig, secretPlaceholder);
        assert.equal(outputs.dashboardToken, secretPlaceholder);
        assert.equal(outputs.sshPrivateKey, secretPlaceholder);
        // The access commands and addresses are plain: nothing secret in them.
        assert.equal(typeof outputs.dashboardAccess, "object");
        assert.match(String(outputs.apiEndpoint), /^https:\/\/[a-z0-9.-]+:6443$/);
        assert.match(
            String(outputs.sshCommand),
            new RegExp(`@${String(outputs.bastionAddress).replaceAll(".", "\\.")}$`),
        );
    });

    test("with --show-secrets: the kubeconfig points at apiEndpoint; the token is empty offline", () => {
        const { outputs } = planOf(scenarios.headlamp, true);
        const kubeconfig = parseYaml(String(outputs.kubeconfig)) as { clusters: { cluster: { server: string } }[] };
        assert.equal(kubeconfig.clusters[0].cluster.server, outputs.apiEndpoint);
        // No cluster answers an offline plan, so no token controller has issued one.
        assert.equal(outputs.dashboardToken, "");
    });
});

/** Stands in for the bootstrap's last step, after which the API server answers. */
class ControlPlaneReady extends pulumi.CustomResource {
    constructor(name: string) {
        super("kubeha:test:ControlPlaneReady", name, {});
    }
}

interface ComponentRun {
    readonly resources: PlannedResource[];
    /** The provider reference (`urn::id`) each resource was registered with, by resource name. */
    readonly providers: Map<string, string | undefined>;
    readonly token: { value: string; secret: boolean } | undefined;
}

/**
 * ClusterAddons in-process under the plan's mocks, with a stand-in for the cluster's token controller
 * (it fills a service-account-token Secret's data.token as the cluster would).
 */
async function runComponent(scenario: Scenario): Promise<ComponentRun> {
    const config = configOf(scenario);
    const base = new KubehaMocks({ region: config.region });
    const providers = new Map<string, string | undefined>();
    await pulumi.runtime.setMocks(
        {
            newResource: async (args) => {
                providers.set(args.name, args.provider);
                const result = await base.newResource(args);
                if (
                    args.type === "kubernetes:core/v1:Secret" &&
                    args.inputs.type === "kubernetes.io/service-account-token"
                ) {
                    result.state.data = { token: Buffer.from(`token-of-${args.name}`).toString("base64") };
                }
                return result;
            },
            call: (args) => base.call(args),
        },
        "kubeha",
        scenario.stack,
        false,
    );
    const recorder = new Recorder();
    recorder.attach();
    const addons = new ClusterAddons("addons", {
        config,
        kubeconfig: "apiVersion: v1\nkind: Config\n",
        dependsOn: [new ControlPlaneReady("control-plane-ready")],
        clusterName: `kubeha-${scenario.stack}`,
        zones: ["zone-a", "zone-b", "zone-c"],
        cloud: cloudOf(config),
    });
    const token = addons.dashboardToken && {
        value: await new Promise<string>((resolve) => addons.dashboardToken!.apply(resolve)),
        secret: await pulumi.isSecret(addons.dashboardToken),
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return { resources: plannedResources(recorder.resources, false), providers, token };
}

describe("the component: provider, ordering and token", () => {
    test("one provider, from the kubeconfig (a secret), created after the readiness resources", async () => {
        const { resources, providers } = await runComponent(scenarios.dashboard);
        const provider = resources.filter((resource) => resource.type === "pulumi:providers:kubernetes");
        assert.deepEqual(
            provider.map((resource) => resource.name),
            ["k8s"],
        );
        assert.equal(provider[0].inputs.kubeconfig, secretPlaceholder);
        assert.deepEqual(provider[0].dependencies, ["control-plane-ready"]);

        const objects = resources.filter((resource) => resource.type.startsWith("kubernetes:"));
        assert.ok(objects.length > 10);
        for (const object of objects) {
            // The cloud integration's objects belong to its component, itself a child of the addons.
            assert.ok(["addons", "aliyun-cloud"].includes(String(object.parent)), `${object.name}: ${object.parent}`);
            assert.match(String(providers.get(object.name)), /pulumi:providers:kubernetes::k8s::/, object.name);
        }
        // Namespaced objects come after their namespace.
        const account = resources.find((resource) => resource.name === "dashboard-admin-service-account")!;
        assert.ok(account.dependencies.includes("dashboard-namespace"), account.dependencies.join());
    });

    test("the long-lived token Secret comes after its ServiceAccount", async () => {
        const { resources } = await runComponent(scenarios.headlamp);
        const secret = resources.find((resource) => resource.name === "headlamp-admin-token")!;
        assert.ok(secret.dependencies.includes("headlamp-admin-service-account"), secret.dependencies.join());
    });

    test("a long-lived token only if configured: read from its Secret, decoded, and kept secret", async () => {
        assert.equal((await runComponent(scenarios.dashboard)).token, undefined);
        assert.deepEqual((await runComponent(scenarios.headlamp)).token, {
            value: "token-of-headlamp-admin-token",
            secret: true,
        });
        assert.equal((await runComponent(scenarios.none)).token, undefined);
    });
});
