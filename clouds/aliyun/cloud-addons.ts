// Aliyun cloud integration in the cluster (clouds/cloud-addons.ts builds it from this): cloud-provider-alibaba-cloud's
// cloud controller manager (node initialisation and lifecycle, LoadBalancer Services as CLB instances), the disk part
// of alibaba-cloud-csi-driver as its Helm chart deploys it on self-built ECS clusters (instance RAM roles, no access
// keys; no NAS/OSS drivers, no snapshot controller: no snapshot CRDs are installed), and an encrypted ESSD default
// StorageClass.
import { cloudImage } from "../../config/mirrors";
import { cloudIntegrationImages } from "../../config/versions";
import { annotationIs, CloudAddonsArgs, CloudAddonsSpec, fieldEnv, onMasters } from "../cloud-addons";

export const diskCsiDriver = "diskplugin.csi.alibabacloud.com";
const namespace = "kube-system";
const kubeletDir = "/var/lib/kubelet";
const readOnlyRoot = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true };
const networkEnv = { name: "ALIBABA_CLOUD_NETWORK_TYPE", value: "vpc" };
const pluginDir = `${kubeletDir}/csi-plugins/${diskCsiDriver}`;
// The CLB's access control list, or no internet address at all (the CCM reads these annotations).
const annotation = (name: string) => `service.beta.kubernetes.io/alibaba-cloud-loadbalancer-${name}`;

