#!/usr/bin/env bash
# Step ssh (every host, first; runs on the bastion, or on the operator's machine for the bastion
# itself): waits until KUBEHA_HOST answers on KUBEHA_PORT, polling with back-off (1, 2, 4 ... 15 s)
# for at most KUBEHA_TIMEOUT seconds. Pulumi's own SSH dial retries do not back off, so every other
# step on the host waits for this one. Standalone: sent on stdin (`bash -s`), needs only bash, and
# ssh-keyscan for the host key check.
# With KUBEHA_HOST_KEY (`<type> <base64>`, the key the program pinned for the host), it then checks that
# sshd presents exactly that key and says so when it does not: through the bastion, the provider's
# retries turn a host key mismatch into an unhelpful "handshake failed: EOF".
set -euo pipefail

: "${KUBEHA_HOST:?KUBEHA_HOST is required (address to wait for)}"
: "${KUBEHA_PORT:=22}"
: "${KUBEHA_TIMEOUT:=900}"
: "${KUBEHA_HOST_KEY:=}"
if ! [[ $KUBEHA_PORT =~ ^[0-9]+$ && $KUBEHA_TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
    echo "kubeha wait-for-ssh: KUBEHA_PORT and KUBEHA_TIMEOUT must be whole numbers" >&2
    exit 1
fi
if [[ -n $KUBEHA_HOST_KEY && ! $KUBEHA_HOST_KEY =~ ^[a-z0-9-]+\ [A-Za-z0-9+/]+=*$ ]]; then
    echo "kubeha wait-for-ssh: KUBEHA_HOST_KEY must be '<type> <base64>' (a public key without comment)" >&2
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
[[ -n $KUBEHA_HOST_KEY ]] || exit 0

pinned_type=${KUBEHA_HOST_KEY%% *}
# sshd may accept connections a moment before it serves its keys: ask again, within the same budget.
until presented=$(ssh-keyscan -T 5 -t "$pinned_type" -p "$KUBEHA_PORT" "$KUBEHA_HOST" 2>/dev/null | grep -v '^#' | head -n 1) &&
    [[ -n $presented ]]; do
    if ((SECONDS + delay > KUBEHA_TIMEOUT)); then
        echo "kubeha wait-for-ssh: FAILED: $KUBEHA_HOST:$KUBEHA_PORT presents no $pinned_type host key within ${KUBEHA_TIMEOUT}s" >&2
        exit 1
    fi
    sleep "$delay"
    delay=$((delay * 2 > 15 ? 15 : delay * 2))
done
presented=${presented#* }
if [[ $presented != "$KUBEHA_HOST_KEY" ]]; then
    echo "kubeha wait-for-ssh: FAILED: host key mismatch: $KUBEHA_HOST presents" >&2
    echo "  $presented" >&2
    echo "  where the program pinned" >&2
    echo "  $KUBEHA_HOST_KEY" >&2
    echo "  look at: another machine holding this address, or a host that did not take its key from its user-data (cloud-init's ssh module)" >&2
    exit 1
fi
echo "kubeha wait-for-ssh: $KUBEHA_HOST presents the pinned $pinned_type host key"
