// Files the kube-apiserver reads besides its certificates: the encryption-at-rest configuration (holds the
// key: a secret file) and the audit policy. kubeadm mounts their directories into the apiserver's static pod
// (render/kubeadm.ts, apiServer.extraVolumes).
import { stringify } from "yaml";
import { HostFile } from "./host-file";

export const apiserverFiles = {
    encryptionDir: "/etc/kubernetes/encryption",
    encryptionConfig: "/etc/kubernetes/encryption/encryption-config.yaml",
    auditDir: "/etc/kubernetes/audit",
    auditPolicy: "/etc/kubernetes/audit/policy.yaml",
    auditLogDir: "/var/log/kubernetes/audit",
    auditLog: "/var/log/kubernetes/audit/audit.log",
} as const;

/** The key's name in the file; a rotation adds a second key under a new name first. */
export const encryptionKeyName = "key1";

/**
 * Secrets encrypted at rest with secretbox (XSalsa20-Poly1305): the strongest provider the API offers
 * without a KMS. Seed 001's aescbc is weak (padding oracle); aesgcm needs a new key every 200k writes.
 * `identity` comes last so secrets written before encryption was on can still be read.
 * `key` is 32 random bytes, base64-encoded (a Pulumi secret generated elsewhere).
 */
export function renderEncryptionConfig(key: string): HostFile {
    if (Buffer.from(key, "base64").length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
        throw new Error("the secretbox key must be 32 random bytes, base64-encoded");
    }
    const config = {
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "EncryptionConfiguration",
        resources: [
            {
                resources: ["secrets"],
                providers: [{ secretbox: { keys: [{ name: encryptionKeyName, secret: key }] } }, { identity: {} }],
            },
        ],
    };
    return { path: apiserverFiles.encryptionConfig, mode: "0600", content: stringify(config) };
}

const knownApiGroups = [
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "extensions",
    "metrics.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "settings.k8s.io",
    "storage.k8s.io",
].map((group) => ({ group }));

/** Seed 001's audit policy, rule for rule, as audit.k8s.io/v1 (its v1beta1 is gone). */
export const auditPolicy = {
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    rules: [
        // High-volume, low-risk requests: not logged.
        {
            level: "None",
            resources: [{ group: "", resources: ["endpoints", "services", "services/status"] }],
            users: ["system:kube-proxy"],
            verbs: ["watch"],
        },
        {
            level: "None",
            resources: [{ group: "", resources: ["nodes", "nodes/status"] }],
            userGroups: ["system:nodes"],
            verbs: ["get"],
        },
        {
            level: "None",
            namespaces: ["kube-system"],
            resources: [{ group: "", resources: ["endpoints"] }],
            users: [
                "system:kube-controller-manager",
                "system:kube-scheduler",
                "system:serviceaccount:kube-system:endpoint-controller",
            ],
            verbs: ["get", "update"],
        },
        {
            level: "None",
            resources: [{ group: "", resources: ["namespaces", "namespaces/status", "namespaces/finalize"] }],
            users: ["system:apiserver"],
            verbs: ["get"],
        },
        // The HPA fetching metrics.
        {
            level: "None",
            resources: [{ group: "metrics.k8s.io" }],
            users: ["system:kube-controller-manager"],
            verbs: ["get", "list"],
        },
        // Read-only URLs.
        { level: "None", nonResourceURLs: ["/healthz*", "/version", "/swagger*"] },
        // Events.
        { level: "None", resources: [{ group: "", resources: ["events"] }] },
        // Node and pod status updates from nodes are frequent and large: the request only.
        {
            level: "Request",
            omitStages: ["RequestReceived"],
            resources: [{ group: "", resources: ["nodes/status", "pods/status"] }],
            users: [
                "kubelet",
                "system:node-problem-detector",
                "system:serviceaccount:kube-system:node-problem-detector",
            ],
            verbs: ["update", "patch"],
        },
        {
            level: "Request",
            omitStages: ["RequestReceived"],
            resources: [{ group: "", resources: ["nodes/status", "pods/status"] }],
            userGroups: ["system:nodes"],
            verbs: ["update", "patch"],
        },
        // Namespace deletion's deletecollection calls can be large.
        {
            level: "Request",
            omitStages: ["RequestReceived"],
            users: ["system:serviceaccount:kube-system:namespace-controller"],
            verbs: ["deletecollection"],
        },
        // Secrets, ConfigMaps and TokenReviews can hold sensitive or binary data: metadata only.
        {
            level: "Metadata",
            omitStages: ["RequestReceived"],
            resources: [
                { group: "", resources: ["secrets", "configmaps"] },
                { group: "authentication.k8s.io", resources: ["tokenreviews"] },
            ],
        },
        // Responses to reads can be large: the request only.
        {
            level: "Request",
            omitStages: ["RequestReceived"],
            resources: knownApiGroups,
            verbs: ["get", "list", "watch"],
        },
        // Everything else on the known APIs: request and response.
        { level: "RequestResponse", omitStages: ["RequestReceived"], resources: knownApiGroups },
        // All other requests: metadata.
        { level: "Metadata", omitStages: ["RequestReceived"] },
    ],
};

export function renderAuditPolicy(): HostFile {
    return {
        path: apiserverFiles.auditPolicy,
        mode: "0644",
        content: stringify(auditPolicy, { aliasDuplicateObjects: false }),
    };
}
