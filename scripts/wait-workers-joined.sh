#!/usr/bin/env bash
# Step workers-joined (the first master, once every worker's join is queued): waits until every worker's Node is
# registered, that is until the join each worker's unit runs by itself (scripts/join-worker.sh) is done. One wait for
# all of them: a Pulumi slot per waiting worker would make a large cluster wait for slots. It waits only for the
# workers it has not seen joined with the same instance (it records each in /var/lib/kubeha/workers-joined): a new or
# replaced worker, not one already part of the cluster, whatever became of its Node since. Says every minute how many
# are left. Fails, naming the workers missing and where to look on them, at its timeout, or earlier once the others
# joined and these lag KUBEHA_STRAGGLER_SECONDS behind the last join (the workers boot and join side by side, so a
# worker that far behind is stuck, not slow).
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_WORKERS:?KUBEHA_WORKERS is required (every worker as <node name>=<instance id>, comma-separated)}"
: "${KUBEHA_JOIN_UNIT:?KUBEHA_JOIN_UNIT is required (the unit that joins each worker)}"
: "${KUBEHA_TIMEOUT:=1800}"
: "${KUBEHA_STRAGGLER_SECONDS:=600}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
require_seconds KUBEHA_STRAGGLER_SECONDS "$KUBEHA_STRAGGLER_SECONDS"

readonly seen=$kubeha_state_dir/workers-joined
declare -A instance_of
expected=()
IFS=, read -ra workers <<<"$KUBEHA_WORKERS"
for worker in "${workers[@]}"; do
    [[ $worker =~ ^([a-z0-9.-]+)=([A-Za-z0-9._-]+)$ ]] || fail "KUBEHA_WORKERS: '$worker' is not <node name>=<instance id>"
    if ! grep -qxF "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" "$seen" 2>/dev/null; then
        expected+=("${BASH_REMATCH[1]}")
        instance_of[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    fi
done
if ((${#expected[@]} == 0)); then
    log "all ${#workers[@]} workers joined before, each with the instance it has now ($seen)"
    exit 0
fi
install -d -m 0755 "$kubeha_state_dir"
deadline=$((SECONDS + KUBEHA_TIMEOUT))
said_at=-60 last_join_at="" left=${#expected[@]}
while true; do
    # A failed request leaves every worker missing for this round; the next round asks again.
    registered=$(kubectl_as "$admin_kubeconfig" get nodes -o name 2>/dev/null) || registered=""
    missing=()
    for node in "${expected[@]}"; do
        if ! grep -qxF "node/$node" <<<"$registered"; then
            missing+=("$node")
        elif ! grep -qxF "$node ${instance_of[$node]}" "$seen" 2>/dev/null; then
            echo "$node ${instance_of[$node]}" >>"$seen"
        fi
    done
    ((${#missing[@]} > 0)) || break
    if ((${#missing[@]} < left)); then
        last_join_at=$SECONDS left=${#missing[@]}
    fi
    late=""
    if [[ -n $last_join_at ]] && ((SECONDS - last_join_at >= KUBEHA_STRAGGLER_SECONDS)); then
        late="${KUBEHA_STRAGGLER_SECONDS}s after the last of the others"
    elif ((SECONDS >= deadline)); then
        late="${KUBEHA_TIMEOUT}s"
    fi
    if [[ -n $late ]]; then
        shown="${missing[*]:0:20}"
        ((${#missing[@]} <= 20)) || shown+=" and $((${#missing[@]} - 20)) more"
        fail "${#missing[@]} of ${#expected[@]} workers did not join in $late: $shown" \
            "on each of them: journalctl -u $KUBEHA_JOIN_UNIT (the join; it waits for the boot and retries every 30 s)" \
            "on each of them: /var/log/cloud-init-output.log and cat $kubeha_state_dir/stage (the boot it waits for)" \
            "kubectl get csr (a node whose TLS bootstrap was refused)"
    fi
    if ((SECONDS - said_at >= 60)); then
        log "${#missing[@]} of ${#expected[@]} workers not joined yet: ${missing[*]:0:10}$( ((${#missing[@]} <= 10)) || echo " ...")"
        said_at=$SECONDS
    fi
    sleep 5
done
log "${#expected[@]} new or replaced workers joined (${#workers[@]} in all)"
