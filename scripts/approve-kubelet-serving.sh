#!/usr/bin/env bash
# Approves kubelet serving certificate requests (signer kubernetes.io/kubelet-serving; only when the kubelet
# config sets serverTLSBootstrap): Kubernetes has no approver for them (seed 004), and until one is issued
# `kubectl logs/exec` and metrics fail on that node. It runs two ways:
# - the <node>-serving-cert step (KUBEHA_NODE_NAME set), on the first master after a node joined: approves
#   that node's requests until its kubelet serves with an issued certificate;
# - kubeha-approve-kubelet-serving.timer on every master (KUBEHA_NODE_NAME unset): one pass over every
#   pending request, so the renewals kubelets ask for before their certificate expires are approved too.
# A request is approved only if a node of KUBEHA_NODES_FILE asked (system:node:<name> in system:nodes), the
# subject is exactly that node, the usages are a server's, and every name and address in it is one the file
# gives that node (or its own name). Anything else stays pending and is logged with the reason.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODES_FILE:?KUBEHA_NODES_FILE is required (one line per node: its name, then its addresses and DNS names comma-separated)}"
: "${KUBEHA_NODE_NAME:=}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
[[ -r $KUBEHA_NODES_FILE ]] || fail "the nodes file $KUBEHA_NODES_FILE is missing" "the files step's output on this master"

admin=/etc/kubernetes/admin.conf
readonly serving_signer=kubernetes.io/kubelet-serving
# One line per CSR: name, signer, requester, groups, usages, condition types, request (base64 PEM),
# separated by "|" (not a tab: read would merge the tabs around an empty field).
readonly csr_columns='{range .items[*]}{.metadata.name}{"|"}{.spec.signerName}{"|"}{.spec.username}{"|"}{range .spec.groups[*]}{@}{","}{end}{"|"}{range .spec.usages[*]}{@}{","}{end}{"|"}{range .status.conditions[*]}{.type}{","}{end}{"|"}{.spec.request}{"\n"}{end}'

# planned_addresses NODE: the names and addresses the nodes file gives NODE; fails for a node not in it.
planned_addresses() {
    awk -v node="$1" '$1 == node { print $2; found = 1 } END { exit !found }' "$KUBEHA_NODES_FILE"
}

# request_problem NODE ADDRESSES GROUPS USAGES REQUEST: why this CSR is not NODE's serving certificate
# request (nothing when it is). Signer and requester are checked by the caller.
request_problem() {
    local node=$1 addresses=$2 groups=$3 usages=$4 pem subject sans san usage server=no
    local -a list
    [[ ,$groups == *,system:nodes,* ]] || {
        echo "requester is not in system:nodes"
        return
    }
    IFS=, read -ra list <<<"$usages"
    for usage in "${list[@]}"; do
        case $usage in
            "server auth") server=yes ;;
            "digital signature" | "key encipherment") ;;
            *)
                echo "usage '$usage' is not a server's"
                return
                ;;
        esac
    done
    [[ $server == yes ]] || {
        echo "usages lack server auth"
        return
    }
    pem=$(base64 -d <<<"$5" 2>/dev/null) || {
        echo "request is not base64"
        return
    }
    subject=$(openssl req -noout -subject -nameopt RFC2253 <<<"$pem" 2>/dev/null) || {
        echo "request is not a PEM certificate request"
        return
    }
    subject=$(tr ',' '\n' <<<"${subject#subject=}" | sort | paste -sd ,)
    [[ $subject == "CN=system:node:$node,O=system:nodes" ]] || {
        echo "subject is $subject"
        return
    }
    sans=$(openssl req -noout -text <<<"$pem" | grep -A 1 'X509v3 Subject Alternative Name' | tail -n +2 || true)
    [[ -n ${sans//[[:space:]]/} ]] || {
        echo "names no DNS name or address"
        return
    }
    IFS=, read -ra list <<<"${sans//[[:space:]]/}"
    for san in "${list[@]}"; do
        case $san in
            DNS:* | IPAddress:*) [[ ,$node,$addresses, == *",${san#*:},"* ]] || {
                echo "names ${san#*:}, which is not $node's"
                return
            } ;;
            *)
                echo "names $san (only DNS names and IP addresses allowed)"
                return
                ;;
        esac
    done
}

# review_pending [NODE]: one pass over the pending serving CSRs (only NODE's, when given): approves those
# that check out, logs why each other one stays pending. Fails only when the API does not answer.
review_pending() {
    local only=${1:-} rows name signer user groups usages conditions request node addresses problem
    rows=$(kubectl_as "$admin" get csr --field-selector="spec.signerName=$serving_signer" -o jsonpath="$csr_columns") ||
        return 1
    while IFS='|' read -r name signer user groups usages conditions request; do
        [[ -n $name && $signer == "$serving_signer" && -z $conditions ]] || continue
        [[ -z $only || $user == "system:node:$only" ]] || continue
        node=${user#system:node:}
        if [[ $user != "system:node:$node" || -z $node ]]; then
            problem="requested by $user, not by a node"
        elif ! addresses=$(planned_addresses "$node"); then
            problem="requested by $user, which is not a node of this cluster"
        else
            problem=$(request_problem "$node" "$addresses" "$groups" "$usages" "$request")
        fi
        if [[ -z $problem ]]; then
            kubectl_as "$admin" certificate approve "$name" >/dev/null || return 1
            log "approved $name (serving certificate of $node)"
        else
            log "left $name pending: $problem"
        fi
    done <<<"$rows"
}

if [[ -z $KUBEHA_NODE_NAME ]]; then
    review_pending ||
        fail "could not list or approve certificate requests" \
            "kubectl --kubeconfig $admin get csr" "systemctl status kube-apiserver-proxy; crictl ps --name kube-apiserver"
    exit 0
fi

node=$KUBEHA_NODE_NAME
planned_addresses "$node" >/dev/null || fail "$node is not in $KUBEHA_NODES_FILE" "the files step's output on this master"

# approve_until_serving: succeeds once the kubelet serves TLS with an issued certificate (the API server
# reaches its /healthz); otherwise approves what checks out and fails, for retry_until to try again.
approve_until_serving() {
    if kubectl_as "$admin" get --raw="/api/v1/nodes/$node/proxy/healthz" >/dev/null 2>&1; then
        return 0
    fi
    review_pending "$node" || return 1
    echo "the kubelet on $node does not serve with an issued certificate yet" >&2
    return 1
}

deadline=$((SECONDS + KUBEHA_TIMEOUT))
retry_until "$deadline" "the serving certificate of $node" approve_until_serving ||
    fail "the kubelet on $node has no serving certificate after ${KUBEHA_TIMEOUT}s" \
        "kubectl get csr (Pending kubelet-serving requests; the log above says why one was left pending)" \
        "journalctl -u kubelet -n 100 on $node (certificate manager, serverTLSBootstrap)" \
        "kube-controller-manager logs: an approved CSR needs its signer to issue the certificate"
log "the kubelet on $node serves with an approved certificate"
