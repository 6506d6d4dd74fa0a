#!/usr/bin/env bash
# Step join-worker (every worker, all at once, once the control plane can take them): queues the worker's join
# (scripts/join-worker.sh) as a transient systemd unit and returns, so that no Pulumi slot waits for the worker's
# boot: the unit waits for it, joins, and is restarted every 30 s until the join succeeds (a failure that needs a fix,
# such as a lost bootstrap token, repeats in its journal until fixed). Nothing to do when the join completed on this
# host before, or while the unit runs or waits for its restart; a unit that failed is started again.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (kubeadm join --config file)}"
: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the node name of this host)}"
: "${KUBEHA_JOIN_UNIT:?KUBEHA_JOIN_UNIT is required (the unit that joins)}"
: "${KUBEHA_TIMEOUT:=2100}" # passed on to join-worker.sh
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
export KUBEHA_TIMEOUT
# The unit reads the config later: refuse now what the join would refuse (it holds the token, so root's alone).
require_private "$KUBEHA_KUBEADM_CONFIG"

if [[ -e $kubeha_state_dir/kubeadm-join.done ]]; then
    log "kubeadm join completed on this host before ($kubeha_state_dir/kubeadm-join.done): nothing to queue"
    exit 0
fi
state=$(systemctl show -p ActiveState --value "$KUBEHA_JOIN_UNIT")
case $state in
    active | activating | reloading)
        log "$KUBEHA_JOIN_UNIT is $state already: the join is under way (journalctl -u $KUBEHA_JOIN_UNIT)"
        exit 0
        ;;
    failed)
        log "$KUBEHA_JOIN_UNIT failed before: starting it again (its earlier runs: journalctl -u $KUBEHA_JOIN_UNIT)"
        systemctl reset-failed "$KUBEHA_JOIN_UNIT"
        ;;
esac
systemd-run --unit="$KUBEHA_JOIN_UNIT" --description="kubeha: join this worker (kubeadm join)" \
    --property=Restart=on-failure --property=RestartSec=30 \
    --setenv=KUBEHA_KUBEADM_CONFIG --setenv=KUBEHA_NODE_NAME --setenv=KUBEHA_TIMEOUT \
    "${BASH_SOURCE[0]%/*}/join-worker.sh"
log "queued the join of $KUBEHA_NODE_NAME as $KUBEHA_JOIN_UNIT: it waits for the boot preparation, then joins" \
    "(journalctl -u $KUBEHA_JOIN_UNIT)"
