#!/usr/bin/env bash
# Restores this etcd member from a snapshot (README, Backups and restore): run it on every member with
# the same snapshot file and the same new cluster token, then start etcd on every member. It stops etcd,
# moves the current data directory aside (<data-dir>.before-restore-<UTC time>), and restores the snapshot
# into a fresh data directory with this member's planned name and peer URL and the planned member list,
# all read from its etcd config file. The members form a new cluster with the new token and the
# snapshot's keys; the old data directory stays until you delete it.
# KUBEHA_SNAPSHOT_SHA256 (the snapshot file's sha256, as etcd-snapshot-pick.sh printed it) is required, and the
# restored cluster's token is KUBEHA_CLUSTER_TOKEN with the first 16 digits of it appended: members restored from
# different snapshots get different member and cluster IDs, so they refuse each other's peer connections (etcd's
# cluster ID check) instead of forming one cluster from different data. A <snapshot>.sha256 file beside the snapshot
# (the checksum the backup recorded) must agree too.
# Refused before anything changes: the etcd disk not mounted at KUBEHA_ETCD_DISK (its label checked), a kube-apiserver
# manifest still in place on this host, and, while this member's etcd still answers, any write to etcd during
# KUBEHA_QUIET_SECONDS (every running kube-apiserver renews its leases every 10 s): the apiservers must all be stopped.
# The revision is bumped past anything the old cluster handed out and marked compacted
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
: "${KUBEHA_ETCD_DISK:=/var/lib/etcd}"
: "${KUBEHA_APISERVER_MANIFEST:=/etc/kubernetes/manifests/kube-apiserver.yaml}"
: "${KUBEHA_ETCD_CACERT:=/etc/etcd/pki/ca.crt}"
: "${KUBEHA_ETCD_CERT:=/etc/etcd/pki/healthcheck-client.crt}"
: "${KUBEHA_ETCD_KEY:=/etc/etcd/pki/healthcheck-client.key}"
: "${KUBEHA_QUIET_SECONDS:=15}"
require_seconds KUBEHA_QUIET_SECONDS "$KUBEHA_QUIET_SECONDS"

[[ -r $KUBEHA_SNAPSHOT ]] || fail "the snapshot $KUBEHA_SNAPSHOT is not readable"
[[ $KUBEHA_BUMP_REVISION =~ ^[1-9][0-9]*$ ]] || fail "KUBEHA_BUMP_REVISION must be a whole number, got '$KUBEHA_BUMP_REVISION'"
actual_sha256=$(sha256sum "$KUBEHA_SNAPSHOT" | cut -d ' ' -f 1)
[[ $actual_sha256 == "${KUBEHA_SNAPSHOT_SHA256,,}" ]] ||
    fail "$KUBEHA_SNAPSHOT has sha256 $actual_sha256, not $KUBEHA_SNAPSHOT_SHA256: not the snapshot every member must restore" \
        "sha256sum of the file on every member; the checksum recorded with the backup"
if [[ -e $KUBEHA_SNAPSHOT.sha256 ]]; then
    recorded=$(grep -Eo '^[0-9a-f]{64}' "$KUBEHA_SNAPSHOT.sha256" || true)
    [[ $recorded == "$actual_sha256" ]] ||
        fail "$KUBEHA_SNAPSHOT has sha256 $actual_sha256, but the backup recorded ${recorded:-nothing readable} ($KUBEHA_SNAPSHOT.sha256): a damaged or replaced snapshot" \
            "etcd-snapshot-pick.sh picks and downloads a snapshot whose content matches its record"
fi
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
# Not on another disk: a restore onto the root filesystem would be lost, or fill it, and the real disk's data stays
# under the mount point to confuse the next step.
require_etcd_disk "$KUBEHA_ETCD_DISK" "$data_dir"
[[ ! -e $KUBEHA_APISERVER_MANIFEST ]] ||
    fail "$KUBEHA_APISERVER_MANIFEST is in place: the kubelet keeps this master's kube-apiserver running, writing to etcd while it is replaced" \
        "stop the control plane on every master first: mv $KUBEHA_APISERVER_MANIFEST /root/ (README, Backups and restore, step 2)"
# Every running kube-apiserver writes (its lease and the endpoint reconciler's, every 10 s): a revision that moves
# means one, on this master or another, still runs.
own=$(setting advertise-client-urls)
use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
revision() {
    etcdctl --endpoints="$own" endpoint status -w fields 2>/dev/null | sed -n 's/^"Revision" : //p'
}
if first=$(revision) && [[ -n $first ]]; then
    log "watching etcd's revision for ${KUBEHA_QUIET_SECONDS}s: nothing may write while the cluster is restored"
    sleep "$KUBEHA_QUIET_SECONDS"
    second=$(revision || true)
    [[ $second == "$first" ]] ||
        fail "something still writes to etcd (revision $first, ${KUBEHA_QUIET_SECONDS}s later ${second:-unknown}): stop every kube-apiserver first" \
            "on every master: mv $KUBEHA_APISERVER_MANIFEST /root/; crictl ps --name kube-apiserver (gone within a minute)" \
            "then run this again on every member"
    log "no writes at revision $first"
else
    log "etcd does not answer at $own: cannot watch for writers (this member's etcd is stopped already); the apiservers must be stopped"
fi

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
token=$KUBEHA_CLUSTER_TOKEN-${actual_sha256:0:16}
etcdutl snapshot restore "$snapshot" --name "$name" --initial-cluster "$initial_cluster" \
    --initial-advertise-peer-urls "$peer_url" --initial-cluster-token "$token" \
    --bump-revision "$KUBEHA_BUMP_REVISION" --mark-compacted --data-dir "$data_dir" >&2 || fail "etcdutl snapshot restore failed" "the output above"
chmod 0700 "$data_dir"
log "restored $name into $data_dir from the snapshot with sha256 $actual_sha256 (cluster token $token); once every member is restored: systemctl start etcd.service on each"
