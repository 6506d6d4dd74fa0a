// What the cluster runs once its control plane answers, applied through the Kubernetes API with the admin
// kubeconfig: flannel (the pod network) and a web UI (Kubernetes Dashboard or Headlamp) with a cluster-admin
// ServiceAccount to log in as (short-lived tokens by default, a long-lived one only if configured). Every object reproduces its upstream release manifest as a typed resource;
// images are pinned by tag and digest (config/versions.ts) and pulled from the mirror preset, or as
// kubeha:mirrors.images overrides them.
import * as kubernetes from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { addonImage } from "../config/mirrors";
import { ClusterConfig } from "../config/resolve";
import { flannelCniConf, flannelNetConf } from "../render/flannel";
import { Cloud } from "../clouds/cloud";
import { fieldEnv } from "../clouds/cloud-addons";

export interface ClusterAddonsArgs {
    readonly config: ClusterConfig;
    /** The admin kubeconfig (a secret); its server is the API load balancer, reachable from where pulumi runs. */
    readonly kubeconfig: pulumi.Input<string>;
    /** Resources whose completion means the control plane answers: nothing is applied before them. */
    readonly dependsOn: pulumi.Input<pulumi.Resource>[];
    /**
     * The cluster itself (the first master's instance): when it goes, the objects in it go too, so a whole-stack
     * destroy does not try to delete them through an API whose load balancer is being torn down.
     */
    readonly deletedWith?: pulumi.Resource;
    /** `<project>-<stack>`: what the cloud integration tags the cloud's resources with. */
    readonly clusterName: string;
    /** The cluster's zones (the default StorageClass's). */
    readonly zones: readonly string[];
    /** The stack's cloud: with kubeha:cloudIntegration, its controllers, CSI driver and StorageClass. */
    readonly cloud: Pick<Cloud, "integrationAddons">;
}

export type WebUi = Exclude<ClusterConfig["addons"]["dashboard"], "none">;

/** How an operator reaches the web UI from their machine, with the stack's kubeconfig saved as ./kubeconfig. */
export interface UiAccess {
    readonly ui: WebUi;
    /** Keeps running while the UI is in use. */
    readonly command: string;
    /** Open while the command runs; log in with the token. */
    readonly url: string;
    /**
     * Prints a login token: by default a new one that expires after `shortLivedTokenDuration`; with
     * `addons.longLivedDashboardToken`, the long-lived one (the `dashboardToken` output).
     */
    readonly tokenCommand: string;
    /** What that token grants, for how long, and how to revoke it. */
    readonly tokenGrants: string;
}

/** Lifetime of a token from `kubectl create token` (the API server's minimum is 10 minutes). */
export const shortLivedTokenDuration = "1h";

/** The kubeconfig file name the access commands assume (`pulumi stack output kubeconfig --show-secrets > kubeconfig`). */
const kubeconfigFile = "kubeconfig";

export class ClusterAddons extends pulumi.ComponentResource {
    /** Applies every addon object; configured only after the control plane is ready. */
    readonly provider: kubernetes.Provider;
    /**
     * The long-lived bearer token of the UI's cluster-admin ServiceAccount (a secret); only with
     * `addons.longLivedDashboardToken`.
     */
    readonly dashboardToken?: pulumi.Output<string>;
    readonly dashboardAccess?: UiAccess;
    /** The default StorageClass (kubeha:cloudIntegration); undefined without the integration. */
    readonly storageClass?: pulumi.Output<string>;

