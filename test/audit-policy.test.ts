// The apiserver's audit policy, evaluated the way kube-apiserver evaluates it (test/support/audit-policy.ts):
// no request can log a token or a Secret's data, seed 001's intent holds for today's Kubernetes, and the rules
// name only identities and API groups that exist in a kubeadm cluster.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { renderAuditPolicy } from "../render/apiserver-files";
import { AuditLevel, auditLevel, AuditRequest, AuditRule } from "./support/audit-policy";

const policy = parseYaml(renderAuditPolicy().content) as { apiVersion: string; kind: string; rules: AuditRule[] };
const rules = policy.rules;
const levelOf = (request: AuditRequest) => auditLevel(rules, request);

const verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

/** Every user and group the policy names, plus an ordinary user and a pod's service account. */
const identities: { user: string; groups: string[] }[] = [
    ...new Set(rules.flatMap((rule) => rule.users ?? [])),
    "alice",
    "system:serviceaccount:default:app",
].flatMap((user) =>
    [...new Set(rules.flatMap((rule) => rule.userGroups ?? [])), "system:authenticated", "system:serviceaccounts"].map(
        (group) => ({ user, groups: [group, "system:authenticated"] }),
    ),
);
const namespaces = [...new Set(rules.flatMap((rule) => rule.namespaces ?? [])), "default", ""];

/** Every request on a resource, over all verbs, identities and namespaces the policy distinguishes. */
function requestsOn(group: string, resource: string, subresource?: string): AuditRequest[] {
    return verbs.flatMap((verb) =>
        identities.flatMap(({ user, groups }) =>
            namespaces.map((namespace) => ({
                user,
                groups,
                verb,
                resource: { group, resource, subresource, namespace, name: "x" },
            })),
        ),
    );
}

/** A request by one identity (ordinary user unless given). */
function request(
    verb: string,
    group: string,
    resource: string,
    options: { user?: string; groups?: string[]; namespace?: string; subresource?: string } = {},
): AuditRequest {
    return {
        user: options.user ?? "alice",
        groups: options.groups ?? ["system:authenticated"],
        verb,
        resource: {
            group,
            resource,
            subresource: options.subresource,
            namespace: options.namespace ?? "default",
            name: "x",
        },
    };
}

