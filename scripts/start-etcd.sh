#!/usr/bin/env bash
# Step start-etcd (every etcd member, all at once): enables and starts etcd.service (render/etcd.ts) and
# restarts it when its unit, config or certificates changed. It runs while the host's boot preparation may still be
# installing packages: it waits for the boot's etcd stage only (the etcd disk mounted, the etcd binaries installed).
# On a host whose data dir is empty while the other members already run a cluster that lists this member as started
# (the host was replaced) or not at all, it hands over to replace-etcd-member.sh: starting it as a new member would
# fail. It refuses to do anything unless the data dir lies on the etcd disk, mounted at KUBEHA_ETCD_DISK: an empty
# dir on the system disk (a mount that failed) must not pass for a replaced host.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (etcd --config-file of this member)}"
: "${KUBEHA_ETCD_ENDPOINTS:?KUBEHA_ETCD_ENDPOINTS is required (client URLs of every member, comma-separated)}"
: "${KUBEHA_ETCD_CACERT:?KUBEHA_ETCD_CACERT is required (etcd CA certificate)}"
: "${KUBEHA_ETCD_CERT:?KUBEHA_ETCD_CERT is required (etcd client certificate)}"
: "${KUBEHA_ETCD_KEY:?KUBEHA_ETCD_KEY is required (etcd client key)}"
: "${KUBEHA_ETCD_DISK:?KUBEHA_ETCD_DISK is required (mount point of the etcd disk)}"
: "${KUBEHA_TIMEOUT:=300}" # passed on to replace-etcd-member.sh
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
export KUBEHA_TIMEOUT

wait_for_boot_stage etcd $((SECONDS + KUBEHA_TIMEOUT))
[[ -r $KUBEHA_ETCD_CONFIG ]] || fail "$KUBEHA_ETCD_CONFIG does not exist" "the install-files step's output"
data_dir=$(etcd_setting "$KUBEHA_ETCD_CONFIG" data-dir)
require_etcd_disk "$KUBEHA_ETCD_DISK" "$data_dir"
peer_url=$(etcd_setting "$KUBEHA_ETCD_CONFIG" initial-advertise-peer-urls)
others=$(etcd_others "$KUBEHA_ETCD_ENDPOINTS" "$(etcd_setting "$KUBEHA_ETCD_CONFIG" advertise-client-urls)")

if [[ ! -d $data_dir/member/wal && -n $others ]]; then
    use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
    # One quick look: while the cluster is first bootstrapped the others are not up yet, and that is fine.
    if members=$(ETCDCTL_DIAL_TIMEOUT=2s etcdctl --endpoints="$others" member list 2>/dev/null); then
        own=$(etcd_member_line "$members" "$peer_url")
        if [[ -z $own ]]; then
            log "empty data dir, and the running cluster does not know this member: adding it"
            exec "${BASH_SOURCE[0]%/*}/replace-etcd-member.sh"
        elif [[ $own == *", started, "* ]]; then
            log "empty data dir, and the running cluster knows an earlier incarnation of this member: replacing it"
            exec "${BASH_SOURCE[0]%/*}/replace-etcd-member.sh"
        fi
    fi
fi
# A restart waits for this member's health: the bootstrap runs the members' steps one after another,
# so a changed config restarts them one at a time.
use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
etcd_ensure_running "$KUBEHA_ETCD_CONFIG" $((SECONDS + KUBEHA_TIMEOUT))
