#!/usr/bin/env bash
# Builds kubeadm, the control-plane binaries and kubectl (or the node's kubelet and kube-proxy: KUBERNETES_COMMANDS) of
# one Kubernetes release from the Go module proxy.
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every staging module with ./staging/...,
# so a throwaway wrapper module requires it and points each staging module at its published k8s.io/<m>@v0.x.y.
# Environment: KUBERNETES_VERSION (v1.36.3), OUT (directory for the binaries), WORK (scratch directory),
# KUBERNETES_COMMANDS (which of them to build; default: all five).
set -euo pipefail
: "${KUBERNETES_VERSION:?}" "${OUT:?}" "${WORK:?}"
: "${KUBERNETES_COMMANDS:=kubeadm kube-apiserver kube-controller-manager kube-scheduler kubectl}"

version=$KUBERNETES_VERSION
minor_number=$(cut -d. -f2 <<<"$version")
staging_version="v0.${minor_number}.$(cut -d. -f3 <<<"$version")"
mkdir -p "$WORK" "$OUT"
cd "$WORK"

upstream_mod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "toolchain: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }

{
    echo "module kubeha.local/toolchain/kubernetes"
    echo
    grep -E '^go [0-9.]+$' "$upstream_mod"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    # Each `k8s.io/<m> => ./staging/src/k8s.io/<m>` becomes `k8s.io/<m> => k8s.io/<m> <staging version>`.
    sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$upstream_mod"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
echo "toolchain: resolving modules of k8s.io/kubernetes $version" >&2
go mod tidy -e >/dev/null 2>&1 || true
GOFLAGS=-mod=mod go mod download

build_date=2000-01-01T00:00:00Z
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor_number"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
read -ra commands <<<"$KUBERNETES_COMMANDS"
for command in "${commands[@]}"; do
    started=$SECONDS
    echo "toolchain: building $command $version" >&2
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
        -o "$OUT/$command" "k8s.io/kubernetes/cmd/$command"
    echo "toolchain: built $command in $((SECONDS - started)) s" >&2
done
