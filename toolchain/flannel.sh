#!/usr/bin/env bash
# Builds flanneld of one flannel release from the Go module proxy. `go install` cannot: the proxy refuses the
# tencentcloud-sdk-go/tencentcloud/vpc versions flannel 0.28.x requires (403; only old ones such as v1.1.14 are
# served), so a wrapper module requires flannel and replaces that module with $FLANNEL_TENCENT_VPC. It is used only by
# flannel's tencent-vpc backend, which kubeha never selects (vxlan, wireguard).
# cgo as upstream's amd64 build (its udp backend is C), linked statically as upstream does, so it runs in an image.
# Environment: FLANNEL_VERSION (v0.28.9), FLANNEL_TENCENT_VPC (v1.1.14), OUT, WORK.
set -euo pipefail
: "${FLANNEL_VERSION:?}" "${FLANNEL_TENCENT_VPC:?}" "${OUT:?}" "${WORK:?}"

version=$FLANNEL_VERSION
vpc=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
mkdir -p "$WORK" "$OUT"
cd "$WORK"
upstream_mod=$(go mod download -json "github.com/flannel-io/flannel@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "toolchain: no go.mod for github.com/flannel-io/flannel@$version" >&2; exit 1; }
{
    echo "module kubeha.local/toolchain/flannel"
    echo
    grep -E '^go [0-9.]+$' "$upstream_mod"
    echo
    echo "require github.com/flannel-io/flannel $version"
    echo
    echo "replace $vpc => $vpc $FLANNEL_TENCENT_VPC"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/flannel-io/flannel"
GO
echo "toolchain: resolving modules of flannel $version" >&2
go mod tidy -e >/dev/null 2>&1 || true
started=$SECONDS
echo "toolchain: building flanneld $version" >&2
CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$version -extldflags -static" \
    -o "$OUT/flanneld" github.com/flannel-io/flannel
echo "toolchain: built flanneld in $((SECONDS - started)) s" >&2
