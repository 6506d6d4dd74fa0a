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
readonly rerun="re-run: fix the cause, then on the host: sudo sh /var/lib/cloud/instance/scripts/runcmd (repeats the
          boot preparation; finished stages change nothing), then pulumi up again"

if ! [[ $KUBEHA_TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
    echo "kubeha wait-cloud-init: KUBEHA_TIMEOUT must be a whole number of seconds, got '$KUBEHA_TIMEOUT'" >&2
    exit 1
fi

# report_failure MESSAGE WHAT-NEXT: what went wrong, where the boot stopped, where to look, what to do.
report_failure() {
    local failed current progress
    failed=$(cat "$state_dir/boot.failed" 2>/dev/null || true)
    current=$(cat "$state_dir/stage" 2>/dev/null || true)
    progress=$(grep -o 'kubeha: stage [0-9]*/[0-9]* .*' "$output_log" 2>/dev/null | tail -n 1 || true)
    {
        echo "kubeha wait-cloud-init: FAILED: $1"
        if [[ -n $failed ]]; then
            echo "  the boot preparation failed in stage: $failed"
        elif [[ -n $current ]]; then
            echo "  the boot preparation is in stage: $current"
        else
            echo "  the boot preparation has not started: cloud-init did not reach its runcmd"
        fi
        [[ -z $progress ]] || echo "  last progress line: $progress"
        echo "  cloud-init status --long:"
        cloud-init status --long 2>&1 | sed 's/^/    /' || true
        echo "  last lines of $output_log:"
        tail -n 25 "$output_log" 2>/dev/null | sed 's/^/    /' || true
        echo "  look at: $output_log, /var/log/cloud-init.log, journalctl -t kubeha, journalctl -b -u cloud-final"
        echo "  $2"
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
    124)
        report_failure "cloud-init still running after ${KUBEHA_TIMEOUT}s" \
            "re-run: if it is only slow (package mirror, image pulls), pulumi up again waits anew; the boot goes on"
        ;;
    *) report_failure "cloud-init finished with errors (cloud-init status exit $status)" "$rerun" ;;
esac
[[ -e $state_dir/boot.done ]] ||
    report_failure "cloud-init finished, but $state_dir/boot.done is missing: the boot preparation did not complete" \
        "$rerun"
echo "kubeha wait-cloud-init: boot preparation complete"
