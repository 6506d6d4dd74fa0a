#!/usr/bin/env bash
# Step ssh (every host, first; runs on the bastion, or on the operator's machine for the bastion
# itself): waits until KUBEHA_HOST answers on KUBEHA_PORT, polling with back-off (1, 2, 4 ... 15 s)
# for at most KUBEHA_TIMEOUT seconds. Pulumi's own SSH dial retries do not back off, so every other
# step on the host waits for this one. Standalone: sent on stdin (`bash -s`), needs only bash.
set -euo pipefail

: "${KUBEHA_HOST:?KUBEHA_HOST is required (address to wait for)}"
: "${KUBEHA_PORT:=22}"
: "${KUBEHA_TIMEOUT:=900}"
if ! [[ $KUBEHA_PORT =~ ^[0-9]+$ && $KUBEHA_TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
    echo "kubeha wait-for-ssh: KUBEHA_PORT and KUBEHA_TIMEOUT must be whole numbers" >&2
    exit 1
fi

delay=1
attempt=1
# The inner shell gets host and port as arguments, never as code.
# shellcheck disable=SC2016
until timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$KUBEHA_HOST" "$KUBEHA_PORT" 2>/dev/null; do
    if ((SECONDS + delay > KUBEHA_TIMEOUT)); then
        echo "kubeha wait-for-ssh: FAILED: $KUBEHA_HOST:$KUBEHA_PORT did not answer within ${KUBEHA_TIMEOUT}s ($attempt attempts)" >&2
        echo "  look at: the instance's state and console output in the cloud console; its security group (SSH from the bastion)" >&2
        exit 1
    fi
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2 > 15 ? 15 : delay * 2))
done
echo "kubeha wait-for-ssh: $KUBEHA_HOST:$KUBEHA_PORT answers (after $attempt attempt(s), ${SECONDS}s)"
