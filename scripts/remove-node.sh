#!/usr/bin/env bash
# Step remove-node (run on a master, as the delete of a worker's node step, before its instance goes):
# seed 000's scale-down. Cordons the node, drains it (lib.sh drain_node: daemon sets stay, emptyDir data goes,
# unmanaged pods are deleted) within KUBEHA_TIMEOUT seconds, and deletes the Node object. Succeeds at once
# when the node is gone already.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node to remove)}"
: "${KUBEHA_TIMEOUT:=600}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME

node_object() {
    node_field "$node" '{.metadata.name}'
}
# gone: the API answered that the node does not exist (fails when it exists or the API did not answer).
gone() {
    local name
    name=$(node_object) || return 1
    [[ -z $name ]]
}
cordon_node() {
    gone || kubectl_as "$admin_kubeconfig" cordon "$node"
}
drain_or_gone() {
    drain_node "$deadline" "$node" || gone
}
delete_node() {
    kubectl_as "$admin_kubeconfig" delete node "$node" --ignore-not-found
}

present=$(retry_until "$deadline" "the API server" node_object) ||
    fail "cannot ask the API server about node $node" \
        "kubectl --kubeconfig $admin_kubeconfig get --raw=/readyz on this master" "journalctl -u kubelet -n 100"
if [[ -z $present ]]; then
    log "node $node is not in the cluster (removed already)"
    exit 0
fi
if [[ $(node_field "$node" '{.spec.unschedulable}') != true ]]; then
    retry_until "$deadline" "cordon $node" cordon_node ||
        fail "could not cordon node $node" "kubectl describe node $node"
fi
log "draining node $node (at most $(seconds_left "$deadline")s)"
retry_until "$deadline" "drain $node" drain_or_gone ||
    fail_drain "$node" "could not drain node $node within ${KUBEHA_TIMEOUT}s"
retry_until "$deadline" "delete node $node" delete_node ||
    fail "could not delete node $node" "kubectl get node $node -o yaml (finalizers)"
log "node $node drained and deleted"