describe("audit policy", () => {
    test("is audit.k8s.io/v1 at the path the apiserver flag names", () => {
        assert.equal(policy.apiVersion, "audit.k8s.io/v1");
        assert.equal(policy.kind, "Policy");
        assert.equal(renderAuditPolicy().path, "/etc/kubernetes/audit/policy.yaml");
    });

    // Metadata records who touched what, never a body: a Secret's data, a TokenRequest's token (kubernetes
    // PR #102040) or a TokenReview's token would otherwise be in the log in clear text.
    const sensitive: [string, string, string, string | undefined][] = [
        ["Secrets", "", "secrets", undefined],
        ["ConfigMaps", "", "configmaps", undefined],
        ["TokenRequests (every pod's token)", "", "serviceaccounts", "token"],
        ["TokenReviews", "authentication.k8s.io", "tokenreviews", undefined],
    ];
    for (const [what, group, resource, subresource] of sensitive) {
        test(`no request on ${what} is logged above Metadata, and none goes unrecorded`, () => {
            const requests = requestsOn(group, resource, subresource);
            assert.ok(requests.length > 500, "every verb, identity and namespace");
            const levels = new Set(requests.map(levelOf));
            assert.deepEqual([...levels], ["Metadata"], `${what}: ${[...levels].join(", ")}`);
        });
    }

    test("no rule before the sensitive one logs bodies: it comes first", () => {
        const first = rules.findIndex((rule) => rule.level === "Request" || rule.level === "RequestResponse");
        const sensitiveRule = rules.findIndex((rule) =>
            (rule.resources ?? []).some((each) => (each.resources ?? []).includes("serviceaccounts/token")),
        );
        assert.ok(sensitiveRule >= 0 && sensitiveRule < first, "the Metadata rule precedes every body-logging rule");
    });

    test("writes to the known APIs, today's groups included, keep request and response bodies", () => {
        const known: [string, string][] = [
            ["", "pods"],
            ["apps", "deployments"],
            ["rbac.authorization.k8s.io", "clusterrolebindings"],
            ["discovery.k8s.io", "endpointslices"],
            ["coordination.k8s.io", "leases"],
            ["events.k8s.io", "events"],
            ["flowcontrol.apiserver.k8s.io", "flowschemas"],
            ["node.k8s.io", "runtimeclasses"],
            ["resource.k8s.io", "resourceclaims"],
            ["certificates.k8s.io", "certificatesigningrequests"],
        ];
        for (const [group, resource] of known) {
            const expected: AuditLevel = group === "events.k8s.io" ? "None" : "RequestResponse";
            assert.equal(levelOf(request("create", group, resource)), expected, `create ${group}/${resource}`);
            const read: AuditLevel = group === "events.k8s.io" ? "None" : "Request";
            assert.equal(levelOf(request("list", group, resource)), read, `list ${group}/${resource}`);
        }
        // An API the policy does not know (a CRD): metadata only.
        assert.equal(levelOf(request("create", "example.com", "widgets")), "Metadata");
    });

    test("today's noise is dropped: kube-proxy's watches, leader election, node leases, events, health probes", () => {
        const kubeProxy = { user: "system:serviceaccount:kube-system:kube-proxy", groups: ["system:serviceaccounts"] };
        for (const [group, resource] of [
            ["discovery.k8s.io", "endpointslices"],
            ["", "services"],
        ]) {
            assert.equal(levelOf(request("watch", group, resource, kubeProxy)), "None", `kube-proxy watch ${resource}`);
        }
        for (const user of ["system:kube-controller-manager", "system:kube-scheduler"]) {
            for (const verb of ["get", "update"]) {
                const lease = request(verb, "coordination.k8s.io", "leases", { user, namespace: "kube-system" });
                assert.equal(levelOf(lease), "None", `${user} ${verb} its lease`);
            }
        }
        const node = { user: "system:node:worker-1", groups: ["system:nodes", "system:authenticated"] };
        for (const verb of ["get", "update"]) {
            const lease = request(verb, "coordination.k8s.io", "leases", { ...node, namespace: "kube-node-lease" });
            assert.equal(levelOf(lease), "None", `kubelet ${verb} its node lease`);
        }
        assert.equal(levelOf(request("get", "", "nodes", node)), "None");
        assert.equal(levelOf(request("patch", "", "nodes", { ...node, subresource: "status" })), "Request");
        for (const group of ["", "events.k8s.io"]) {
            assert.equal(levelOf(request("create", group, "events")), "None", `${group || "core"} events`);
        }
        for (const probe of ["/healthz", "/livez", "/readyz", "/readyz/etcd", "/version"]) {
            const nonResource = { user: "system:anonymous", groups: ["system:unauthenticated"], verb: "get" };
            assert.equal(levelOf({ ...nonResource, path: probe }), "None", probe);
        }
        // Not dropped: a user's lease write, or another namespace's.
        assert.equal(levelOf(request("update", "coordination.k8s.io", "leases")), "RequestResponse");
    });

    test("rules name only identities that exist: no `kubelet` user, no legacy system:kube-proxy", () => {
        const users = rules.flatMap((rule) => rule.users ?? []);
        assert.ok(!users.includes("kubelet"), "kubelets authenticate as system:node:<name> in group system:nodes");
        assert.ok(!users.includes("system:kube-proxy"), "kubeadm's kube-proxy runs as a service account");
        assert.ok(users.includes("system:serviceaccount:kube-system:kube-proxy"));
    });

    test("seed 001's other rules keep their effect", () => {
        const seed = parseYaml(fs.readFileSync(path.join(__dirname, "fixtures", "seed001-audit-policy.yaml"), "utf8"));
        assert.equal(seed.apiVersion, "audit.k8s.io/v1beta1");
        // Namespace deletion's deletecollection: the request only.
        const namespaceController = { user: "system:serviceaccount:kube-system:namespace-controller" };
        assert.equal(levelOf(request("deletecollection", "apps", "deployments", namespaceController)), "Request");
        // The HPA reading metrics: not logged.
        const controllerManager = { user: "system:kube-controller-manager" };
        assert.equal(levelOf(request("list", "metrics.k8s.io", "pods", controllerManager)), "None");
        // Anything else, anywhere: metadata (the seed's last rule).
        assert.deepEqual(rules.at(-1), seed.rules.at(-1));
        const nonResource = { user: "alice", groups: ["system:authenticated"], verb: "get", path: "/metrics" };
        assert.equal(levelOf(nonResource), "Metadata");
    });
});
