#!/usr/bin/env bash
# Step apiserver-restart, on every master one after another (each step waits for the previous master's),
# run by pulumi up when the certificates' digest changes (re-issued certificates), never on creation: a new
# master's kube-apiserver starts after its files are written. The kube-apiserver reads its client
# certificates (towards etcd, the kubelets, the front proxy) only when it starts. Once the files on disk are
# the ones the digest names, and when this master's kube-apiserver container started before the newest of
# them was written, the container is stopped, the kubelet starts a new one from the static pod manifest,
# and the step waits until it is ready. Otherwise it only checks readiness.
# etcd is left alone: it reads its certificates again for every new connection.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_APISERVER_CERTS:?KUBEHA_APISERVER_CERTS is required (the certificate files the kube-apiserver reads, comma-separated)}"
: "${KUBEHA_APISERVER_CERTS_DIGEST:?KUBEHA_APISERVER_CERTS_DIGEST is required (sha256 over their paths and contents)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
deadline=$((SECONDS + KUBEHA_TIMEOUT))

IFS=, read -ra certificates <<<"$KUBEHA_APISERVER_CERTS"
for file in "${certificates[@]}"; do
    [[ -r $file ]] || fail "$file is missing" "the files step's output on this master"
done
# The digest the program computes (digestOf in components/host-files.ts): path, NUL, content, NUL, per file.
installed=$(for file in "${certificates[@]}"; do
    printf '%s\0' "$file"
    cat "$file"
    printf '\0'
done | sha256sum)
installed=${installed%% *}
[[ $installed == "$KUBEHA_APISERVER_CERTS_DIGEST" ]] ||
    fail "the certificates on this master (sha256 $installed) are not the ones issued ($KUBEHA_APISERVER_CERTS_DIGEST)" \
        "the files step's output on this master"
# Nanoseconds: a restart right after the files step must not look as old as the files.
written=$(stat -c %.9Y "${certificates[@]}" | tr -d . | sort -n | tail -n 1)

# running_apiserver [STOPPED-ID]: the id of this master's running kube-apiserver container (not STOPPED-ID).
running_apiserver() {
    local id
    id=$(crictl ps --name '^kube-apiserver$' --state running -q | head -n 1)
    [[ -n $id ]] || {
        echo "no kube-apiserver container is running" >&2
        return 1
    }
    [[ $id != "${1:-}" ]] || {
        echo "the stopped kube-apiserver container $id is still running" >&2
        return 1
    }
    printf '%s' "$id"
}

hints=("crictl ps -a --name kube-apiserver; crictl logs <id>" "journalctl -u kubelet -n 100")
id=$(retry_until "$deadline" "a running kube-apiserver container" running_apiserver) ||
    fail "this master runs no kube-apiserver container" "${hints[@]}"
started=$(crictl inspect -o go-template --template '{{.status.startedAt}}' "$id")
started=$(date -d "$started" +%s%N) || fail "cannot tell when kube-apiserver container $id started" "${hints[@]}"
if ((started > written)); then
    log "kube-apiserver (container $id) started after its certificates were last written: no restart"
else
    log "restarting kube-apiserver: container $id started before its certificates were renewed"
    # Up to 30 s to shut down gracefully (in-flight requests finish), as the kubelet would give it.
    crictl stop --timeout 30 "$id" >/dev/null
    id=$(retry_until "$deadline" "the kubelet to start a new kube-apiserver container" running_apiserver "$id") ||
        fail "the kubelet started no new kube-apiserver container after the restart" "${hints[@]}"
    log "kube-apiserver runs again (container $id)"
fi
retry_until "$deadline" "this master's kube-apiserver to be ready" local_apiserver_ready >/dev/null ||
    fail "this master's kube-apiserver is not ready on 127.0.0.1:6443" "${hints[@]}"
log "this master's kube-apiserver is ready"
