#!/usr/bin/env bash
# Step remove-node (run on a master, as the delete of a worker's node step, before its instance goes):
# seed 000's scale-down. Cordons the node, drains it (daemon sets stay, emptyDir data goes, unmanaged
# pods are deleted) within KUBEHA_TIMEOUT seconds, and deletes the Node object. Succeeds at once when the
# node is gone already.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node to remove)}"
: "${KUBEHA_TIMEOUT:=600}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME
admin=/etc/kubernetes/admin.conf

node_object() {
    kubectl_as "$admin" get node "$node" --ignore-not-found -o name
}
gone() {
    [[ -z $(node_object) ]]
}
cordon_node() {
    gone || kubectl_as "$admin" cordon "$node"
}
drain_node() {
    # A dead node's pods never confirm their deletion: after a minute, stop waiting for them.
    kubectl --kubeconfig="$admin" drain "$node" --ignore-daemonsets --delete-emptydir-data --force \
        --skip-wait-for-delete-timeout=60 --timeout="$(seconds_left "$deadline")s" || gone
}
delete_node() {
    kubectl_as "$admin" delete node "$node" --ignore-not-found
}

present=$(retry_until "$deadline" "the API server" node_object) ||
    fail "cannot ask the API server about node $node" \
        "kubectl --kubeconfig $admin get --raw=/readyz on this master" "journalctl -u kubelet -n 100"
if [[ -z $present ]]; then
    log "node $node is not in the cluster (removed already)"
    exit 0
fi
if [[ $(kubectl_as "$admin" get node "$node" -o jsonpath='{.spec.unschedulable}') != true ]]; then
    retry_until "$deadline" "cordon $node" cordon_node ||
        fail "could not cordon node $node" "kubectl describe node $node"
fi
log "draining node $node (at most $(seconds_left "$deadline")s)"
retry_until "$deadline" "drain $node" drain_node ||
    fail "could not drain node $node within ${KUBEHA_TIMEOUT}s" \
        "kubectl get pods -A -o wide --field-selector spec.nodeName=$node (the pods that stayed)" \
        "kubectl get pdb -A (a PodDisruptionBudget that allows no disruption blocks eviction)" \
        "to remove it anyway: kubectl drain $node --ignore-daemonsets --delete-emptydir-data --force --disable-eviction; then pulumi up"
retry_until "$deadline" "delete node $node" delete_node ||
    fail "could not delete node $node" "kubectl get node $node -o yaml (finalizers)"
log "node $node drained and deleted"
