// Files the kube-apiserver reads besides its certificates: the encryption-at-rest configuration (holds the
// key: a secret file), the audit policy and the admission configuration (Pod Security's defaults). kubeadm mounts
// their directories into the apiserver's static pod (render/kubeadm.ts, apiServer.extraVolumes).
import { stringify } from "yaml";
import type { PodSecurityLevel } from "../config/schema";
import { HostFile } from "./host-file";

export const apiserverFiles = {
    encryptionDir: "/etc/kubernetes/encryption",
    encryptionConfig: "/etc/kubernetes/encryption/encryption-config.yaml",
    auditDir: "/etc/kubernetes/audit",
    auditPolicy: "/etc/kubernetes/audit/policy.yaml",
    auditLogDir: "/var/log/kubernetes/audit",
    auditLog: "/var/log/kubernetes/audit/audit.log",
    admissionDir: "/etc/kubernetes/admission",
    admissionConfig: "/etc/kubernetes/admission/admission-config.yaml",
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

/**
 * The API groups whose request and response bodies are logged (seed 001's list, brought up to date: the groups
 * today's Kubernetes serves; extensions and settings.k8s.io are gone since 1.22 and 1.20).
 */
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
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
].map((group) => ({ group }));

/**
 * Seed 001's audit policy (upstream's GCE policy) as audit.k8s.io/v1, brought up to date with its intent kept:
 * metadata only for secrets and tokens, request bodies for reads, request and response bodies for writes,
 * high-volume noise dropped. The first matching rule decides.
 */
export const auditPolicy = {
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    rules: [
        // First, so no later rule can log a body: Secrets, ConfigMaps, TokenRequests (every pod's token is in
        // the response, kubernetes PR #102040) and TokenReviews hold credentials or binary data. Never dropped.
        {
            level: "Metadata",
            omitStages: ["RequestReceived"],
            resources: [
                { group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"] },
                { group: "authentication.k8s.io", resources: ["tokenreviews"] },
            ],
        },
        // High-volume, low-risk requests: not logged. kube-proxy (a service account under kubeadm) watches
        // Services and EndpointSlices.
        {
            level: "None",
            resources: [
                { group: "", resources: ["endpoints", "services", "services/status"] },
                { group: "discovery.k8s.io", resources: ["endpointslices"] },
            ],
            users: ["system:serviceaccount:kube-system:kube-proxy"],
            verbs: ["watch"],
        },
        {
            level: "None",
            resources: [{ group: "", resources: ["nodes", "nodes/status"] }],
            userGroups: ["system:nodes"],
            verbs: ["get"],
        },
        // Kubelets renew their node's lease every 10 s.
        {
            level: "None",
            namespaces: ["kube-node-lease"],
            resources: [{ group: "coordination.k8s.io", resources: ["leases"] }],
            userGroups: ["system:nodes"],
            verbs: ["get", "update"],
        },
        // Leader election (Leases since 1.20, where the seed's endpoints were).
        {
            level: "None",
            namespaces: ["kube-system"],
            resources: [{ group: "coordination.k8s.io", resources: ["leases"] }],
            users: ["system:kube-controller-manager", "system:kube-scheduler"],
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
        // Health probes and read-only URLs.
        { level: "None", nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/swagger*"] },
        // Events, in both APIs.
        {
            level: "None",
            resources: [
                { group: "", resources: ["events"] },
                { group: "events.k8s.io", resources: ["events"] },
            ],
        },
        // Node and pod status updates from nodes (kubelets, system:node:<name>) and the node problem detector
        // are frequent and large: the request only.
        {
            level: "Request",
            omitStages: ["RequestReceived"],
            resources: [{ group: "", resources: ["nodes/status", "pods/status"] }],
            users: ["system:node-problem-detector", "system:serviceaccount:kube-system:node-problem-detector"],
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

/**
 * Namespaces Pod Security admission skips: kube-proxy (kubeadm's DaemonSet, privileged), the cloud controllers'
 * CSI node plugins (privileged) and Headlamp run in kube-system, and kube-proxy's pods are created before any
 * label could be put on the namespace. The program's own namespaces carry their level as a label instead
 * (components/addons.ts).
 */
export const podSecurityExemptNamespaces = ["kube-system"] as const;

/**
 * The apiserver's admission configuration: Pod Security's cluster-wide defaults for namespaces without
 * `pod-security.kubernetes.io/*` labels. `enforce` (kubeha:podSecurity.enforce) refuses pods; audit and warn
 * are always `restricted`, so what a workload would need to meet the strictest level shows in the audit log and
 * as kubectl warnings without refusing anything.
 */
export function renderAdmissionConfig(enforce: PodSecurityLevel): HostFile {
    const config = {
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "AdmissionConfiguration",
        plugins: [
            {
                name: "PodSecurity",
                configuration: {
                    apiVersion: "pod-security.admission.config.k8s.io/v1",
                    kind: "PodSecurityConfiguration",
                    defaults: {
                        enforce,
                        "enforce-version": "latest",
                        audit: "restricted",
                        "audit-version": "latest",
                        warn: "restricted",
                        "warn-version": "latest",
                    },
                    exemptions: { usernames: [], runtimeClasses: [], namespaces: [...podSecurityExemptNamespaces] },
                },
            },
        ],
    };
    return { path: apiserverFiles.admissionConfig, mode: "0644", content: stringify(config) };
}
