// The kube-apiserver's audit policy evaluation (k8s.io/apiserver/pkg/audit/policy/checker.go), ported rule for
// rule: the first rule that matches a request decides its level; no match means None.

export type AuditLevel = "None" | "Metadata" | "Request" | "RequestResponse";

export interface GroupResources {
    readonly group?: string;
    readonly resources?: readonly string[];
    readonly resourceNames?: readonly string[];
}

export interface AuditRule {
    readonly level: AuditLevel;
    readonly users?: readonly string[];
    readonly userGroups?: readonly string[];
    readonly verbs?: readonly string[];
    readonly resources?: readonly GroupResources[];
    readonly namespaces?: readonly string[];
    readonly nonResourceURLs?: readonly string[];
    readonly omitStages?: readonly string[];
}

/** A request as the authorizer describes it. */
export interface AuditRequest {
    readonly user: string;
    readonly groups: readonly string[];
    readonly verb: string;
    /** A resource request; absent for a non-resource URL. */
    readonly resource?: {
        readonly group: string;
        readonly resource: string;
        readonly subresource?: string;
        /** "" for cluster-scoped resources. */
        readonly namespace: string;
        readonly name: string;
    };
    /** The path of a non-resource request. */
    readonly path?: string;
}

export function auditLevel(rules: readonly AuditRule[], request: AuditRequest): AuditLevel {
    return rules.find((rule) => ruleMatches(rule, request))?.level ?? "None";
}

function has<T>(list: readonly T[] | undefined): list is readonly T[] {
    return list !== undefined && list.length > 0;
}

export function ruleMatches(rule: AuditRule, request: AuditRequest): boolean {
    if (has(rule.users) && !rule.users.includes(request.user)) return false;
    if (has(rule.userGroups) && !request.groups.some((group) => rule.userGroups!.includes(group))) return false;
    if (has(rule.verbs) && !rule.verbs.includes(request.verb)) return false;
    if (has(rule.namespaces) || has(rule.resources)) return resourceMatches(rule, request);
    if (has(rule.nonResourceURLs)) {
        return request.path !== undefined && rule.nonResourceURLs.some((spec) => pathMatches(request.path!, spec));
    }
    return true;
}

function pathMatches(path: string, spec: string): boolean {
    if (spec === "*" || spec === path) return true;
    return spec.endsWith("*") && path.startsWith(spec.replace(/\*+$/, ""));
}

function resourceMatches(rule: AuditRule, request: AuditRequest): boolean {
    const target = request.resource;
    if (!target) return false;
    if (has(rule.namespaces) && !rule.namespaces.includes(target.namespace)) return false;
    if (!has(rule.resources)) return true;
    const combined = target.subresource ? `${target.resource}/${target.subresource}` : target.resource;
    return rule.resources.some((groupResources) => {
        if ((groupResources.group ?? "") !== target.group) return false;
        if (!has(groupResources.resources)) return true;
        if (has(groupResources.resourceNames) && !groupResources.resourceNames.includes(target.name)) return false;
        return groupResources.resources.some(
            (spec) =>
                spec === combined ||
                spec === "*" ||
                (target.subresource !== undefined && spec === `*/${target.subresource}`) ||
                (spec.endsWith("/*") && spec.slice(0, -2) === target.resource),
        );
    });
}
