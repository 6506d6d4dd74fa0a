// What both clouds' integration addons share (components/aws-cloud-addons.ts, aliyun-cloud-addons.ts): where the
// controllers run, their RBAC, and the default StorageClass.
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
 * (components/aws-controller-role.ts, aliyun-controller-roles.ts), and nothing else removes the taint.
 */
export const onMasters = {
    nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
    tolerations: [
        { key: uninitializedTaint, operator: "Exists", effect: "NoSchedule" },
        { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" },
    ],
};

/** A ServiceAccount in kube-system bound to a ClusterRole with these rules (and, if given, a Role in kube-system). */
export function serviceAccountWithRoles(
    name: string,
    rules: { cluster: PolicyRule[]; namespaced?: PolicyRule[]; clusterRoleName?: string },
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
export function authenticationReader(name: string, account: pulumi.Input<string>, opts: pulumi.CustomResourceOptions) {
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
export function defaultStorageClass(
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
export function restrictLoadBalancers(
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
