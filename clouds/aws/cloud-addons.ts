// AWS cloud integration in the cluster (clouds/cloud-addons.ts builds it from this): the AWS cloud controller manager
// (node initialisation and lifecycle, LoadBalancer Services) as kubernetes/cloud-provider-aws's Helm chart deploys
// it, the EBS CSI driver as kubernetes-sigs/aws-ebs-csi-driver's deploy/kubernetes/base does (without the snapshot
// sidecar: no snapshot CRDs are installed), and an encrypted gp3 default StorageClass. Both controllers run on the
// masters with the host's network: only there does the metadata service hand out the masters' role (IMDSv2, one hop).
import { cloudImage } from "../../config/mirrors";
import { cloudIntegrationImages } from "../../config/versions";
import { annotationIs, CloudAddonsArgs, CloudAddonsSpec, fieldEnv, onMasters } from "../cloud-addons";

export const ebsCsiDriver = "ebs.csi.aws.com";
const namespace = "kube-system";
const readOnlyRoot = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true };
const socketDir = "/var/lib/csi/sockets/pluginproxy/";
// Host network: one controller replica per master at most (its health port), two when there are two masters.
const healthPort = 9808;
const pluginDir = `/var/lib/kubelet/plugins/${ebsCsiDriver}/`;
const internal = "service.beta.kubernetes.io/aws-load-balancer-internal";

