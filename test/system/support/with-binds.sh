#!/usr/bin/env bash
# Runs a command with files or directories bind-mounted over other paths, visible to that command only.
# It must run in a mount namespace of its own, as every command `ip netns exec` starts does; it refuses
# to run in the initial one, where the binds would change the whole machine.
# Usage: with-binds.sh SOURCE TARGET [SOURCE TARGET]... -- COMMAND [ARG]...
set -euo pipefail

if [[ "$(readlink /proc/self/ns/mnt)" == "$(readlink /proc/1/ns/mnt)" ]]; then
    echo "with-binds.sh: refusing to bind-mount in the initial mount namespace; run it under ip netns exec" >&2
    exit 2
fi
while [[ $# -gt 0 && "$1" != "--" ]]; do
    if [[ $# -lt 2 ]]; then
        echo "with-binds.sh: $1 has no TARGET" >&2
        exit 2
    fi
    mount --bind "$1" "$2"
    shift 2
done
if [[ $# -lt 2 ]]; then
    echo "usage: with-binds.sh SOURCE TARGET [SOURCE TARGET]... -- COMMAND [ARG]..." >&2
    exit 2
fi
shift
exec "$@"
