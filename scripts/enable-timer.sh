#!/usr/bin/env bash
# Steps serving-approver and backup-timer (one for each set of timers kubeha installs): each timer in KUBEHA_TIMER
# (comma-separated) is loaded, enabled and running. The step runs again when a timer's or its service's unit file
# changed: systemd then reads them again and the timer restarts on its new schedule. Units installed by the files
# step (/etc/systemd/system).
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_TIMER:?KUBEHA_TIMER is required (the .timer units to enable and start, comma-separated)}"
IFS=, read -r -a timers <<<"$KUBEHA_TIMER"
((${#timers[@]} > 0)) || fail "KUBEHA_TIMER names no timer"
for timer in "${timers[@]}"; do
    [[ $timer == *.timer ]] || fail "KUBEHA_TIMER must name .timer units, got '$timer'"
done

unit_property() {
    systemctl show -p "$2" --value "$1"
}

reloaded=no
for timer in "${timers[@]}"; do
    for unit in "$timer" "${timer%.timer}.service"; do
        if [[ $reloaded == no && ($(unit_property "$unit" LoadState) != loaded ||
            $(unit_property "$unit" NeedDaemonReload) == yes) ]]; then
            log "loading the unit files of $KUBEHA_TIMER"
            systemctl daemon-reload
            reloaded=yes
        fi
    done
done
for timer in "${timers[@]}"; do
    for unit in "$timer" "${timer%.timer}.service"; do
        [[ $(unit_property "$unit" LoadState) == loaded ]] ||
            fail "$unit is not installed" "ls -l /etc/systemd/system/$unit (the files step's output)"
    done
done
for timer in "${timers[@]}"; do
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
done