    constructor(name: string, args: ClusterAddonsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:addons:ClusterAddons", name, {}, opts);
        const { config } = args;
        this.provider = new kubernetes.Provider(
            "k8s",
            {
                kubeconfig: pulumi.secret(args.kubeconfig),
                // A re-issued admin certificate changes the kubeconfig: that must update the provider, not
                // replace it (which would replace every object applied through it).
                clusterIdentifier: `${pulumi.getProject()}-${pulumi.getStack()}`,
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        const objectOpts: pulumi.CustomResourceOptions = {
            parent: this,
            provider: this.provider,
            deletedWith: args.deletedWith,
        };

        installFlannel(config, objectOpts);
        if (config.cloudIntegration) {
            const cloudArgs = { config, clusterName: args.clusterName, zones: args.zones };
            const cloudOpts = { parent: this, provider: this.provider, deletedWith: args.deletedWith };
            this.storageClass = args.cloud.integrationAddons(cloudArgs, cloudOpts).storageClass;
        }
        const ui = config.addons.dashboard;
        if (ui !== "none") {
            const installed =
                ui === "headlamp" ? installHeadlamp(config, objectOpts) : installDashboard(config, objectOpts);
            const longLived = config.addons.longLivedDashboardToken;
            const account = adminAccount(installed, objectOpts);
            if (longLived) this.dashboardToken = longLivedToken(installed, account, objectOpts);
            this.dashboardAccess = { ...installed.access, ...tokenAccess(installed, longLived) };
        }
        this.registerOutputs({
            dashboardToken: this.dashboardToken,
            dashboardAccess: this.dashboardAccess,
            storageClass: this.storageClass,
        });
    }
}

/** flannel v0.28.9's kube-flannel.yml (the release asset), with the configured pod network and backend. */
function installFlannel(config: ClusterConfig, opts: pulumi.CustomResourceOptions): void {
    const labels = { "k8s-app": "flannel" };
    const podLabels = { app: "flannel", "k8s-app": "flannel", tier: "node" };
    const flannelImage = addonImage(config.mirrors, "flannel");

    const namespace = new kubernetes.core.v1.Namespace(
        "flannel-namespace",
        {
            metadata: {
                name: "kube-flannel",
                // flanneld needs NET_ADMIN, host networking and host paths.
                labels: { ...labels, "pod-security.kubernetes.io/enforce": "privileged" },
            },
        },
        opts,
    );
    const ns = namespace.metadata.name;
    const account = new kubernetes.core.v1.ServiceAccount(
        "flannel-service-account",
        { metadata: { name: "flannel", namespace: ns, labels } },
        opts,
    );
    const role = new kubernetes.rbac.v1.ClusterRole(
        "flannel-cluster-role",
        {
            metadata: { name: "flannel", labels },
            rules: [
                { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
                { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
            ],
        },
        opts,
    );
    new kubernetes.rbac.v1.ClusterRoleBinding(
        "flannel-cluster-role-binding",
        {
            metadata: { name: "flannel", labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: ns }],
        },
        opts,
    );
    const flannelConfig = new kubernetes.core.v1.ConfigMap(
        "flannel-config",
        {
            metadata: { name: "kube-flannel-cfg", namespace: ns, labels: podLabels },
            data: {
                "cni-conf.json": flannelCniConf,
                "net-conf.json": flannelNetConf(config.network.podCidr, config.addons.cni.backend),
            },
        },
        opts,
    );
    const configMount = { name: "flannel-cfg", mountPath: "/etc/kube-flannel/" };
    new kubernetes.apps.v1.DaemonSet(
        "flannel-daemonset",
        {
            metadata: { name: "kube-flannel-ds", namespace: ns, labels: podLabels },
            spec: {
                selector: { matchLabels: { app: "flannel", "k8s-app": "flannel" } },
                template: {
                    metadata: { labels: podLabels },
                    spec: {
                        affinity: linuxOnly,
                        containers: [
                            {
                                name: "kube-flannel",
                                image: flannelImage,
                                command: ["/opt/bin/flanneld"],
                                args: ["--ip-masq", "--kube-subnet-mgr"],
                                env: [
                                    fieldEnv("POD_NAME", "metadata.name"),
                                    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                                    { name: "EVENT_QUEUE_DEPTH", value: "5000" },
                                    { name: "CONT_WHEN_CACHE_NOT_READY", value: "false" },
                                ],
                                resources: { requests: { cpu: "100m", memory: "50Mi" } },
                                securityContext: {
                                    capabilities: { add: ["NET_ADMIN", "NET_RAW"] },
                                    privileged: false,
                                },
                                volumeMounts: [
                                    { name: "run", mountPath: "/run/flannel" },
                                    configMount,
                                    // Shared with kube-proxy and the kubelet, so iptables updates do not race.
                                    { name: "xtables-lock", mountPath: "/run/xtables.lock" },
                                ],
                            },
                        ],
                        hostNetwork: true,
                        initContainers: [
                            {
                                name: "install-cni-plugin",
                                image: addonImage(config.mirrors, "flannelCniPlugin"),
                                command: ["cp"],
                                args: ["-f", "/flannel", "/opt/cni/bin/flannel"],
                                volumeMounts: [{ name: "cni-plugin", mountPath: "/opt/cni/bin" }],
                            },
                            {
                                name: "install-cni",
                                image: flannelImage,
                                command: ["cp"],
                                args: ["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                                volumeMounts: [{ name: "cni", mountPath: "/etc/cni/net.d" }, configMount],
                            },
                        ],
                        priorityClassName: "system-node-critical",
                        serviceAccountName: account.metadata.name,
                        // Every node, masters included: pods there need the network too.
                        tolerations: [{ effect: "NoSchedule", operator: "Exists" }],
                        volumes: [
                            { name: "run", hostPath: { path: "/run/flannel" } },
                            { name: "cni-plugin", hostPath: { path: "/opt/cni/bin" } },
                            { name: "cni", hostPath: { path: "/etc/cni/net.d" } },
                            { name: "flannel-cfg", configMap: { name: flannelConfig.metadata.name } },
                            { name: "xtables-lock", hostPath: { path: "/run/xtables.lock", type: "FileOrCreate" } },
                        ],
                    },
                },
            },
        },
        opts,
    );
}

interface InstalledUi {
    /** The UI's namespace through the object that creates it, so that what goes in it comes after. */
    readonly namespace: pulumi.Output<string>;
    /** The namespace's name, for the access commands. */
    readonly namespaceName: string;
    /** Name of the cluster-admin ServiceAccount an operator logs in as (and of its long-lived token Secret). */
    readonly adminAccount: string;
    readonly access: Omit<UiAccess, "tokenCommand" | "tokenGrants">;
}

const kubectl = `kubectl --kubeconfig ${kubeconfigFile}`;

/** How an operator gets a login token, and what it grants. */
function tokenAccess(installed: InstalledUi, longLived: boolean): Pick<UiAccess, "tokenCommand" | "tokenGrants"> {
    const { namespaceName: namespace, adminAccount: name } = installed;
    const account = `ServiceAccount ${namespace}/${name}`;
    return longLived
        ? {
              tokenCommand: `${kubectl} -n ${namespace} get secret ${name} -o jsonpath='{.data.token}' | base64 -d`,
              tokenGrants:
                  `cluster-admin (${account}) with no expiry, until the Secret ${namespace}/${name} is deleted; ` +
                  `a copy works from anywhere that reaches the API`,
          }
        : {
              tokenCommand: `${kubectl} -n ${namespace} create token ${name} --duration=${shortLivedTokenDuration}`,
              tokenGrants:
                  `cluster-admin (${account}) for ${shortLivedTokenDuration} from its creation; deleting the ` +
                  `ServiceAccount revokes every token issued for it (pulumi up --refresh recreates it)`,
          };
}

/**
 * Kubernetes Dashboard v2.7.0's aio/deploy/recommended.yaml. Its Service stays ClusterIP: a cluster-admin UI
 * on a public NodePort (as seed 003 does) is an open door; operators reach it through the API server.
 */
function installDashboard(config: ClusterConfig, opts: pulumi.CustomResourceOptions): InstalledUi {
    const app = "kubernetes-dashboard";
    const scraper = "dashboard-metrics-scraper";
    const labels = { "k8s-app": app };

    const ns = uiNamespace("dashboard-namespace", app, opts);
    const meta = (name: string) => ({ name, namespace: ns, labels });
    const account = new kubernetes.core.v1.ServiceAccount("dashboard-service-account", { metadata: meta(app) }, opts);
    new kubernetes.core.v1.Service(
        "dashboard-service",
        { metadata: meta(app), spec: { ports: [{ port: 443, targetPort: 8443 }], selector: labels } },
        opts,
    );
    // Secrets and settings the dashboard fills in itself; the manifest only creates them.
    const certs = new kubernetes.core.v1.Secret(
        "dashboard-certs",
        { metadata: meta(`${app}-certs`), type: "Opaque" },
        opts,
    );
    new kubernetes.core.v1.Secret(
        "dashboard-csrf",
        { metadata: meta(`${app}-csrf`), type: "Opaque", data: { csrf: "" } },
        opts,
    );
    new kubernetes.core.v1.Secret(
        "dashboard-key-holder",
        { metadata: meta(`${app}-key-holder`), type: "Opaque" },
        opts,
    );
    new kubernetes.core.v1.ConfigMap("dashboard-settings", { metadata: meta(`${app}-settings`) }, opts);
    const role = new kubernetes.rbac.v1.Role(
        "dashboard-role",
        {
            metadata: meta(app),
            rules: [
                {
                    apiGroups: [""],
                    resources: ["secrets"],
                    resourceNames: [`${app}-key-holder`, `${app}-certs`, `${app}-csrf`],
                    verbs: ["get", "update", "delete"],
                },
                {
                    apiGroups: [""],
                    resources: ["configmaps"],
                    resourceNames: [`${app}-settings`],
                    verbs: ["get", "update"],
                },
                { apiGroups: [""], resources: ["services"], resourceNames: ["heapster", scraper], verbs: ["proxy"] },
                {
                    apiGroups: [""],
                    resources: ["services/proxy"],
                    resourceNames: ["heapster", "http:heapster:", "https:heapster:", scraper, `http:${scraper}`],
                    verbs: ["get"],
                },
            ],
        },
        opts,
    );
    const clusterRole = new kubernetes.rbac.v1.ClusterRole(
        "dashboard-cluster-role",
        {
            metadata: { name: app, labels },
            rules: [{ apiGroups: ["metrics.k8s.io"], resources: ["pods", "nodes"], verbs: ["get", "list", "watch"] }],
        },
        opts,
    );
    const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace: ns }];
    new kubernetes.rbac.v1.RoleBinding(
        "dashboard-role-binding",
        {
            metadata: meta(app),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
            subjects,
        },
        opts,
    );
    new kubernetes.rbac.v1.ClusterRoleBinding(
        "dashboard-cluster-role-binding",
        {
            metadata: { name: app },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
            subjects,
        },
        opts,
    );
    // Upstream's user and group; runAsNonRoot and no capabilities on top (its ports are above 1024).
    const hardened = {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 1001,
        runAsGroup: 2001,
    };
    const podSpec = {
        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
        serviceAccountName: account.metadata.name,
        nodeSelector: { "kubernetes.io/os": "linux" },
        // Upstream tolerates the pre-1.24 master taint; the current one is control-plane. Tolerated so the
        // UI also runs in a cluster without workers (it prefers nothing: the scheduler spreads as usual).
        tolerations: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }],
    };
    const tmpVolume = { name: "tmp-volume", emptyDir: {} };
    new kubernetes.apps.v1.Deployment(
        "dashboard-deployment",
        {
            metadata: meta(app),
            spec: {
                replicas: 1,
                revisionHistoryLimit: 10,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: {
                        ...podSpec,
                        containers: [
                            {
                                name: app,
                                image: addonImage(config.mirrors, "dashboard"),
                                imagePullPolicy: "Always",
                                ports: [{ containerPort: 8443, protocol: "TCP" }],
                                args: ["--auto-generate-certificates", `--namespace=${app}`],
                                volumeMounts: [
                                    { name: `${app}-certs`, mountPath: "/certs" },
                                    // Exec sessions log here; the root filesystem is read-only.
                                    { name: tmpVolume.name, mountPath: "/tmp" },
                                ],
                                livenessProbe: {
                                    httpGet: { scheme: "HTTPS", path: "/", port: 8443 },
                                    initialDelaySeconds: 30,
                                    timeoutSeconds: 30,
                                },
                                securityContext: hardened,
                                // The dashboard chart's (6.x, the v2.7 line) own figures.
                                resources: {
                                    requests: { cpu: "100m", memory: "200Mi" },
                                    limits: { cpu: "2", memory: "200Mi" },
                                },
                            },
                        ],
                        volumes: [{ name: `${app}-certs`, secret: { secretName: certs.metadata.name } }, tmpVolume],
                    },
                },
            },
        },
        opts,
    );
    const scraperLabels = { "k8s-app": scraper };
    new kubernetes.core.v1.Service(
        "dashboard-metrics-scraper-service",
        {
            metadata: { name: scraper, namespace: ns, labels: scraperLabels },
            spec: { ports: [{ port: 8000, targetPort: 8000 }], selector: scraperLabels },
        },
        opts,
    );
    new kubernetes.apps.v1.Deployment(
        "dashboard-metrics-scraper-deployment",
        {
            metadata: { name: scraper, namespace: ns, labels: scraperLabels },
            spec: {
                replicas: 1,
                revisionHistoryLimit: 10,
                selector: { matchLabels: scraperLabels },
                template: {
                    metadata: { labels: scraperLabels },
                    spec: {
                        ...podSpec,
                        containers: [
                            {
                                name: scraper,
                                image: addonImage(config.mirrors, "dashboardMetricsScraper"),
                                ports: [{ containerPort: 8000, protocol: "TCP" }],
                                livenessProbe: {
                                    httpGet: { scheme: "HTTP", path: "/", port: 8000 },
                                    initialDelaySeconds: 30,
                                    timeoutSeconds: 30,
                                },
                                volumeMounts: [{ name: tmpVolume.name, mountPath: "/tmp" }],
                                securityContext: hardened,
                                // The chart sets none; it keeps a few minutes of metrics in SQLite on /tmp.
                                resources: {
                                    requests: { cpu: "10m", memory: "32Mi" },
                                    limits: { cpu: "500m", memory: "128Mi" },
                                },
                            },
                        ],
                        volumes: [tmpVolume],
                    },
                },
            },
        },
        opts,
    );
    return {
        namespace: ns,
        namespaceName: app,
        // The dashboard project's own sample user for token login.
        adminAccount: "admin-user",
        access: {
            ui: "kubernetes-dashboard",
            // Through the API server: nothing listens outside the cluster, and the dashboard accepts a token
            // over plain HTTP only from localhost, which the proxy is.
            command: `${kubectl} proxy`,
            url: `http://localhost:8001/api/v1/namespaces/${app}/services/https:${app}:/proxy/`,
        },
    };
}

