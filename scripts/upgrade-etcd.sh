#!/usr/bin/env bash
# Step etcd-upgrade (every etcd member, one after another, when kubeha's etcd version changes): a rolling upgrade of
# this member to KUBEHA_ETCD_VERSION, as etcd documents it (etcd.io/docs/v3.6/upgrades/upgrading-etcd: patch
# upgrades, or one minor at a time; upgrade_3_6: every 3.5 member at 3.5.26 or later before 3.6). First, with every
# member healthy, it refuses what etcd does not support from the versions the members run, before anything changes:
# a downgrade, a skipped minor, a minor upgrade from a patch below the one etcd requires. Before a minor upgrade, a
# snapshot of this member on its etcd disk, with its sha256 beside it; no snapshot, no upgrade. Then the release
# tarball, checked against the pinned SHA-256 (or the SHA256SUMS beside it, as the boot does), replaces etcd, etcdctl
# and etcdutl; etcd.service restarts; and the step returns once this member is healthy again at the target and the
# whole cluster is healthy, so the next member may go. A member that runs the target already is left alone.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_VERSION:?KUBEHA_ETCD_VERSION is required (the exact etcd release to run, 3.6.16)}"
: "${KUBEHA_ETCD_RELEASE:?KUBEHA_ETCD_RELEASE is required (URL of etcd-v<version>-linux-amd64.tar.gz)}"
: "${KUBEHA_ETCD_SHA256:=}" # the tarball's pinned digest; empty: the SHA256SUMS beside it is trusted
: "${KUBEHA_ETCD_BIN_DIR:?KUBEHA_ETCD_BIN_DIR is required (where etcd, etcdctl and etcdutl lie)}"
: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (etcd --config-file of this member)}"
: "${KUBEHA_ETCD_SNAPSHOT_DIR:?KUBEHA_ETCD_SNAPSHOT_DIR is required (where the snapshot before a minor upgrade goes, on the etcd disk)}"
: "${KUBEHA_ETCD_ENDPOINTS:?KUBEHA_ETCD_ENDPOINTS is required (client URLs of every member, comma-separated)}"
: "${KUBEHA_ETCD_CACERT:?KUBEHA_ETCD_CACERT is required (etcd CA certificate)}"
: "${KUBEHA_ETCD_CERT:?KUBEHA_ETCD_CERT is required (etcd client certificate)}"
: "${KUBEHA_ETCD_KEY:?KUBEHA_ETCD_KEY is required (etcd client key)}"
: "${KUBEHA_TIMEOUT:=600}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
[[ $KUBEHA_ETCD_VERSION =~ ^3\.[0-9]+\.[0-9]+$ ]] ||
    fail "KUBEHA_ETCD_VERSION must be an exact etcd 3 version like 3.6.16, got '$KUBEHA_ETCD_VERSION'"
[[ -r $KUBEHA_ETCD_CONFIG ]] || fail "$KUBEHA_ETCD_CONFIG does not exist" "the install-files step's output"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
target=$KUBEHA_ETCD_VERSION
own=$(etcd_setting "$KUBEHA_ETCD_CONFIG" advertise-client-urls)
name=$(etcd_setting "$KUBEHA_ETCD_CONFIG" name)
use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
hints=("journalctl -u etcd -n 100, on each member listed as unhealthy"
    "set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint status -w table; etcdctl member list -w table")

# The lowest patch of the previous minor etcd supports a minor upgrade from (etcd.io/docs/v3.6/upgrades/upgrade_3_6:
# "make sure that all of your 3.5 members are updated to 3.5.26 or later"). A minor that is not listed needs only
# the previous minor.
declare -A minimum_before=([3.6]=3.5.26)

# running_versions ENDPOINTS: "<client URL> <version>" of every member at ENDPOINTS (etcdctl endpoint status: the
# endpoint first, the server's version third, in 3.5 and 3.6).
running_versions() {
    etcdctl --endpoints="$1" endpoint status | awk -F ', ' '{ print $1, $3 }'
}
# installed_version: the version of the etcd binary etcd.service starts.
installed_version() {
    "$KUBEHA_ETCD_BIN_DIR/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p'
}

# The cluster must be healthy before anything changes: a member restarted while another is down loses the quorum.
retry_until "$deadline" "every etcd member to be healthy" etcd_cluster_healthy "$KUBEHA_ETCD_ENDPOINTS" >/dev/null ||
    fail "the etcd cluster is not healthy: no member is upgraded until it is (nothing was changed)" "${hints[@]}"
