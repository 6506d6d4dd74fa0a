#!/usr/bin/env bash
# Builds the Pulumi CLI of one release from the Go module proxy.
# pkg/v3's go.mod replaces sdk/v3 with ../sdk and atotto/clipboard with a published fork; a replace only counts in the
# main module, so a throwaway wrapper module requires pkg/v3, pins sdk/v3 at the same release and mirrors the fork.
# Environment: PULUMI_VERSION (3.274.1), OUT (directory for the binaries), WORK (scratch directory).
set -euo pipefail
: "${PULUMI_VERSION:?}" "${OUT:?}" "${WORK:?}"

version=v$PULUMI_VERSION
mkdir -p "$WORK" "$OUT"
cd "$WORK"
upstream_mod=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "toolchain: no go.mod for github.com/pulumi/pulumi/pkg/v3@$version" >&2; exit 1; }
{
    echo "module kubeha.local/toolchain/pulumi"
    echo
    grep -E '^go [0-9.]+$' "$upstream_mod"
    echo
    echo "require ("
    echo "	github.com/pulumi/pulumi/pkg/v3 $version"
    echo "	github.com/pulumi/pulumi/sdk/v3 $version"
    echo ")"
    echo
    # Every replace of the upstream module that points at a published module (not a ../ path) is kept.
    grep -E '^replace [^ ]+ => [^.][^ ]* v[^ ]+$' "$upstream_mod"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
echo "toolchain: resolving modules of pulumi $version" >&2
GOFLAGS=-mod=mod go mod tidy >/dev/null
started=$SECONDS
echo "toolchain: building pulumi $version" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$OUT/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
echo "toolchain: built pulumi in $((SECONDS - started)) s" >&2
