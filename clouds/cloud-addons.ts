// The cloud integration in the cluster (kubeha:cloudIntegration), written once for every cloud: a cloud controller
// manager on the masters, a CSI driver (its controller and its node plugin), an admission policy that keeps
// LoadBalancer Services from opening to the whole internet by accident, and an encrypted default StorageClass.
// What differs is data each cloud hands in (clouds/<cloud>/cloud-addons.ts: a CloudAddonsSpec).
import * as kubernetes from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/resolve";

export interface CloudAddonsArgs {
    readonly config: ClusterConfig;
    /** `<project>-<stack>`: the name the cloud's resources are tagged with. */
    readonly clusterName: string;
    /** The cluster's zones: the default StorageClass creates volumes there only. */
    readonly zones: readonly string[];
}

/** The objects go through the addons' provider and, like every addon, go with the cluster (addons.ts deletedWith). */
export type CloudAddonsOptions = pulumi.ComponentResourceOptions & {
    readonly provider: kubernetes.Provider;
    readonly deletedWith?: pulumi.Resource;
};

type PolicyRule = kubernetes.types.input.rbac.v1.PolicyRule;

/** The node's taint until the cloud controller manager has initialised it (kubelet --cloud-provider=external). */
export const uninitializedTaint = "node.cloudprovider.kubernetes.io/uninitialized";

/**
 * On the masters only, before the nodes are initialised or ready: the masters hold the controllers' cloud role
 * (clouds/aws/controller-role.ts, clouds/aliyun/controller-roles.ts), and nothing else removes the taint.
 */
export const onMasters = {
    nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
    tolerations: [
        { key: uninitializedTaint, operator: "Exists", effect: "NoSchedule" },
        { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" },
    ],
};

/** A controller's rights: a ClusterRole (named `clusterRoleName`, or as the account) and, if given, a Role in kube-system. */
export interface AccountRules {
    readonly cluster: PolicyRule[];
    readonly namespaced?: PolicyRule[];
    readonly clusterRoleName?: string;
}

/** A ServiceAccount in kube-system bound to a ClusterRole with these rules (and, if given, a Role in kube-system). */
function serviceAccountWithRoles(
    name: string,
    rules: AccountRules,
    opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
    const namespace = "kube-system";
    const account = new kubernetes.core.v1.ServiceAccount(
        `${name}-service-account`,
        { metadata: { name, namespace } },
        opts,
    );
    const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace }];
    const clusterRole = new kubernetes.rbac.v1.ClusterRole(
        `${name}-cluster-role`,
        { metadata: { name: rules.clusterRoleName ?? name }, rules: rules.cluster },
        opts,
    );
    new kubernetes.rbac.v1.ClusterRoleBinding(
        `${name}-cluster-role-binding`,
        {
            metadata: { name: clusterRole.metadata.name },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
            subjects,
        },
        opts,
    );
    if (rules.namespaced) {
        const role = new kubernetes.rbac.v1.Role(
            `${name}-role`,
            { metadata: { name, namespace }, rules: rules.namespaced },
            opts,
        );
        new kubernetes.rbac.v1.RoleBinding(
            `${name}-role-binding`,
            {
                metadata: { name, namespace },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                subjects,
            },
            opts,
        );
    }
    return account.metadata.name;
}

/**
 * A cloud controller manager reads the request-header CA from kube-system's extension-apiserver-authentication
 * ConfigMap at start and exits without it: the Role Kubernetes ships for exactly this, bound to its account.
 */
function authenticationReader(name: string, account: pulumi.Input<string>, opts: pulumi.CustomResourceOptions) {
    new kubernetes.rbac.v1.RoleBinding(
        `${name}-authentication-reader`,
        {
            metadata: { name: `${name}:apiserver-authentication-reader`, namespace: "kube-system" },
            roleRef: {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "Role",
                name: "extension-apiserver-authentication-reader",
            },
            subjects: [{ kind: "ServiceAccount", name: account, namespace: "kube-system" }],
        },
        opts,
    );
}

/**
 * The default StorageClass: encrypted volumes of the given type, created when a pod first uses the claim (so in
 * that pod's zone), only in the cluster's zones, growable in place; deleted with their claim.
 */