versions=$(retry_until "$deadline" "the members' versions" running_versions "$KUBEHA_ETCD_ENDPOINTS") ||
    fail "cannot read the members' versions (etcdctl endpoint status)" "${hints[@]}"

problems=()
while read -r endpoint version; do
    [[ -n $endpoint ]] || continue
    [[ $version =~ ^3\.[0-9]+\.[0-9]+$ ]] || {
        problems+=("$endpoint reports version '$version', not an etcd 3 release")
        continue
    }
    required=${minimum_before[$(cut -d . -f 1-2 <<<"$target")]:-}
    if ! version_at_least "$target" "$version"; then
        problems+=("$endpoint runs $version, newer than $target: kubeha does not downgrade etcd")
    elif (($(minor_of "$target") > $(minor_of "$version") + 1)); then
        problems+=("$endpoint runs $version: $target skips a minor; etcd upgrades one minor at a time (3.$(($(minor_of "$target") - 1)) first)")
    elif (($(minor_of "$target") == $(minor_of "$version") + 1)) && [[ -n $required ]] &&
        ! version_at_least "$version" "$required"; then
        problems+=("$endpoint runs $version: etcd supports the upgrade to $(cut -d . -f 1-2 <<<"$target") only from $required or later; upgrade every member to that first")
    fi
