#!/usr/bin/env bash
# Step wait-cloud-init (every host, first): waits until cloud-init has finished the host's boot-time
# preparation (scripts/host-boot.sh), for at most KUBEHA_TIMEOUT seconds, and names the stage that failed.
# Standalone (does not source lib.sh) and needs no variable, so it also works when sent on stdin
# (`bash -s`) and before sshd accepts KUBEHA_* variables.
set -euo pipefail

: "${KUBEHA_TIMEOUT:=1200}"

# Written by scripts/host-boot.sh: the stage it is in, the stage it failed in, and the end marker.
readonly state_dir=/var/lib/kubeha
readonly output_log=/var/log/cloud-init-output.log

if ! [[ $KUBEHA_TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
    echo "kubeha wait-cloud-init: KUBEHA_TIMEOUT must be a whole number of seconds, got '$KUBEHA_TIMEOUT'" >&2
    exit 1
fi

# report_failure MESSAGE: what went wrong, where the boot stopped, and where to look.
report_failure() {
    local stage
    stage=$(cat "$state_dir/boot.failed" 2>/dev/null || cat "$state_dir/stage" 2>/dev/null || true)
    {
        echo "kubeha wait-cloud-init: FAILED: $1"
        if [[ -s $state_dir/boot.failed ]]; then
            echo "  boot preparation failed in stage: $stage"
        elif [[ -n $stage ]]; then
            echo "  boot preparation stopped in stage: $stage"
        else
            echo "  boot preparation never started (no $state_dir/stage): cloud-init failed before its runcmd"
        fi
        echo "  last stage started: $(grep -o 'kubeha: stage [0-9]*/[0-9]* .*' "$output_log" 2>/dev/null | tail -n 1 || true)"
        echo "  cloud-init status --long:"
        cloud-init status --long 2>&1 | sed 's/^/    /' || true
        echo "  last lines of $output_log:"
        tail -n 25 "$output_log" 2>/dev/null | sed 's/^/    /' || true
        echo "  look at: $output_log, /var/log/cloud-init.log, journalctl -t kubeha, journalctl -b -u cloud-final"
        echo "  re-run: fix the cause, then on the host: sudo sh /var/lib/cloud/instance/scripts/runcmd"
        echo "          (repeats the boot preparation; finished stages change nothing), then pulumi up again"
    } >&2
    exit 1
}

status=0
timeout "$KUBEHA_TIMEOUT" cloud-init status --wait >/dev/null || status=$?
case $status in
    0) ;;
    2)
        # cloud-init >= 23.4: finished, with recoverable errors (deprecated keys and the like).
        echo "kubeha wait-cloud-init: cloud-init finished with recoverable errors:" >&2
        cloud-init status --long 2>&1 | sed 's/^/    /' >&2 || true
        ;;
    124) report_failure "cloud-init still running after ${KUBEHA_TIMEOUT}s" ;;
    *) report_failure "cloud-init finished with errors (cloud-init status exit $status)" ;;
esac
[[ -e $state_dir/boot.done ]] ||
    report_failure "cloud-init finished, but $state_dir/boot.done is missing: the boot preparation did not complete"
echo "kubeha wait-cloud-init: boot preparation complete"