function defaultStorageClass(
    name: string,
    args: {
        provisioner: pulumi.Input<string>;
        parameters: Record<string, string>;
        zoneLabel: string;
        zones: readonly string[];
    },
    opts: pulumi.CustomResourceOptions,
): kubernetes.storage.v1.StorageClass {
    return new kubernetes.storage.v1.StorageClass(
        "default-storage-class",
        {
            metadata: { name, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
            provisioner: args.provisioner,
            parameters: args.parameters,
            reclaimPolicy: "Delete",
            volumeBindingMode: "WaitForFirstConsumer",
            allowVolumeExpansion: true,
            allowedTopologies: [{ matchLabelExpressions: [{ key: args.zoneLabel, values: [...args.zones] }] }],
        },
        opts,
    );
}

/** The annotation with which a Service's owner says that a load balancer open to everyone is what they want. */
export const internetFacingAnnotation = "kubeha.io/internet-facing";

/** A CEL test that a Service (`object` or `oldObject`) carries an annotation with this value. */
export function annotationIs(root: string, key: string, value: string): string {
    return `(has(${root}.metadata.annotations) && '${key}' in ${root}.metadata.annotations && ${root}.metadata.annotations['${key}'] == '${value}')`;
}

/**
 * The cloud controller manager gives a LoadBalancer Service a load balancer open to the whole internet unless the
 * Service restricts it. This admission policy refuses such a Service unless it says how it is restricted (the
 * cloud's conditions) or that being open is intended (kubeha.io/internet-facing: "true"). A Service that was
 * already open before (created before the policy) may still be updated: its controllers must be able to finish it.
 */
function restrictLoadBalancers(
    restricted: (root: string) => string[],
    hint: string,
    opts: pulumi.CustomResourceOptions,
): void {
    const allowed = (root: string) =>
        `(${[...restricted(root), annotationIs(root, internetFacingAnnotation, "true")].join(" || ")})`;
    const name = "kubeha-load-balancer-exposure";
    const policy = new kubernetes.admissionregistration.v1.ValidatingAdmissionPolicy(
        "load-balancer-exposure-policy",
        {
            metadata: { name },
            spec: {
                failurePolicy: "Fail",
                matchConstraints: {
                    resourceRules: [
                        {
                            apiGroups: [""],
                            apiVersions: ["v1"],
                            operations: ["CREATE", "UPDATE"],
                            resources: ["services"],
                        },
                    ],
                },
                validations: [
                    {
                        expression:
                            `object.spec.type != 'LoadBalancer' || ${allowed("object")} || ` +
                            `(request.operation == 'UPDATE' && oldObject.spec.type == 'LoadBalancer' && !${allowed("oldObject")})`,
                        message:
                            `a LoadBalancer Service is open to the whole internet unless it says otherwise: ${hint}, ` +
                            `or annotate it ${internetFacingAnnotation}: "true" if that is intended`,
                        reason: "Forbidden",
                    },
                ],
            },
        },
        opts,
    );
    new kubernetes.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        "load-balancer-exposure-binding",
        { metadata: { name }, spec: { policyName: policy.metadata.name, validationActions: ["Deny"] } },
        opts,
    );
}

export function fieldEnv(name: string, fieldPath: string) {
    return { name, valueFrom: { fieldRef: { fieldPath } } };
}

type Container = kubernetes.types.input.core.v1.Container;
type ObjectMeta = kubernetes.types.input.meta.v1.ObjectMeta;

/** A workload the cloud describes in full, given the ServiceAccount it runs as. */
export interface Workload<Spec> {
    /** The resource's name in the stack (the object's own name is in its metadata). */
    readonly resourceName: string;
    readonly metadata: ObjectMeta;
    spec(serviceAccountName: pulumi.Output<string>): Spec;
}

/** What a cloud hands in: its controllers, its CSI driver, how its load balancers are restricted, its disks. */
export interface CloudAddonsSpec {
    /** The component's type and name, as the cloud's stacks hold them in their resources' URNs. */
    readonly componentType: string;
    readonly componentName: string;
    readonly controllerManager: {
        /** The DaemonSet's resource and object name. */
        readonly name: string;
        readonly labels: Record<string, string>;
        readonly rules: PolicyRule[];
        readonly updateStrategy?: kubernetes.types.input.apps.v1.DaemonSetUpdateStrategy;
        readonly container: Container;
        /** A ConfigMap of that name, mounted read-only into the container at `mountPath`. */
        readonly config?: { readonly name: string; readonly mountPath: string; readonly data: Record<string, string> };
    };
    readonly csi: {
        readonly driver: {
            readonly resourceName: string;
            readonly spec: kubernetes.types.input.storage.v1.CSIDriverSpec;
        };
        /** Its name is the driver's: the StorageClass's provisioner. */
        readonly name: string;
        readonly controllerAccount: { readonly name: string; readonly rules: AccountRules };
        readonly nodeAccount: { readonly name: string; readonly rules: AccountRules };
        readonly controller: Workload<kubernetes.types.input.apps.v1.DeploymentSpec>;
        readonly node: Workload<kubernetes.types.input.apps.v1.DaemonSetSpec>;
    };
    readonly loadBalancers: {
        /** CEL tests, each enough to show the Service restricts who reaches its load balancer. */
        restricted(root: string): string[];
        /** How a Service's owner restricts it, for the refusal's message. */
        readonly hint: string;
    };
    readonly storageClass: {
        readonly name: string;
        readonly parameters: Record<string, string>;
        /** The node label the driver's topology uses for zones. */
        readonly zoneLabel: string;
    };
}

