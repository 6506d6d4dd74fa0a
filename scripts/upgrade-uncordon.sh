#!/usr/bin/env bash
# Step upgrade-uncordon (run on the first master for each node, after the node's upgrade step): waits until the
# node's kubelet reports the target version and the node is Ready, then lifts kubeha's cordon (upgrade-drain
# marks it with the annotation kubeha.io/upgrade-cordon). A node an operator had cordoned stays cordoned.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the upgraded node)}"
: "${KUBEHA_KUBERNETES_VERSION:?KUBEHA_KUBERNETES_VERSION is required (the exact target version, 1.37.2)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME
target=v$KUBEHA_KUBERNETES_VERSION
readonly mark=kubeha.io/upgrade-cordon

state() {
    node_field "$node" '{.metadata.name}|{.status.nodeInfo.kubeletVersion}|{.status.conditions[?(@.type=="Ready")].status}'
}
# ready_at_target: the node is Ready at the target version, or the API answered that it does not exist; fails
# otherwise, and when the API did not answer (a lost connection is not a node gone).
ready_at_target() {
    local current name version ready
    current=$(state) || return 1
    IFS='|' read -r name version ready <<<"$current"
    [[ -z $name ]] && return 0
    if [[ $version != "$target" || $ready != True ]]; then
        echo "node $node: kubelet $version, Ready=$ready" >&2
        return 1
    fi
}
uncordon() {
    kubectl_as "$admin_kubeconfig" uncordon "$node" && kubectl_as "$admin_kubeconfig" annotate node "$node" "$mark-"
}

retry_until "$deadline" "node $node to be Ready with kubelet $target" ready_at_target >/dev/null ||
    fail "node $node is not Ready with kubelet $target after ${KUBEHA_TIMEOUT}s; it stays cordoned" \
        "kubectl describe node $node (conditions)" "journalctl -u kubelet -n 100, on $node"
# The node's name and kubeha's mark, asked once: an unanswered question fails the step rather than skip or uncordon.
marked=$(retry_until "$deadline" "the API server" node_field "$node" '{.metadata.name}|{.metadata.annotations.kubeha\.io/upgrade-cordon}') ||
    fail "cannot ask the API server about node $node; it stays cordoned" \
        "kubectl --kubeconfig $admin_kubeconfig get --raw=/readyz on this master"
if [[ -z ${marked%%|*} ]]; then
    log "node $node is not in the cluster: nothing to uncordon"
elif [[ -n ${marked#*|} ]]; then
    retry_until "$deadline" "uncordon $node" uncordon >/dev/null || fail "could not uncordon node $node"
    log "node $node runs $target and is schedulable again"
else
    log "node $node runs $target$([[ $(node_field "$node" '{.spec.unschedulable}') != true ]] || echo "; it stays cordoned (cordoned before the upgrade, not by kubeha)")"
fi
