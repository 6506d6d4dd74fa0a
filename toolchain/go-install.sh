#!/usr/bin/env bash
# Builds commands of one Go module release with `go install <package>@<version>` from the Go module proxy: for modules
# whose go.mod replaces nothing with a local path (for those, see the wrapper modules of kubernetes.sh, etcd.sh and
# pulumi.sh). Each package is installed into an empty folder of its own, then moved into $OUT under its name.
# Environment: GO_INSTALL_MODULE (github.com/containerd/containerd/v2), GO_INSTALL_VERSION (v2.4.2),
# GO_INSTALL_PACKAGES (package folders inside the module, "." for its root; "<folder>:<name>" renames the binary),
# GO_INSTALL_LDFLAGS (version stamps, -X ...), GO_INSTALL_TAGS (build tags), CGO_ENABLED (default 0), GOEXPERIMENT
# (when the release's build sets one: Go reads it), OUT (directory for the binaries), WORK (scratch directory).
set -euo pipefail
: "${GO_INSTALL_MODULE:?}" "${GO_INSTALL_VERSION:?}" "${GO_INSTALL_PACKAGES:?}" "${OUT:?}" "${WORK:?}"
: "${GO_INSTALL_LDFLAGS:=}" "${GO_INSTALL_TAGS:=}"
export CGO_ENABLED=${CGO_ENABLED:-0}

module=$GO_INSTALL_MODULE
version=$GO_INSTALL_VERSION
mkdir -p "$WORK" "$OUT"
# Outside any module: `go install pkg@version` builds with the release's own go.mod and go.sum.
cd "$WORK"
read -ra packages <<<"$GO_INSTALL_PACKAGES"
built=0
for entry in "${packages[@]}"; do
    folder=${entry%%:*}
    package=$module
    [ "$folder" = . ] || package=$module/$folder
    started=$SECONDS
    echo "toolchain: building $package@$version (CGO_ENABLED=$CGO_ENABLED, tags: ${GO_INSTALL_TAGS:-none})" >&2
    built=$((built + 1))
    bin=$WORK/bin-$built
    rm -rf "$bin"
    mkdir -p "$bin"
    GOBIN=$bin go install -trimpath -tags "$GO_INSTALL_TAGS" -ldflags "-s -w $GO_INSTALL_LDFLAGS" "$package@$version"
    installed=("$bin"/*)
    if [ "${#installed[@]}" -ne 1 ] || [ ! -f "${installed[0]}" ]; then
        echo "toolchain: go install $package@$version did not leave exactly one binary in $bin" >&2
        exit 1
    fi
    name=$(basename "${installed[0]}")
    [ "$entry" = "$folder" ] || name=${entry#*:}
    mv "${installed[0]}" "$OUT/$name"
    echo "toolchain: built $name in $((SECONDS - started)) s" >&2
done