export class CloudAddons extends pulumi.ComponentResource {
    readonly storageClass: pulumi.Output<string>;

    constructor(spec: CloudAddonsSpec, args: CloudAddonsArgs, opts: CloudAddonsOptions) {
        super(spec.componentType, spec.componentName, {}, opts);
        const objectOpts: pulumi.CustomResourceOptions = {
            parent: this,
            provider: opts.provider,
            deletedWith: opts.deletedWith,
        };
        const namespace = "kube-system";

        // The cloud controller manager, on the masters' network: only there does the metadata service hand out the
        // masters' cloud role.
        const ccm = spec.controllerManager;
        const ccmAccount = serviceAccountWithRoles(
            "cloud-controller-manager",
            { clusterRoleName: "system:cloud-controller-manager", cluster: ccm.rules },
            objectOpts,
        );
        authenticationReader("cloud-controller-manager", ccmAccount, objectOpts);
        const config =
            ccm.config &&
            new kubernetes.core.v1.ConfigMap(
                ccm.config.name,
                { metadata: { name: ccm.config.name, namespace }, data: ccm.config.data },
                objectOpts,
            );
        new kubernetes.apps.v1.DaemonSet(
            ccm.name,
            {
                metadata: { name: ccm.name, namespace, labels: ccm.labels },
                spec: {
                    selector: { matchLabels: ccm.labels },
                    ...(ccm.updateStrategy ? { updateStrategy: ccm.updateStrategy } : {}),
                    template: {
                        metadata: { labels: ccm.labels },
                        spec: {
                            ...onMasters,
                            priorityClassName: "system-node-critical",
                            serviceAccountName: ccmAccount,
                            hostNetwork: true,
                            containers: [
                                ccm.config
                                    ? {
                                          ...ccm.container,
                                          volumeMounts: [
                                              {
                                                  name: ccm.config.name,
                                                  mountPath: ccm.config.mountPath,
                                                  readOnly: true,
                                              },
                                          ],
                                      }
                                    : ccm.container,
                            ],
                            ...(config
                                ? { volumes: [{ name: ccm.config!.name, configMap: { name: config.metadata.name } }] }
                                : {}),
                        },
                    },
                },
            },
            objectOpts,
        );

        // The CSI driver: its controller (provisioner, attacher, resizer) and its plugin on every node.
        const csi = spec.csi;
        const controllerAccount = serviceAccountWithRoles(
            csi.controllerAccount.name,
            csi.controllerAccount.rules,
            objectOpts,
        );
        const nodeAccount = serviceAccountWithRoles(csi.nodeAccount.name, csi.nodeAccount.rules, objectOpts);
        new kubernetes.storage.v1.CSIDriver(
            csi.driver.resourceName,
            { metadata: { name: csi.name }, spec: csi.driver.spec },
            objectOpts,
        );
        new kubernetes.apps.v1.Deployment(
            csi.controller.resourceName,
            { metadata: csi.controller.metadata, spec: csi.controller.spec(controllerAccount) },
            objectOpts,
        );
        new kubernetes.apps.v1.DaemonSet(
            csi.node.resourceName,
            { metadata: csi.node.metadata, spec: csi.node.spec(nodeAccount) },
            objectOpts,
        );

        restrictLoadBalancers(spec.loadBalancers.restricted, spec.loadBalancers.hint, objectOpts);
        this.storageClass = defaultStorageClass(
            spec.storageClass.name,
            { ...spec.storageClass, provisioner: csi.name, zones: args.zones },
            objectOpts,
        ).metadata.name;
        this.registerOutputs({ storageClass: this.storageClass });
    }
}
