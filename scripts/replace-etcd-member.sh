#!/usr/bin/env bash
# Step replace-etcd-member (an etcd member whose host was replaced; start-etcd hands over to it by itself):
# seed 000's procedure, run on the new host against the other members. Removes the old member (by name,
# and by this host's peer URL), adds this one by name with its peer URL, and starts it on an empty data dir
# with initial-cluster-state existing. Changes nothing on a member that is already started and has data.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (etcd --config-file of this member)}"
: "${KUBEHA_ETCD_ENDPOINTS:?KUBEHA_ETCD_ENDPOINTS is required (client URLs of every member, comma-separated)}"
: "${KUBEHA_ETCD_CACERT:?KUBEHA_ETCD_CACERT is required (etcd CA certificate)}"
: "${KUBEHA_ETCD_CERT:?KUBEHA_ETCD_CERT is required (etcd client certificate)}"
: "${KUBEHA_ETCD_KEY:?KUBEHA_ETCD_KEY is required (etcd client key)}"
: "${KUBEHA_ETCD_DISK:?KUBEHA_ETCD_DISK is required (mount point of the etcd disk)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
config=$KUBEHA_ETCD_CONFIG
[[ -r $config ]] || fail "$config does not exist" "the install-files step's output"
name=$(etcd_setting "$config" name)
peer_url=$(etcd_setting "$config" initial-advertise-peer-urls)
client_urls=$(etcd_setting "$config" advertise-client-urls)
data_dir=$(etcd_setting "$config" data-dir)
[[ -n $name && -n $peer_url && $data_dir == /?* ]] ||
    fail "$config lacks name, initial-advertise-peer-urls or an absolute data-dir" "cat $config"
require_etcd_disk "$KUBEHA_ETCD_DISK" "$data_dir"
others=$(etcd_others "$KUBEHA_ETCD_ENDPOINTS" "$client_urls")
[[ -n $others ]] || fail "no other member in KUBEHA_ETCD_ENDPOINTS: a single-member cluster cannot replace its member"
use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"

list_members() {
    etcdctl --endpoints="$others" member list
}
members=$(retry_until "$deadline" "the other etcd members ($others)" list_members) ||
    fail "no other etcd member answers; a member can only be replaced while a majority runs" \
        "journalctl -u etcd -n 100 on the other members" "etcdctl endpoint health (set -a; . /etc/etcd/etcdctl.env)"
own=$(etcd_member_line "$members" "$peer_url")

member_joined() {
    local line
    line=$(etcd_member_line "$(etcdctl --endpoints="$KUBEHA_ETCD_ENDPOINTS" member list)" "$peer_url")
    [[ $line == *", started, $name, "* ]] || return 1
    etcdctl --endpoints="$client_urls" endpoint health
}
wait_joined() {
    retry_until "$deadline" "member $name to join the cluster" member_joined ||
        fail "member $name did not join the cluster within ${KUBEHA_TIMEOUT}s" \
            "journalctl -u etcd -n 100 on this host (peer certificates, cluster ID mismatch)" \
            "etcdctl member list -w table (set -a; . /etc/etcd/etcdctl.env)"
}

if [[ -d $data_dir/member/wal && $own == *", started, $name, "* ]]; then
    log "member $name is started and has its data: nothing to replace"
    etcd_ensure_running "$config"
    wait_joined >/dev/null
    exit 0
fi

# From here this host's member is new to the cluster. Its etcd must not run on old or half-made data.
if [[ $(systemctl show -p ActiveState --value etcd.service) != inactive ]]; then
    log "stopping etcd.service before clearing its data dir"
    systemctl stop etcd.service
fi
if [[ -d $data_dir/member ]]; then
    log "clearing $data_dir/member (this host's member is not part of the cluster)"
    rm -rf -- "${data_dir:?}/member"
fi
# Written before the membership changes, so an interrupted run resumes through start-etcd correctly.
if [[ $(etcd_setting "$config" initial-cluster-state) != existing ]]; then
    log "setting initial-cluster-state: existing in $config"
    sed -i -E 's/^initial-cluster-state:.*/initial-cluster-state: existing/' "$config"
    grep -q '^initial-cluster-state: existing$' "$config" || printf 'initial-cluster-state: existing\n' >>"$config"
fi

# The old member: this name under another peer URL, or this peer URL once started (by the old host).
stale=$(awk -F ', ' -v name="$name" -v peer="$peer_url" \
    '($3 == name && $4 != peer) || ($4 == peer && $2 == "started") { print $1 }' <<<"$members")
for id in $stale; do
    log "removing the old member $id ($name)"
    retry_until "$deadline" "member remove $id" etcdctl --endpoints="$others" member remove "$id" ||
        fail "could not remove member $id ($name)" "etcdctl member list -w table; the quorum of the other members"
    own=""
done
if [[ -z $own ]]; then
    log "adding member $name with peer URL $peer_url"
    retry_until "$deadline" "member add $name" \
        etcdctl --endpoints="$others" member add "$name" --peer-urls="$peer_url" >/dev/null ||
        fail "could not add member $name" "etcdctl member list -w table; journalctl -u etcd on the other members"
else
    log "member $name was added already; starting it"
fi
etcd_ensure_running "$config"
wait_joined >/dev/null
log "member $name replaced and healthy"
