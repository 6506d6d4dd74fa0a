#!/usr/bin/env bash
# Restores this etcd member from a snapshot (README, "Backups and restore"): run it on every member with
# the same snapshot file and the same new cluster token, then start etcd on every member. It stops etcd,
# moves the current data directory aside (<data-dir>.before-restore-<UTC time>), and restores the snapshot
# into a fresh data directory with this member's planned name and peer URL and the planned member list,
# all read from its etcd config file. The members form a new cluster with the new token and the
# snapshot's keys; the old data directory stays until you delete it.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (the etcd --config-file of this member)}"
: "${KUBEHA_SNAPSHOT:?KUBEHA_SNAPSHOT is required (the snapshot file on this host, .db or .db.gz)}"
: "${KUBEHA_CLUSTER_TOKEN:?KUBEHA_CLUSTER_TOKEN is required (a new token for the restored cluster, the same on every member)}"

[[ -r $KUBEHA_SNAPSHOT ]] || fail "the snapshot $KUBEHA_SNAPSHOT is not readable"
[[ $KUBEHA_CLUSTER_TOKEN =~ ^[A-Za-z0-9._-]+$ ]] ||
    fail "KUBEHA_CLUSTER_TOKEN must be letters, digits, dots, dashes or underscores, got '$KUBEHA_CLUSTER_TOKEN'"
setting() {
    local value
    value=$(etcd_setting "$KUBEHA_ETCD_CONFIG" "$1")
    [[ -n $value ]] || fail "$KUBEHA_ETCD_CONFIG has no $1"
    printf '%s' "$value"
}
name=$(setting name)
data_dir=$(setting data-dir)
initial_cluster=$(setting initial-cluster)
peer_url=$(setting initial-advertise-peer-urls)
[[ $data_dir == /* && $data_dir != / ]] || fail "data-dir '$data_dir' in $KUBEHA_ETCD_CONFIG is not an absolute directory"

work=$(mktemp -d "${data_dir%/*}/restore.XXXXXX")
trap 'rm -rf "$work"' EXIT
snapshot=$work/snapshot.db
case $KUBEHA_SNAPSHOT in
    *.gz) gzip -dc "$KUBEHA_SNAPSHOT" >"$snapshot" || fail "$KUBEHA_SNAPSHOT is not a complete gzip file" ;;
    *) cp "$KUBEHA_SNAPSHOT" "$snapshot" ;;
esac
etcdutl snapshot status "$snapshot" -w table >&2 ||
    fail "$KUBEHA_SNAPSHOT is not an etcd snapshot (etcdutl snapshot status refused it)"

log "stopping etcd.service"
systemctl stop etcd.service
if [[ -e $data_dir ]]; then
    aside="$data_dir.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
    mv "$data_dir" "$aside"
    log "moved the current data directory to $aside"
fi
etcdutl snapshot restore "$snapshot" --name "$name" --initial-cluster "$initial_cluster" \
    --initial-advertise-peer-urls "$peer_url" --initial-cluster-token "$KUBEHA_CLUSTER_TOKEN" \
    --data-dir "$data_dir" >&2 || fail "etcdutl snapshot restore failed" "the output above"
chmod 0700 "$data_dir"
log "restored $name into $data_dir (cluster token $KUBEHA_CLUSTER_TOKEN); once every member is restored: systemctl start etcd.service on each"
