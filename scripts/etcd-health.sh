#!/usr/bin/env bash
# Step etcd-health (one etcd member, after start-etcd on all): the gate before kubeadm init. Waits, with
# back-off and for at most KUBEHA_TIMEOUT seconds, until every member answers a health check over mutual
# TLS and the member list shows all of them started.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_ENDPOINTS:?KUBEHA_ETCD_ENDPOINTS is required (client URLs of every member, comma-separated)}"
: "${KUBEHA_ETCD_CACERT:?KUBEHA_ETCD_CACERT is required (etcd CA certificate)}"
: "${KUBEHA_ETCD_CERT:?KUBEHA_ETCD_CERT is required (etcd client certificate)}"
: "${KUBEHA_ETCD_KEY:?KUBEHA_ETCD_KEY is required (etcd client key)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
IFS=, read -ra endpoints <<<"$KUBEHA_ETCD_ENDPOINTS"

retry_until "$deadline" "every etcd member to be healthy" etcd_cluster_healthy "$KUBEHA_ETCD_ENDPOINTS" ||
    fail "the etcd cluster is not healthy after ${KUBEHA_TIMEOUT}s (unhealthy endpoints are listed above)" \
        "journalctl -u etcd -n 100, on each member listed as unhealthy" \
        "set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint status -w table; etcdctl member list -w table" \
        "clock sync (timedatectl) and the certificates: openssl x509 -noout -text -in <cert> (names, expiry)"
log "all ${#endpoints[@]} etcd member(s) healthy"
