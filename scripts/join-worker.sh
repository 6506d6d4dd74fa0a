#!/usr/bin/env bash
# The join of one worker, run on it by the unit its join step queues (scripts/queue-join-worker.sh), which
# restarts it until it succeeds: waits until the boot preparation finished (packages, containerd, images), then
# kubeadm join with the rendered JoinConfiguration, unless kubeadm join completed on this host before (its done
# marker); succeeds once the node is registered. The first master's workers-joined step waits for every worker.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm join --config file)}"
: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node name of this host)}"
: "${KUBEHA_TIMEOUT:=2100}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
wait_for_boot_stage all "$deadline"
kubeadm_join "$deadline" "$KUBEHA_KUBEADM_CONFIG" "$KUBEHA_NODE_NAME" worker
