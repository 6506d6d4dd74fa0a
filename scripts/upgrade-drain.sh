#!/usr/bin/env bash
# Step upgrade-drain (run on the first master for each node, when the Kubernetes version changes): cordons the
# node and drains it (lib.sh drain_node: PodDisruptionBudgets respected, DaemonSets stay) before its upgrade
# step. Skipped when the node's kubelet runs the target already. A node an operator had cordoned stays so:
# only a cordon of kubeha's is marked (annotation kubeha.io/upgrade-cordon) and lifted by upgrade-uncordon.
# A drain that does not finish within KUBEHA_TIMEOUT lifts that cordon again (nothing else was changed) and
# names what blocks it.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node to drain)}"
: "${KUBEHA_KUBERNETES_VERSION:?KUBEHA_KUBERNETES_VERSION is required (the exact target version, 1.37.2)}"
: "${KUBEHA_TIMEOUT:=600}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME
target=v$KUBEHA_KUBERNETES_VERSION
readonly mark=kubeha.io/upgrade-cordon

state() {
    node_field "$node" '{.metadata.name}|{.status.nodeInfo.kubeletVersion}|{.spec.unschedulable}|{.metadata.annotations.kubeha\.io/upgrade-cordon}'
}
mark_and_cordon() {
    kubectl_as "$admin_kubeconfig" annotate node "$node" --overwrite "$mark=$target" &&
        kubectl_as "$admin_kubeconfig" cordon "$node"
}
drain() {
    drain_node "$deadline" "$node"
}

current=$(retry_until "$deadline" "the API server" state) ||
    fail "cannot ask the API server about node $node" "kubectl --kubeconfig $admin_kubeconfig get --raw=/readyz"
IFS='|' read -r name version unschedulable marked <<<"$current"
if [[ -z $name ]]; then
    log "node $node is not in the cluster: nothing to drain"
    exit 0
fi
if [[ $version == "$target" ]]; then
    log "node $node runs $target already: not drained"
    exit 0
fi
if [[ $unschedulable == true && -z $marked ]]; then
    log "node $node was cordoned before the upgrade (not by kubeha): it stays cordoned afterwards"
elif [[ $unschedulable != true || -z $marked ]]; then
    retry_until "$deadline" "cordon $node" mark_and_cordon ||
        fail "could not cordon node $node" "kubectl describe node $node"
fi
log "draining node $node ($version, to be upgraded to $target; at most $(seconds_left "$deadline")s)"
if ! retry_until "$deadline" "drain $node" drain; then
    if [[ -n $(node_field "$node" '{.metadata.annotations.kubeha\.io/upgrade-cordon}') ]]; then
        kubectl_as "$admin_kubeconfig" uncordon "$node" &&
            kubectl_as "$admin_kubeconfig" annotate node "$node" "$mark-" &&
            log "node $node is schedulable again: nothing on it was upgraded"
    fi
    fail_drain "$node" "could not drain node $node within ${KUBEHA_TIMEOUT}s; the upgrade stops here"
fi
log "node $node drained"
