#!/usr/bin/env bash
# Step serving-approver (one for each timer kubeha installs): the timer is loaded, enabled and running.
# The step runs again when the timer's or its service's unit file changed: systemd then reads them again
# and the timer restarts on its new schedule. Units installed by the files step (/etc/systemd/system).
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_TIMER:?KUBEHA_TIMER is required (the .timer unit to enable and start)}"
[[ $KUBEHA_TIMER == *.timer ]] || fail "KUBEHA_TIMER must name a .timer unit, got '$KUBEHA_TIMER'"
timer=$KUBEHA_TIMER
service=${timer%.timer}.service

unit_property() {
    systemctl show -p "$2" --value "$1"
}

reloaded=no
for unit in "$timer" "$service"; do
    if [[ $reloaded == no && ($(unit_property "$unit" LoadState) != loaded ||
        $(unit_property "$unit" NeedDaemonReload) == yes) ]]; then
        log "loading the unit files of $timer"
        systemctl daemon-reload
        reloaded=yes
    fi
done
for unit in "$timer" "$service"; do
    [[ $(unit_property "$unit" LoadState) == loaded ]] ||
        fail "$unit is not installed" "ls -l /etc/systemd/system/$unit (the files step's output)"
done
if ! systemctl is-enabled --quiet "$timer"; then
    log "enabling $timer"
    systemctl enable --quiet "$timer"
fi
if ! systemctl is-active --quiet "$timer"; then
    log "starting $timer"
    systemctl start "$timer"
elif [[ $reloaded == yes ]]; then
    log "restarting $timer: its units changed"
    systemctl restart "$timer"
else
    log "$timer is active with its current units"
fi
