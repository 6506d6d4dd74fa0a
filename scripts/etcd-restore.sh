#!/usr/bin/env bash
# Restores this etcd member from a snapshot (README, "Backups and restore"): run it on every member with
# the same snapshot file and the same new cluster token, then start etcd on every member. It stops etcd,
# moves the current data directory aside (<data-dir>.before-restore-<UTC time>), and restores the snapshot
# into a fresh data directory with this member's planned name and peer URL and the planned member list,
# all read from its etcd config file. The members form a new cluster with the new token and the
# snapshot's keys; the old data directory stays until you delete it.
# KUBEHA_SNAPSHOT_SHA256 (the snapshot file's sha256, as the backup recorded it) is required, so that every member
# restores the same snapshot. The revision is bumped past anything the old cluster handed out and marked compacted
# (etcd's and Kubernetes' restore guidance): resource versions never go backwards, and every watcher relists
# instead of resuming from a revision the restored data does not have.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (the etcd --config-file of this member)}"
: "${KUBEHA_SNAPSHOT:?KUBEHA_SNAPSHOT is required (the snapshot file on this host, .db or .db.gz)}"
: "${KUBEHA_CLUSTER_TOKEN:?KUBEHA_CLUSTER_TOKEN is required (a new token for the restored cluster, the same on every member)}"
: "${KUBEHA_SNAPSHOT_SHA256:?KUBEHA_SNAPSHOT_SHA256 is required (sha256 of the snapshot file, the same on every member)}"
# Far beyond the revisions a cluster reaches between two backups (etcd's restore guide uses 1,000,000,000).
: "${KUBEHA_BUMP_REVISION:=1000000000}"

[[ -r $KUBEHA_SNAPSHOT ]] || fail "the snapshot $KUBEHA_SNAPSHOT is not readable"
[[ $KUBEHA_BUMP_REVISION =~ ^[1-9][0-9]*$ ]] || fail "KUBEHA_BUMP_REVISION must be a whole number, got '$KUBEHA_BUMP_REVISION'"
actual_sha256=$(sha256sum "$KUBEHA_SNAPSHOT" | cut -d ' ' -f 1)
[[ $actual_sha256 == "${KUBEHA_SNAPSHOT_SHA256,,}" ]] ||
    fail "$KUBEHA_SNAPSHOT has sha256 $actual_sha256, not $KUBEHA_SNAPSHOT_SHA256: not the snapshot every member must restore" \
        "sha256sum of the file on every member; the checksum recorded with the backup"
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
    --bump-revision "$KUBEHA_BUMP_REVISION" --mark-compacted --data-dir "$data_dir" >&2 || fail "etcdutl snapshot restore failed" "the output above"
chmod 0700 "$data_dir"
log "restored $name into $data_dir (cluster token $KUBEHA_CLUSTER_TOKEN); once every member is restored: systemctl start etcd.service on each"
