#!/usr/bin/env bash
# Builds the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) of one release from the Go module proxy.
# The proxy lists no tags of github.com/pulumi/pulumi-kubernetes/provider/v4, only the pseudo-version of the release
# commit. Its go.mod replaces sdk/v4 with ../sdk; a replace only counts in the main module, so a throwaway wrapper
# module requires everything the release's go.mod requires, at its versions, and pins the published sdk/v4 of the
# same release. After the build, the binary's dependencies are checked against that go.mod.
# The plugin's main package embeds schema-embed.json and terraform-mapping-embed.json, which upstream's Makefile makes
# with `VERSION=<release> go generate` in that package (its generate.go: the committed schema.json with the release
# version set, and terraform-mapping.json, both re-serialized). The module zip holds only the inputs, so the package is
# copied into the wrapper and generated there by that same generator. The version is stamped as the Makefile does;
# the engine reads it back through the plugin's GetPluginInfo.
# Environment: PROVIDER_VERSION (4.25.0), PROVIDER_MODULE_VERSION (the release commit's pseudo-version),
# PROVIDER_SDK_VERSION (v4.25.0), OUT (directory for the binary), WORK (scratch directory).
set -euo pipefail
: "${PROVIDER_VERSION:?}" "${PROVIDER_MODULE_VERSION:?}" "${PROVIDER_SDK_VERSION:?}" "${OUT:?}" "${WORK:?}"

module=github.com/pulumi/pulumi-kubernetes/provider/v4
sdk=github.com/pulumi/pulumi-kubernetes/sdk/v4
main_package=cmd/pulumi-resource-kubernetes
mkdir -p "$WORK" "$OUT"
cd "$WORK"
echo "toolchain: downloading $module@$PROVIDER_MODULE_VERSION" >&2
download=$(go mod download -json "$module@$PROVIDER_MODULE_VERSION")
upstream_mod=$(sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p' <<<"$download")
upstream_dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$download")
if [ ! -f "$upstream_mod" ] || [ ! -d "$upstream_dir/$main_package" ]; then
    echo "toolchain: no go.mod or $main_package in $module@$PROVIDER_MODULE_VERSION" >&2
    exit 1
fi

# The upstream requirements, one "<module> <version>" a line, from both the block and the one-line forms.
upstream_requires() {
    awk '/^require \($/ { block = 1; next } block && /^\)$/ { block = 0; next }
        block && NF >= 2 { print $1, $2 } /^require [^(]/ { print $2, $3 }' "$upstream_mod"
}
{
    echo "module kubeha.local/toolchain/pulumi-resource-kubernetes"
    echo
    grep -E '^go [0-9.]+$' "$upstream_mod"
    echo
    echo "require ("
    echo "	$module $PROVIDER_MODULE_VERSION"
    echo "	$sdk $PROVIDER_SDK_VERSION"
    upstream_requires | grep -v "^$sdk " | sed 's/^/\t/'
    echo ")"
    # Any other replace of the upstream module that points at a published module (not a ../ path) is kept.
    grep -E '^replace [^ ]+ => [^.][^ ]* v[^ ]+$' "$upstream_mod" || true
} >go.mod

mkdir -p "$main_package"
cp "$upstream_dir/$main_package"/*.go "$upstream_dir/$main_package"/*.json "$main_package/"
chmod -R u+w "$main_package"
echo "toolchain: generating the embedded schema of pulumi-resource-kubernetes $PROVIDER_VERSION" >&2
(cd "$main_package" && VERSION=$PROVIDER_VERSION GOFLAGS=-mod=mod go generate .)
for embedded in schema-embed.json terraform-mapping-embed.json; do
    [ -s "$main_package/$embedded" ] || { echo "toolchain: go generate did not write $embedded" >&2; exit 1; }
done

started=$SECONDS
echo "toolchain: building pulumi-resource-kubernetes $PROVIDER_VERSION ($module@$PROVIDER_MODULE_VERSION)" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X $module/pkg/version.Version=$PROVIDER_VERSION" \
    -o "$OUT/pulumi-resource-kubernetes" "./$main_package"
echo "toolchain: built pulumi-resource-kubernetes in $((SECONDS - started)) s" >&2

# Every module both the binary and the release's go.mod name must be at the release's version: the wrapper may add
# the published sdk/v4, but must not have moved anything else.
mismatches=$(
    go version -m "$OUT/pulumi-resource-kubernetes" | awk '$1 == "dep" { print $2, $3 }' |
        awk 'NR == FNR { wanted[$1] = $2; next } ($1 in wanted) && wanted[$1] != $2 { print $1, $2, "not", wanted[$1] }' \
            <(upstream_requires | grep -v "^$sdk ") -
)
if [ -n "$mismatches" ]; then
    echo "toolchain: pulumi-resource-kubernetes was built with other versions than the release's go.mod:" >&2
    echo "$mismatches" >&2
    exit 1
fi
