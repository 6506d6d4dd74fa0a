#!/usr/bin/env bash
# Step join-control-plane (every master but the first, after kubeadm-init): kubeadm join with the rendered
# JoinConfiguration (controlPlane section; the PKI is installed beforehand, so no certificate key).
# Skipped when kubeadm join completed on this host before (its done marker); succeeds once the node is
# registered and this master's own API server answers.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm join --config file)}"
: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node name of this host)}"
: "${KUBEHA_TIMEOUT:=900}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

kubeadm_join $((SECONDS + KUBEHA_TIMEOUT)) "$KUBEHA_KUBEADM_CONFIG" "$KUBEHA_NODE_NAME" control-plane