/**
 * Headlamp's plain in-cluster manifest (kubernetes-headlamp.yaml): a Service and a Deployment, in a namespace of
 * their own rather than the manifest's kube-system, which Pod Security exempts and where anything that may create
 * pods there reaches every system credential.
 */
function installHeadlamp(config: ClusterConfig, opts: pulumi.CustomResourceOptions): InstalledUi {
    const app = "headlamp";
    const labels = { "k8s-app": app };
    const namespace = uiNamespace("headlamp-namespace", app, opts);
    const port = 4466;
    new kubernetes.core.v1.Service(
        "headlamp-service",
        { metadata: { name: app, namespace }, spec: { ports: [{ port: 80, targetPort: port }], selector: labels } },
        opts,
    );
    const probe = { httpGet: { scheme: "HTTP", path: "/", port }, initialDelaySeconds: 30, timeoutSeconds: 30 };
    // The manifest sets no securityContext; these are what Headlamp's Helm chart runs it with (its image's user
    // 100:101), plus a read-only root filesystem with a writable /tmp, as the chart does when that is asked for.
    const tmpVolume = { name: "headlamp-tmp", emptyDir: {} };
    new kubernetes.apps.v1.Deployment(
        "headlamp-deployment",
        {
            metadata: { name: app, namespace },
            spec: {
                replicas: 1,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: {
                        containers: [
                            {
                                name: app,
                                image: addonImage(config.mirrors, "headlamp"),
                                // In-cluster mode: the cluster is the one it runs in; users log in with a token.
                                args: ["-in-cluster", "-plugins-dir=/headlamp/plugins"],
                                ports: [{ containerPort: port }],
                                readinessProbe: probe,
                                livenessProbe: probe,
                                volumeMounts: [{ name: tmpVolume.name, mountPath: "/tmp" }],
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    capabilities: { drop: ["ALL"] },
                                    privileged: false,
                                    readOnlyRootFilesystem: true,
                                    runAsNonRoot: true,
                                    runAsUser: 100,
                                    runAsGroup: 101,
                                },
                                // The chart's suggested figures (it sets none by default), with room above them.
                                resources: {
                                    requests: { cpu: "100m", memory: "128Mi" },
                                    limits: { cpu: "1", memory: "256Mi" },
                                },
                            },
                        ],
                        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                        volumes: [tmpVolume],
                        nodeSelector: { "kubernetes.io/os": "linux" },
                    },
                },
            },
        },
        opts,
    );
    return {
        namespace,
        namespaceName: app,
        // Headlamp's documented service account for token login.
        adminAccount: "headlamp-admin",
        access: {
            ui: "headlamp",
            command: `${kubectl} -n ${app} port-forward svc/${app} 8080:80`,
            url: "http://localhost:8080/",
        },
    };
}