export function aliyunCloudAddons(args: CloudAddonsArgs): CloudAddonsSpec {
    const { config } = args;
    const image = (key: keyof typeof cloudIntegrationImages.aliyun) => cloudImage(config.mirrors, "aliyun", key);
    const controllerLabels = { app: "csi-provisioner" };
    const sidecarPort = (
        containerName: string,
        port: number,
        portName: string,
        key: keyof typeof cloudIntegrationImages.aliyun,
        extra: string[],
    ) => ({
        name: containerName,
        image: image(key),
        args: ["--csi-address=/csi/csi.sock", `--http-endpoint=:${port}`, "--leader-election=true", "--v=5", ...extra],
        ports: [{ containerPort: port, name: portName, protocol: "TCP" }],
        livenessProbe: { httpGet: { path: "/healthz/leader-election", port: portName } },
        resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "500m", memory: "1024Mi" } },
        securityContext: readOnlyRoot,
        volumeMounts: [{ name: "disk-provisioner-dir", mountPath: "/csi" }],
    });
    const pluginLabels = { app: "csi-plugin", "app.kubernetes.io/name": "csi-plugin" };
    return {
        componentType: "kubeha:addons:AliyunCloudAddons",
        componentName: "aliyun-cloud",
        // Credentials from the masters' RAM role (metadata service, hardened mode), region and VPC from the
        // instance's metadata.
        controllerManager: {
            name: "cloud-controller-manager",
            labels: { app: "cloud-controller-manager", tier: "control-plane" },
            rules: [
                {
                    apiGroups: [""],
                    // No Secrets (only its ALB ingress controller reads them, and it is not enabled) and no
                    // ServiceAccounts (upstream's role makes them for --use-service-account-credentials, not set).
                    resources: ["persistentvolumes", "services", "endpoints"],
                    verbs: ["get", "list", "watch", "create", "update", "patch"],
                },
                {
                    apiGroups: [""],
                    resources: ["nodes"],
                    verbs: ["get", "list", "watch", "delete", "patch", "update"],
                },
                { apiGroups: [""], resources: ["services/status"], verbs: ["update", "patch"] },
                { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch", "update"] },
                { apiGroups: [""], resources: ["events", "endpoints"], verbs: ["create", "patch", "update"] },
                { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
                {
                    apiGroups: ["coordination.k8s.io"],
                    resources: ["leases"],
                    verbs: ["get", "list", "watch", "create", "update"],
                },
            ],
            container: {
                name: "cloud-controller-manager",
                image: image("cloudControllerManager"),
                command: ["/cloud-controller-manager"],
                args: [
                    "--v=2",
                    "--leader-elect=true",
                    "--cloud-config=/etc/kubernetes/config/cloud-config.conf",
                    // flannel's vxlan carries pod traffic: no VPC route per node.
                    "--configure-cloud-routes=false",
                ],
                resources: { requests: { cpu: "100m", memory: "200Mi" } },
                livenessProbe: {
                    httpGet: { host: "127.0.0.1", path: "/healthz", port: 10258, scheme: "HTTP" },
                    initialDelaySeconds: 15,
                    timeoutSeconds: 15,
                    failureThreshold: 8,
                },
            },
            config: {
                name: "cloud-config",
                mountPath: "/etc/kubernetes/config",
                data: {
                    // v2 reads JSON; what is left out (VPC, vSwitch, zone) it takes from the instance's metadata.
                    "cloud-config.conf": JSON.stringify({
                        Global: { clusterID: args.clusterName, region: config.region },
                    }),
                },
            },
        },
        csi: {
            name: diskCsiDriver,
            driver: {
                resourceName: "alicloud-disk-csi-driver",
                spec: { attachRequired: true, podInfoOnMount: true },
            },
            controllerAccount: {
                name: "alicloud-csi-provisioner",
                rules: {
                    cluster: [
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumes"],
                            verbs: ["get", "list", "watch", "update", "create", "delete", "patch"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumeclaims"],
                            verbs: ["get", "list", "watch", "update"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumeclaims/status"],
                            verbs: ["get", "list", "watch", "update", "patch"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["events"],
                            verbs: ["list", "watch", "create", "update", "patch"],
                        },
                        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
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
                        {
                            apiGroups: [""],
                            resources: ["configmaps"],
                            resourceNames: ["csi-plugin", "ack-cluster-profile"],
                            verbs: ["get"],
                        },
                    ],
                },
            },
            nodeAccount: {
                name: "alicloud-csi-node",
                rules: {
                    cluster: [
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumes"],
                            verbs: ["get", "list", "watch", "update", "patch"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["persistentvolumeclaims"],
                            verbs: ["get", "list", "watch", "update"],
                        },
                        {
                            apiGroups: [""],
                            resources: ["events"],
                            verbs: ["get", "list", "watch", "create", "update", "patch"],
                        },
                        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "update", "patch", "list", "watch"] },
                        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
                        {
                            apiGroups: ["storage.k8s.io"],
                            resources: ["storageclasses", "csinodes"],
                            verbs: ["get", "list", "watch"],
                        },
                        {
                            apiGroups: ["storage.k8s.io"],
                            resources: ["volumeattachments"],
                            verbs: ["get", "list", "watch", "update", "patch"],
                        },
                    ],
                    namespaced: [
                        {
                            apiGroups: [""],
                            resources: ["configmaps"],
                            resourceNames: ["csi-plugin", "ack-cluster-profile"],
                            verbs: ["get"],
                        },
                    ],
                },
            },
            controller: {
                resourceName: "csi-provisioner",
                metadata: { name: "csi-provisioner", namespace },
                spec: (serviceAccountName) => ({
                    replicas: Math.min(2, config.masters.count),
                    selector: { matchLabels: controllerLabels },
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
                    template: {
                        metadata: { labels: controllerLabels },
                        spec: {
                            ...onMasters,
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: {
                                                labelSelector: { matchLabels: controllerLabels },
                                                topologyKey: "kubernetes.io/hostname",
                                            },
                                        },
                                    ],
                                },
                            },
                            serviceAccountName,
                            priorityClassName: "system-cluster-critical",
                            securityContext: { runAsNonRoot: true, runAsUser: 65532 },
                            containers: [
                                {
                                    name: "csi-provisioner",
                                    image: image("csiDriver"),
                                    args: [
                                        "--endpoint=unix://csi/driverplugin.csi.alibabacloud.com-replace/csi.sock",
                                        "--v=2",
                                        "--driver=disk",
                                        "--run-controller-service=true",
                                        "--run-node-service=false",
                                    ],
                                    env: [
                                        networkEnv,
                                        fieldEnv("KUBE_NODE_NAME", "spec.nodeName"),
                                        { name: "REGION_ID", value: config.region },
                                    ],
                                    ports: [{ name: "healthz", containerPort: 11270 }],
                                    livenessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        periodSeconds: 10,
                                        timeoutSeconds: 5,
                                        failureThreshold: 5,
                                    },
                                    readinessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        periodSeconds: 10,
                                    },
                                    resources: {
                                        requests: { cpu: "100m", memory: "128Mi" },
                                        limits: { cpu: "500m", memory: "1024Mi" },
                                    },
                                    securityContext: readOnlyRoot,
                                    volumeMounts: [
                                        { name: "disk-provisioner-dir", mountPath: `/csi/${diskCsiDriver}` },
                                    ],
                                },
                                sidecarPort("external-disk-provisioner", 8080, "disk-p-http", "csiProvisioner", [
                                    "--volume-name-prefix=disk",
                                    "--strict-topology=true",
                                    "--timeout=150s",
                                    "--retry-interval-start=500ms",
                                    "--extra-create-metadata=true",
                                    "--default-fstype=ext4",
                                ]),
                                sidecarPort("external-disk-attacher", 8081, "disk-a-http", "csiAttacher", [
                                    "--timeout=30s",
                                ]),
                                sidecarPort("external-disk-resizer", 8082, "disk-r-http", "csiResizer", [
                                    "--handle-volume-inuse-error=false",
                                ]),
                            ],
                            volumes: [{ name: "disk-provisioner-dir", emptyDir: {} }],
                        },
                    },
                }),
            },
            node: {
                resourceName: "csi-plugin",
                metadata: { name: "csi-plugin", namespace, labels: { "app.kubernetes.io/name": "csi-plugin" } },
                spec: (serviceAccountName) => ({
                    selector: { matchLabels: { app: "csi-plugin" } },
                    updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "20%" } },
                    template: {
                        metadata: { labels: pluginLabels },
                        spec: {
                            tolerations: [{ operator: "Exists" }],
                            nodeSelector: { "kubernetes.io/os": "linux" },
                            serviceAccountName,
                            priorityClassName: "system-node-critical",
                            hostNetwork: true,
                            hostIPC: true,
                            hostPID: true,
                            dnsPolicy: "ClusterFirst",
                            containers: [
                                {
                                    name: "disk-driver-registrar",
                                    image: image("csiNodeDriverRegistrar"),
                                    args: [
                                        "--v=5",
                                        "--csi-address=/csi/csi.sock",
                                        `--kubelet-registration-path=${pluginDir}/csi.sock`,
                                    ],
                                    resources: {
                                        requests: { cpu: "10m", memory: "16Mi" },
                                        limits: { cpu: "500m", memory: "1024Mi" },
                                    },
                                    volumeMounts: [
                                        { name: "disk-plugin-dir", mountPath: "/csi" },
                                        { name: "registration-dir", mountPath: "/registration" },
                                    ],
                                },
                                {
                                    name: "csi-plugin",
                                    image: image("csiDriver"),
                                    securityContext: { privileged: true, allowPrivilegeEscalation: true },
                                    args: [
                                        "--endpoint=unix://csi/driverplugin.csi.alibabacloud.com-replace/csi.sock",
                                        "--v=2",
                                        "--driver=disk",
                                        "--run-controller-service=false",
                                        "--run-node-service=true",
                                    ],
                                    env: [fieldEnv("KUBE_NODE_NAME", "spec.nodeName"), networkEnv],
                                    resources: {
                                        requests: { cpu: "100m", memory: "128Mi" },
                                        limits: { cpu: "500m", memory: "1024Mi" },
                                    },
                                    ports: [{ name: "healthz", containerPort: 11260 }],
                                    livenessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        periodSeconds: 10,
                                        timeoutSeconds: 5,
                                        failureThreshold: 5,
                                    },
                                    readinessProbe: {
                                        httpGet: { path: "/healthz", port: "healthz" },
                                        periodSeconds: 10,
                                        timeoutSeconds: 5,
                                        failureThreshold: 5,
                                    },
                                    volumeMounts: [
                                        {
                                            name: "kubelet-dir",
                                            mountPath: `${kubeletDir}/`,
                                            mountPropagation: "Bidirectional",
                                        },
                                        { name: "disk-plugin-dir", mountPath: `/csi/${diskCsiDriver}` },
                                        { name: "etc", mountPath: "/host/etc" },
                                        { name: "host-log", mountPath: "/var/log/" },
                                        { name: "host-dev", mountPath: "/dev", mountPropagation: "HostToContainer" },
                                        { name: "run-csi", mountPath: "/host/run/csi-tool" },
                                        {
                                            name: "cgroup",
                                            mountPath: "/host/sys/fs/cgroup",
                                            mountPropagation: "HostToContainer",
                                        },
                                        { name: "csi-plugin-cm", mountPath: "/etc/csi-plugin/config" },
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "run-csi", hostPath: { path: "/run/csi-tool", type: "DirectoryOrCreate" } },
                                {
                                    name: "registration-dir",
                                    hostPath: { path: `${kubeletDir}/plugins_registry`, type: "DirectoryOrCreate" },
                                },
                                { name: "kubelet-dir", hostPath: { path: kubeletDir, type: "Directory" } },
                                { name: "disk-plugin-dir", hostPath: { path: pluginDir, type: "DirectoryOrCreate" } },
                                { name: "cgroup", hostPath: { path: "/sys/fs/cgroup", type: "Directory" } },
                                { name: "host-dev", hostPath: { path: "/dev" } },
                                { name: "host-log", hostPath: { path: "/var/log/" } },
                                { name: "etc", hostPath: { path: "/etc" } },
                                { name: "csi-plugin-cm", configMap: { name: "csi-plugin", optional: true } },
                            ],
                        },
                    },
                }),
            },
        },
        loadBalancers: {
            restricted: (root) => [
                annotationIs(root, annotation("address-type"), "intranet"),
                annotationIs(root, annotation("acl-status"), "on"),
            ],
            hint:
                `make it internal (${annotation("address-type")}: intranet), or give it an access control list ` +
                `(${annotation("acl-status")}: "on" with ${annotation("acl-id")} and ${annotation("acl-type")}: white)`,
        },
        storageClass: {
            name: "alicloud-disk-essd-encrypted",
            parameters: { type: "cloud_essd", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4" },
            zoneLabel: "topology.diskplugin.csi.alibabacloud.com/zone",
        },
    };
}
