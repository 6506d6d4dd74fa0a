#!/usr/bin/env bash
# Step join-worker (every worker, all at once, once the control plane answers): kubeadm join with the
# rendered JoinConfiguration. Skipped when kubeadm join completed on this host before (its done marker);
# succeeds once the node is registered.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm join --config file)}"
: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node name of this host)}"
: "${KUBEHA_TIMEOUT:=900}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

kubeadm_join $((SECONDS + KUBEHA_TIMEOUT)) "$KUBEHA_KUBEADM_CONFIG" "$KUBEHA_NODE_NAME" worker
