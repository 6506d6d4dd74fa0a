#!/usr/bin/env bash
# Builds etcd, etcdctl and etcdutl of one etcd release from the Go module proxy.
# The server, etcdctl and etcdutl modules replace their sibling modules with ../<dir>; those siblings are published
# at the same version, so a wrapper module requiring all of them at that version builds the release as tagged.
# Environment: ETCD_VERSION (3.6.16), OUT (directory for the binaries), WORK (scratch directory).
set -euo pipefail
: "${ETCD_VERSION:?}" "${OUT:?}" "${WORK:?}"

version=v$ETCD_VERSION
mkdir -p "$WORK" "$OUT"
cd "$WORK"
cat >go.mod <<MOD
module kubeha.local/toolchain/etcd

go 1.24

require (
	go.etcd.io/etcd/api/v3 $version
	go.etcd.io/etcd/client/pkg/v3 $version
	go.etcd.io/etcd/client/v3 $version
	go.etcd.io/etcd/pkg/v3 $version
	go.etcd.io/etcd/server/v3 $version
	go.etcd.io/etcd/etcdctl/v3 $version
	go.etcd.io/etcd/etcdutl/v3 $version
)
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
GO
echo "toolchain: resolving modules of etcd $version" >&2
GOFLAGS=-mod=mod go mod tidy >/dev/null
for module in server etcdctl etcdutl; do
    command=$module
    [ "$module" = server ] && command=etcd
    started=$SECONDS
    echo "toolchain: building $command $version" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/$command" "go.etcd.io/etcd/$module/v3"
    echo "toolchain: built $command in $((SECONDS - started)) s" >&2
done
