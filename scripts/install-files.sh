#!/usr/bin/env bash
# Installs the files of a bundle read from stdin (render/file-bundle.ts): one line per file,
# "<mode> <absolute path> <base64 content>". A file is replaced only when its content or mode
# differs, atomically (temp file + rename), so a second run with the same bundle changes nothing.
# Prints the paths it changed, never their content.
# KUBEHA_ROOT (optional): directory the paths are relative to (tests install into a scratch root).
#
# It needs nothing installed on the host: the files step sends this script and then the bundle on
# one stdin to `bash -s`. Bash reads a script from a pipe without buffering ahead, and the body is a
# function called on the last line, so by the time it runs, what is left on stdin is the bundle.
set -euo pipefail
umask 077

install_files() {
    local root="${KUBEHA_ROOT:-}" changed=0 mode path content target tmp
    while read -r mode path content; do
        case "$mode" in 0600 | 0640 | 0644 | 0755) ;; *)
            echo "install-files: bad mode '$mode' for '$path'" >&2
            exit 1
            ;;
        esac
        case "$path" in /*) ;; *)
            echo "install-files: path '$path' is not absolute" >&2
            exit 1
            ;;
        esac
        target="$root$path"
        (umask 022 && mkdir -p "$(dirname "$target")")
        tmp=$(mktemp "$target.kubeha.XXXXXX")
        printf '%s' "$content" | base64 -d >"$tmp"
        chmod "$mode" "$tmp"
        if [ -f "$target" ] && cmp -s "$tmp" "$target" && [ "$(stat -c %a "$target")" = "${mode#0}" ]; then
            rm -f "$tmp"
        else
            mv -f "$tmp" "$target"
            echo "installed $path ($mode)"
            changed=$((changed + 1))
        fi
    done
    echo "install-files: $changed file(s) changed"
}

install_files
