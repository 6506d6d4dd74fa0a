#!/usr/bin/env bash
# Step token (the first master, after kubeadm init): makes sure the bootstrap token named in the
# kubeadm init configuration exists on the cluster, so that a node joining months after `kubeadm init`
# (whose own token expired after its TTL) still joins. The program draws a new token whenever a master
# or worker is added or replaced, and this step runs again then. Idempotent: an existing token is kept.
# The token never reaches the output or a command line; kubeadm reads it from the root-only configuration file.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm init --config file holding the token)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
require_private "$KUBEHA_KUBEADM_CONFIG"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
token=$(grep -Eo '\b[a-z0-9]{6}\.[a-z0-9]{16}\b' "$KUBEHA_KUBEADM_CONFIG" | head -n 1) ||
    fail "no bootstrap token in $KUBEHA_KUBEADM_CONFIG" "the install-files step's output"
ttl=$(sed -nE 's/^[[:space:]]*ttl:[[:space:]]*"?([0-9hms]+)"?[[:space:]]*$/\1/p' "$KUBEHA_KUBEADM_CONFIG" | head -n 1)
token_id=${token%%.*}

# Token ids only: the secret half never leaves kubeadm's output.
listed_ids() {
    kubeadm token list --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.token}{"\n"}' | cut -d. -f1
}
token_listed() {
    local ids
    ids=$(listed_ids) && grep -qx "$token_id" <<<"$ids"
}
ids=$(retry_until "$deadline" "the token list" listed_ids) ||
    fail "could not list the bootstrap tokens" "kubeadm token list --kubeconfig /etc/kubernetes/admin.conf"
if grep -qx "$token_id" <<<"$ids"; then
    log "bootstrap token ${token_id} exists"
    exit 0
fi
# kubeadm creates the tokens the config file lists (token, ttl, usages, groups, description): the secret stays off
# the command line, which every local user can read in /proc/<pid>/cmdline. It prints the token: keep that out too.
# A create that failed may still have stored the token (an API call that timed out after it was written): each
# attempt first looks for it, so a retry does not fail on "already exists".
create() {
    token_listed ||
        kubeadm token create --config "$KUBEHA_KUBEADM_CONFIG" --kubeconfig /etc/kubernetes/admin.conf >/dev/null
}
retry_until "$deadline" "the new bootstrap token" create >/dev/null ||
    fail "could not create bootstrap token ${token_id}" "kubeadm token list --kubeconfig /etc/kubernetes/admin.conf"
log "bootstrap token ${token_id} created (valid ${ttl:-24h})"