export function awsCloudAddons(args: CloudAddonsArgs): CloudAddonsSpec {
    const { config } = args;
    const image = (key: keyof typeof cloudIntegrationImages.aws) => cloudImage(config.mirrors, "aws", key);
    const sidecar = (containerName: string, key: keyof typeof cloudIntegrationImages.aws, extra: string[]) => ({
        name: containerName,
        image: image(key),
        args: ["--csi-address=$(ADDRESS)", "--v=2", ...extra],
        env: [{ name: "ADDRESS", value: `${socketDir}csi.sock` }],
        volumeMounts: [{ name: "socket-dir", mountPath: socketDir }],
        securityContext: readOnlyRoot,
    });
    const ccmLabels = { "k8s-app": "aws-cloud-controller-manager" };
    const controllerLabels = { app: "ebs-csi-controller", "app.kubernetes.io/name": "aws-ebs-csi-driver" };
    const nodeLabels = { app: "ebs-csi-node", "app.kubernetes.io/name": "aws-ebs-csi-driver" };
    return {
        componentType: "kubeha:addons:AwsCloudAddons",
        componentName: "aws-cloud",
        controllerManager: {
            name: "aws-cloud-controller-manager",
            labels: ccmLabels,
            // Upstream's role also creates ServiceAccounts and their tokens, for --use-service-account-credentials;
            // this controller runs without it, as itself, so it gets neither.
            rules: [
                { apiGroups: [""], resources: ["events"], verbs: ["create", "patch", "update"] },
                { apiGroups: [""], resources: ["nodes"], verbs: ["*"] },
                { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
                { apiGroups: [""], resources: ["services"], verbs: ["list", "patch", "update", "watch"] },
                { apiGroups: [""], resources: ["services/status"], verbs: ["list", "patch", "update", "watch"] },
                { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "update", "watch"] },
                { apiGroups: [""], resources: ["endpoints"], verbs: ["create", "get", "list", "watch", "update"] },
                {
                    apiGroups: ["coordination.k8s.io"],
                    resources: ["leases"],
                    verbs: ["create", "get", "list", "watch", "update"],
                },
            ],
            updateStrategy: { type: "RollingUpdate" },
            container: {
                name: "aws-cloud-controller-manager",
                image: image("cloudControllerManager"),
                args: [
                    "--v=2",
                    "--cloud-provider=aws",
                    // The tag on the subnets and node security groups (infra.ts).
                    `--cluster-name=${args.clusterName}`,
                    // flannel's vxlan carries pod traffic: no VPC routes per node.
                    "--configure-cloud-routes=false",
                ],
                resources: { requests: { cpu: "200m" } },
            },
        },
        csi: {
            name: ebsCsiDriver,
            driver: {
                resourceName: "ebs-csi-driver",
                spec: { attachRequired: true, podInfoOnMount: false, fsGroupPolicy: "File" },
            },
            controllerAccount: {
                name: "ebs-csi-controller-sa",
                rules: {
                    clusterRoleName: "ebs-csi-controller",
                    cluster: [
                        // The provisioner's, the attacher's and the resizer's rules (their ClusterRoles upstream).
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumes"],
                            verbs: ["get", "list", "watch", "create", "delete", "patch"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumeclaims"],
                            verbs: ["get", "list", "watch", "update"],
                        },
                        { apiGroups: [""], resources: ["persistentvolumeclaims/status"], verbs: ["patch"] },
                        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
                        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
                        {
                            apiGroups: [""],
                            resources: ["events"],
                            verbs: ["list", "watch", "create", "update", "patch"],
                        },
                        {
                            apiGroups: ["storage.k8s.io"],
                            resources: ["storageclasses", "csinodes", "volumeattributesclasses"],
                            verbs: ["get", "list", "watch"],
                        },
                        {
                            apiGroups: ["storage.k8s.io"],
                            resources: ["volumeattachments"],
                            verbs: ["get", "list", "watch", "patch"],
                        },
                        { apiGroups: ["storage.k8s.io"], resources: ["volumeattachments/status"], verbs: ["patch"] },
                        {
                            apiGroups: ["snapshot.storage.k8s.io"],
                            resources: ["volumesnapshots", "volumesnapshotcontents"],
                            verbs: ["get", "list"],
                        },
                    ],
                    namespaced: [
                        {
                            apiGroups: ["coordination.k8s.io"],
                            resources: ["leases"],
                            verbs: ["get", "watch", "list", "delete", "update", "create"],
                        },
                    ],
                },
            },
            nodeAccount: {
                name: "ebs-csi-node-sa",
                rules: {
                    clusterRoleName: "ebs-csi-node",
                    cluster: [
                        {
                            apiGroups: ["storage.k8s.io"],
                            resources: ["volumeattachments"],
                            verbs: ["get", "list", "watch"],
                        },
                        // The node plugin reads its instance from its Node when the metadata service is out of reach
                        // (pods are a hop too far for IMDSv2) and removes its not-ready taint.
                        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch", "list", "watch"] },
                        { apiGroups: ["storage.k8s.io"], resources: ["csinodes"], verbs: ["get"] },
                    ],
                },
            },
            controller: {
                resourceName: "ebs-csi-controller",
                metadata: { name: "ebs-csi-controller", namespace, labels: controllerLabels },
                spec: (serviceAccountName) => ({
                    replicas: Math.min(2, config.masters.count),
                    selector: { matchLabels: controllerLabels },
                    template: {
                        metadata: { labels: controllerLabels },
                        spec: {
                            ...onMasters,
                            hostNetwork: true,
                            serviceAccountName,
                            priorityClassName: "system-cluster-critical",
                            securityContext: { fsGroup: 1000, runAsGroup: 1000, runAsNonRoot: true, runAsUser: 1000 },
                            containers: [
                                {
                                    name: "ebs-plugin",
                                    image: image("csiDriver"),
                                    args: [
                                        "controller",
                                        "--endpoint=$(CSI_ENDPOINT)",
                                        // Tags every volume with kubernetes.io/cluster/<name>: whose it is.
                                        `--k8s-tag-cluster-id=${args.clusterName}`,
                                        "--logging-format=text",
                                        "--v=2",
                                    ],
                                    env: [
                                        { name: "CSI_ENDPOINT", value: `unix://${socketDir}csi.sock` },
                                        fieldEnv("CSI_NODE_NAME", "spec.nodeName"),
                                        { name: "AWS_REGION", value: config.region },
                                    ],
                                    volumeMounts: [{ name: "socket-dir", mountPath: socketDir }],
                                    ports: [{ name: "healthz", containerPort: healthPort, protocol: "TCP" }],
                                    livenessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        initialDelaySeconds: 10,
                                        timeoutSeconds: 3,
                                        periodSeconds: 10,
                                        failureThreshold: 5,
                                    },
                                    securityContext: readOnlyRoot,
                                },
                                sidecar("csi-provisioner", "csiProvisioner", [
                                    "--feature-gates=Topology=true",
                                    "--extra-create-metadata",
                                    "--leader-election=true",
                                    "--default-fstype=ext4",
                                ]),
                                sidecar("csi-attacher", "csiAttacher", ["--leader-election=true"]),
                                sidecar("csi-resizer", "csiResizer", [
                                    "--leader-election=true",
                                    "--handle-volume-inuse-error=false",
                                ]),
                                {
                                    name: "liveness-probe",
                                    image: image("csiLivenessProbe"),
                                    // Serves the health port (9808, its default) for the plugin container's probe.
                                    args: ["--csi-address=/csi/csi.sock"],
                                    volumeMounts: [{ name: "socket-dir", mountPath: "/csi" }],
                                    securityContext: readOnlyRoot,
                                },
                            ],
                            volumes: [{ name: "socket-dir", emptyDir: {} }],
                        },
                    },
                }),
            },
            node: {
                resourceName: "ebs-csi-node",
                metadata: { name: "ebs-csi-node", namespace, labels: nodeLabels },
                spec: (serviceAccountName) => ({
                    selector: { matchLabels: nodeLabels },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
                    template: {
                        metadata: { labels: nodeLabels },
                        spec: {
                            nodeSelector: { "kubernetes.io/os": "linux" },
                            serviceAccountName,
                            priorityClassName: "system-node-critical",
                            tolerations: [{ operator: "Exists" }],
                            securityContext: { fsGroup: 0, runAsGroup: 0, runAsNonRoot: false, runAsUser: 0 },
                            containers: [
                                {
                                    name: "ebs-plugin",
                                    image: image("csiDriver"),
                                    args: [
                                        "node",
                                        "--endpoint=$(CSI_ENDPOINT)",
                                        `--csi-mount-point-prefix=/var/lib/kubelet/plugins/kubernetes.io/csi/${ebsCsiDriver}/`,
                                        "--logging-format=text",
                                        "--v=2",
                                    ],
                                    env: [
                                        { name: "CSI_ENDPOINT", value: "unix:/csi/csi.sock" },
                                        fieldEnv("CSI_NODE_NAME", "spec.nodeName"),
                                    ],
                                    volumeMounts: [
                                        {
                                            name: "kubelet-dir",
                                            mountPath: "/var/lib/kubelet",
                                            mountPropagation: "Bidirectional",
                                        },
                                        { name: "plugin-dir", mountPath: "/csi" },
                                        { name: "device-dir", mountPath: "/dev" },
                                    ],
                                    ports: [{ name: "healthz", containerPort: healthPort, protocol: "TCP" }],
                                    livenessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        initialDelaySeconds: 10,
                                        timeoutSeconds: 3,
                                        periodSeconds: 10,
                                        failureThreshold: 5,
                                    },
                                    resources: {
                                        limits: { memory: "256Mi" },
                                        requests: { cpu: "10m", memory: "40Mi" },
                                    },
                                    securityContext: { privileged: true, readOnlyRootFilesystem: true },
                                    lifecycle: {
                                        preStop: { exec: { command: ["/bin/aws-ebs-csi-driver", "pre-stop-hook"] } },
                                    },
                                },
                                {
                                    name: "node-driver-registrar",
                                    image: image("csiNodeDriverRegistrar"),
                                    args: [
                                        "--csi-address=$(ADDRESS)",
                                        "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)",
                                        "--v=2",
                                    ],
                                    env: [
                                        { name: "ADDRESS", value: "/csi/csi.sock" },
                                        { name: "DRIVER_REG_SOCK_PATH", value: `${pluginDir}csi.sock` },
                                    ],
                                    livenessProbe: {
                                        exec: {
                                            command: [
                                                "/csi-node-driver-registrar",
                                                "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)",
                                                "--mode=kubelet-registration-probe",
                                            ],
                                        },
                                        initialDelaySeconds: 30,
                                        periodSeconds: 90,
                                        timeoutSeconds: 15,
                                    },
                                    volumeMounts: [
                                        { name: "plugin-dir", mountPath: "/csi" },
                                        { name: "registration-dir", mountPath: "/registration" },
                                        { name: "probe-dir", mountPath: pluginDir },
                                    ],
                                    securityContext: readOnlyRoot,
                                },
                                {
                                    name: "liveness-probe",
                                    image: image("csiLivenessProbe"),
                                    args: ["--csi-address=/csi/csi.sock"],
                                    volumeMounts: [{ name: "plugin-dir", mountPath: "/csi" }],
                                    securityContext: readOnlyRoot,
                                },
                            ],
                            volumes: [
                                { name: "kubelet-dir", hostPath: { path: "/var/lib/kubelet", type: "Directory" } },
                                { name: "plugin-dir", hostPath: { path: pluginDir, type: "DirectoryOrCreate" } },
                                {
                                    name: "registration-dir",
                                    hostPath: { path: "/var/lib/kubelet/plugins_registry/", type: "Directory" },
                                },
                                { name: "device-dir", hostPath: { path: "/dev", type: "Directory" } },
                                { name: "probe-dir", emptyDir: {} },
                            ],
                        },
                    },
                }),
            },
        },
        loadBalancers: {
            restricted: (root) => [
                `(has(${root}.spec.loadBalancerSourceRanges) && size(${root}.spec.loadBalancerSourceRanges) > 0)`,
                annotationIs(root, internal, "true"),
            ],
            hint: `set spec.loadBalancerSourceRanges (the client ranges it admits), or make it internal (${internal}: "true")`,
        },
        storageClass: {
            name: "ebs-gp3-encrypted",
            parameters: { type: "gp3", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4" },
            zoneLabel: "topology.kubernetes.io/zone",
        },
    };
}
