#!/usr/bin/env bash
# Step approve-kubelet-serving (run on a master for each node, after it joined; only when the kubelet
# config sets serverTLSBootstrap): Kubernetes has no approver for kubelet serving certificates (seed 004),
# and until one is issued `kubectl logs/exec` and metrics fail on that node. Approves a pending
# kubernetes.io/kubelet-serving CSR only if the node itself asked (system:node:<name> in system:nodes), the
# subject is exactly that node, the usages are a server's, and every name and address in it is one this
# node owns. Anything else stays pending and is reported. Done when the kubelet serves with its certificate.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node whose serving certificate to approve)}"
: "${KUBEHA_NODE_ADDRESSES:?KUBEHA_NODE_ADDRESSES is required (IP addresses and DNS names the node owns, comma-separated)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME
admin=/etc/kubernetes/admin.conf
readonly serving_signer=kubernetes.io/kubelet-serving
# One line per CSR: name, signer, requester, groups, usages, condition types, request (base64 PEM),
# separated by "|" (not a tab: read would merge the tabs around an empty field).
readonly csr_columns='{range .items[*]}{.metadata.name}{"|"}{.spec.signerName}{"|"}{.spec.username}{"|"}{range .spec.groups[*]}{@}{","}{end}{"|"}{range .spec.usages[*]}{@}{","}{end}{"|"}{range .status.conditions[*]}{.type}{","}{end}{"|"}{.spec.request}{"\n"}{end}'

# owned NAME-OR-ADDRESS: the node's own name, or one of the names and addresses it was given.
owned() {
    [[ ,$node,$KUBEHA_NODE_ADDRESSES, == *",$1,"* ]]
}

# request_problem GROUPS USAGES REQUEST: why this CSR is not the node's serving certificate request
# (nothing when it is). Signer and requester are checked by the caller.
request_problem() {
    local groups=$1 usages=$2 pem subject sans san usage server=no
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
    pem=$(base64 -d <<<"$3" 2>/dev/null) || {
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
            DNS:* | IPAddress:*) owned "${san#*:}" || {
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

# approve_pending: one pass. Approves the node's acceptable pending serving CSRs; succeeds once the
# kubelet serves TLS with an issued certificate (the API server reaches its /healthz).
approve_pending() {
    local rows name signer user groups usages conditions request problem
    if kubectl_as "$admin" get --raw="/api/v1/nodes/$node/proxy/healthz" >/dev/null 2>&1; then
        return 0
    fi
    rows=$(kubectl_as "$admin" get csr --field-selector="spec.signerName=$serving_signer" -o jsonpath="$csr_columns") ||
        return 1
    while IFS='|' read -r name signer user groups usages conditions request; do
        [[ -n $name && $signer == "$serving_signer" && $user == "system:node:$node" && -z $conditions ]] || continue
        problem=$(request_problem "$groups" "$usages" "$request")
        if [[ -z $problem ]]; then
            kubectl_as "$admin" certificate approve "$name" >/dev/null || return 1
            log "approved $name (serving certificate of $node)"
        else
            log "left $name pending: $problem"
        fi
    done <<<"$rows"
    echo "the kubelet on $node does not serve with an issued certificate yet" >&2
    return 1
}

retry_until "$deadline" "the serving certificate of $node" approve_pending ||
    fail "the kubelet on $node has no serving certificate after ${KUBEHA_TIMEOUT}s" \
        "kubectl get csr (Pending kubelet-serving requests; the log above says why one was left pending)" \
        "journalctl -u kubelet -n 100 on $node (certificate manager, serverTLSBootstrap)" \
        "kube-controller-manager logs: an approved CSR needs its signer to issue the certificate"
log "the kubelet on $node serves with an approved certificate"
