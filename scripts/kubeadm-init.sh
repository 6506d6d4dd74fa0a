#!/usr/bin/env bash
# Step kubeadm-init (the first master, after the etcd health gate): kubeadm init with the rendered
# InitConfiguration/ClusterConfiguration. Skipped when kubeadm init completed on this host before (its done
# marker, not admin.conf: kubeadm writes that long before its last phase) and the API server answers. The
# bootstrap token never reaches the output: kubeadm is told not to print it, and what it prints is
# redacted; the full output is in the root-only /var/log/kubeha/kubeadm-init.log.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm init --config file)}"
: "${KUBEHA_TIMEOUT:=900}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
require_private "$KUBEHA_KUBEADM_CONFIG"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
api_ready() {
    kubectl_as /etc/kubernetes/admin.conf get --raw=/readyz
}

kubeadm_once "$deadline" init --config "$KUBEHA_KUBEADM_CONFIG" --skip-token-print --skip-certificate-key-print
retry_until "$deadline" "the API server" api_ready >/dev/null ||
    fail "the API server does not answer through /etc/kubernetes/admin.conf" \
        "crictl ps -a --name kube-apiserver; crictl logs <id> (etcd reachable? certificates?)" \
        "journalctl -u kubelet -n 100; the local API proxy: systemctl status kube-apiserver-proxy" \
        "$kubeha_log_dir/kubeadm-init.log (root only)"
log "the control plane is initialised and answering"