done <<<"$versions"
log "members run: $(awk '{ print $2 }' <<<"$versions" | sort -V | uniq -c | awk '{ printf "%s%s at %s", sep, $1, $2; sep = ", " }')"
if ((${#problems[@]} > 0)); then
    for problem in "${problems[@]}"; do log "refused: $problem"; done
    fail "etcd $target cannot be reached from what the members run (nothing was changed)" \
        "etcdctl endpoint status -w table (the VERSION column)" \
        "the etcd version comes with the kubeha release: go through a kubeha release with an etcd that is on the path"
fi

reported=$(awk -v own="$own" '$1 == own { print $2 }' <<<"$versions")
[[ -n $reported ]] || fail "this member's client URL $own (advertise-client-urls in $KUBEHA_ETCD_CONFIG) is not among KUBEHA_ETCD_ENDPOINTS"
if [[ $reported == "$target" && $(installed_version) == "$target" ]]; then
    log "member $name runs etcd $target already: nothing to do"
    exit 0
fi

# snapshot_before_upgrade: this member's data as it is before the new minor rewrites it (its storage version follows
# the cluster's), to restore from (etcdutl snapshot restore) if the new minor misbehaves. Named by the upgrade and the
# snapshot's own revision, not the time; complete once its .sha256 is beside it. A run again takes a new one, then
# drops the older ones of the same upgrade: one per member and upgrade stays on the disk.
snapshot_before_upgrade() {
    local prefix="$name-$reported-to-$target" partial revision snapshot sha256 old
    # On the etcd disk: etcd.service requires its mount, and the member just answered healthy.
    install -d -m 0700 "$KUBEHA_ETCD_SNAPSHOT_DIR"
    partial="$KUBEHA_ETCD_SNAPSHOT_DIR/.$prefix.partial"
    rm -f "$partial"
    log "taking a snapshot of member $name before its minor upgrade ($reported to $target)"
    # A large database takes longer than the 8 s every other etcdctl call may take.
    ETCDCTL_COMMAND_TIMEOUT=10m quietly etcdctl --endpoints="$own" snapshot save "$partial" ||
        fail "cannot take a snapshot of member $name before its minor upgrade: not upgraded (nothing was changed)" \
            "df -h $KUBEHA_ETCD_SNAPSHOT_DIR (the etcd disk)" "${hints[@]}"
    # The member's own etcdutl: the release that wrote the snapshot.
    revision=$("$KUBEHA_ETCD_BIN_DIR/etcdutl" snapshot status "$partial" -w json | grep -o '"revision":[0-9]*') || true
    revision=${revision#*:}
    [[ $revision =~ ^[0-9]+$ ]] || {
        rm -f "$partial"
        fail "the snapshot of member $name does not read back (etcdutl snapshot status): not upgraded (nothing was changed)" \
            "$KUBEHA_ETCD_BIN_DIR/etcdutl version; df -h $KUBEHA_ETCD_SNAPSHOT_DIR"
    }
    snapshot="$KUBEHA_ETCD_SNAPSHOT_DIR/$prefix-rev$revision.db"
    sha256=$(sha256sum "$partial" | cut -d ' ' -f 1)
    mv -f "$partial" "$snapshot"
    printf '%s  %s\n' "$sha256" "${snapshot##*/}" >"$snapshot.sha256.partial"
    mv -f "$snapshot.sha256.partial" "$snapshot.sha256"
    for old in "$KUBEHA_ETCD_SNAPSHOT_DIR/$prefix"-rev*.db; do
        [[ $old == "$snapshot" ]] || rm -f "$old" "$old.sha256"
    done
    log "snapshot $snapshot: revision $revision, sha256 $sha256"
}
if [[ $(minor_of "$reported") != "$(minor_of "$target")" ]]; then
    snapshot_before_upgrade
fi

if [[ $(installed_version) != "$target" ]]; then
    tarball=${KUBEHA_ETCD_RELEASE##*/}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # https only, redirects included, as at boot: a mirror, or whoever answers for it, cannot send it to plain http.
    download() {
        curl -fsSL --proto =https --proto-redir =https --connect-timeout 10 --speed-limit 1024 --speed-time 60 \
            -o "$2" "$1"
    }
    log "downloading $tarball"
    retry_until "$deadline" "$KUBEHA_ETCD_RELEASE" download "$KUBEHA_ETCD_RELEASE" "$work/$tarball" ||
        fail "cannot download $KUBEHA_ETCD_RELEASE (nothing was changed)" "kubeha:mirrors.etcdReleases"
    expected=$KUBEHA_ETCD_SHA256
    if [[ -z $expected ]]; then
        retry_until "$deadline" "SHA256SUMS" download "${KUBEHA_ETCD_RELEASE%/*}/SHA256SUMS" "$work/SHA256SUMS" ||
            fail "cannot download the SHA256SUMS beside $KUBEHA_ETCD_RELEASE (nothing was changed)"
        expected=$(awk -v name="$tarball" '$2 == name { print $1 }' "$work/SHA256SUMS")
    fi
    sha256sum --check --strict --quiet <<<"${expected:-none}  $work/$tarball" ||
        fail "$tarball does not have SHA-256 ${expected:-(none listed in SHA256SUMS)} (nothing was changed)" \
            "the mirror (kubeha:mirrors.etcdReleases) and the digest in config/versions.ts"
    tar -xzf "$work/$tarball" -C "$work" --strip-components=1 --no-same-owner "${tarball%.tar.gz}"/{etcd,etcdctl,etcdutl}
    unpacked=$("$work/etcd" --version | sed -n 's/^etcd Version: //p')
    [[ $unpacked == "$target" ]] || fail "the etcd in $tarball reports '$unpacked', not $target (nothing was changed)"
    # install(1) replaces each file by a new one: the running etcd keeps the old one until it restarts.
    install -m 0755 -t "$KUBEHA_ETCD_BIN_DIR" "$work"/{etcd,etcdctl,etcdutl}
    log "installed etcd, etcdctl and etcdutl $target in $KUBEHA_ETCD_BIN_DIR"
fi

log "restarting member $name (was $reported)"
systemctl restart --no-block etcd.service

# reports_target: this member answers healthy, reports the target version, and the whole cluster is healthy.
reports_target() {
    local now
    etcdctl --endpoints="$own" endpoint health >/dev/null || return 1
    now=$(running_versions "$own" | awk '{ print $2 }') || return 1
    [[ $now == "$target" ]] || {
        echo "member $name reports $now, not $target" >&2
        return 1
    }
    etcd_cluster_healthy "$KUBEHA_ETCD_ENDPOINTS" >/dev/null
}
retry_until "$deadline" "member $name to be healthy at $target, and the cluster with it" reports_target ||
    fail "member $name is not healthy at $target after its restart; the other members keep the quorum" \
        "journalctl -u etcd -n 100" "${hints[@]}" \
        "$KUBEHA_ETCD_BIN_DIR/etcd --version (the binary etcd.service starts)"
versions=$(running_versions "$KUBEHA_ETCD_ENDPOINTS")
behind=$(awk -v target="$target" '$2 != target' <<<"$versions" | grep -c . || true)
log "member $name runs etcd $target; the cluster is healthy, $behind of $(grep -c . <<<"$versions") member(s) still to upgrade"