/**
 * A UI's namespace, at Pod Security's restricted level whatever kubeha:podSecurity.enforce says (both UIs meet it):
 * the UI holds a cluster-admin login, so nothing weaker may run beside it.
 */
function uiNamespace(resourceName: string, name: string, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
    const labels = { "pod-security.kubernetes.io/enforce": "restricted" };
    return new kubernetes.core.v1.Namespace(resourceName, { metadata: { name, labels } }, opts).metadata.name;
}

const uiPrefix = (installed: InstalledUi) => (installed.access.ui === "headlamp" ? "headlamp" : "dashboard");

/** The cluster-admin ServiceAccount an operator logs in to the UI as, and its binding. */
function adminAccount(installed: InstalledUi, opts: pulumi.CustomResourceOptions): kubernetes.core.v1.ServiceAccount {
    const { namespace, adminAccount: name } = installed;
    const account = new kubernetes.core.v1.ServiceAccount(
        `${uiPrefix(installed)}-admin-service-account`,
        { metadata: { name, namespace } },
        opts,
    );
    new kubernetes.rbac.v1.ClusterRoleBinding(
        `${uiPrefix(installed)}-admin-cluster-role-binding`,
        {
            metadata: { name },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
            subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace }],
        },
        opts,
    );
    return account;
}

/**
 * The account's long-lived token: a kubernetes.io/service-account-token Secret, which the token controller fills
 * in (since 1.24 nothing creates one on its own). Returns the decoded token as a secret.
 */
function longLivedToken(
    installed: InstalledUi,
    account: kubernetes.core.v1.ServiceAccount,
    opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
    const { namespace, adminAccount: name } = installed;
    const tokenSecret = new kubernetes.core.v1.Secret(
        `${uiPrefix(installed)}-admin-token`,
        {
            metadata: {
                name,
                namespace,
                // Naming the account through its output also orders the Secret after it: the token controller
                // rejects a token Secret for an account that does not exist yet.
                annotations: { "kubernetes.io/service-account.name": account.metadata.name },
            },
            type: "kubernetes.io/service-account-token",
        },
        opts,
    );
    // The provider waits until the controller has written data.token. Offline plans have no cluster and
    // so no token: empty then, and tokenCommand reads it once the cluster exists.
    return pulumi.secret(
        tokenSecret.data.apply((data) => (data?.token ? Buffer.from(data.token, "base64").toString("utf8") : "")),
    );
}

const linuxOnly = {
    nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }] }],
        },
    },
};
