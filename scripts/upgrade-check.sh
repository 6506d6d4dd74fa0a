#!/usr/bin/env bash
# Step upgrade-check (the first master, before any node's upgrade step): reads the version the cluster runs,
# kubeadm's ClusterConfiguration and every node's kubelet, and refuses a target kubeadm cannot reach from
# there before any host is touched: a downgrade (kubeadm has none), or a skipped minor (one minor at a time,
# and a rollout left half-done counts from its oldest node). Prints every node's version; changes nothing on the
# cluster (it records the accepted target in /var/lib/kubeha/upgrade-check.accepted).
#
# The node steps run on a version change only (they do nothing when created). So the first time this step runs
# on a master (its marker is missing: the steps were just created, with the cluster or with this kubeha
# release), the target must be what the control plane runs already: an older cluster that adopts kubeha's
# upgrade steps together with a version change would otherwise not be upgraded at all.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBERNETES_VERSION:?KUBEHA_KUBERNETES_VERSION is required (the exact target version, 1.37.2)}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
[[ $KUBEHA_KUBERNETES_VERSION =~ ^1\.[0-9]+\.[0-9]+$ ]] ||
    fail "KUBEHA_KUBERNETES_VERSION must be an exact version like 1.37.2, got '$KUBEHA_KUBERNETES_VERSION'"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
target=v$KUBEHA_KUBERNETES_VERSION
accepted=$kubeha_state_dir/upgrade-check.accepted

control_plane_version() {
    kubectl_as "$admin_kubeconfig" -n kube-system get configmap kubeadm-config \
        -o 'jsonpath={.data.ClusterConfiguration}' | sed -n 's/^kubernetesVersion: *//p'
}
node_versions() {
    kubectl_as "$admin_kubeconfig" get nodes \
        -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.nodeInfo.kubeletVersion}{"\n"}{end}'
}

control_plane=$(retry_until "$deadline" "kubeadm's ClusterConfiguration" control_plane_version) ||
    fail "cannot read the cluster's version (kube-system/kubeadm-config)" \
        "kubectl --kubeconfig $admin_kubeconfig -n kube-system get configmap kubeadm-config -o yaml"
[[ $control_plane =~ ^v1\.[0-9]+\.[0-9]+$ ]] ||
    fail "kube-system/kubeadm-config names kubernetesVersion '$control_plane', not an exact version"
nodes=$(retry_until "$deadline" "the node list" node_versions) ||
    fail "cannot list the nodes" "kubectl --kubeconfig $admin_kubeconfig get nodes"

# Every version running: the control plane's and each kubelet's.
running=("control-plane $control_plane")
while read -r name version; do
    [[ -n $name ]] && running+=("$name $version")
done <<<"$nodes"

problems=()
oldest=$control_plane
if [[ ! -e $accepted ]]; then
    if [[ $control_plane != "$target" ]]; then
        problems+=("the upgrade steps are new on this cluster and would not run: first pulumi up with kubeha:kubernetesVersion ${control_plane#v} (what the control plane runs), then set ${target#v}")
    fi
else
    for entry in "${running[@]}"; do
        read -r name version <<<"$entry"
        if ! version_at_least "$target" "$version"; then
            problems+=("$name runs $version, newer than $target: kubeadm cannot downgrade")
        fi
        version_at_least "$version" "$oldest" || oldest=$version
    done
    if (($(minor_of "$target") > $(minor_of "$oldest") + 1)); then
        problems+=("the oldest part of the cluster runs $oldest: $target skips a minor; upgrade to 1.$(($(minor_of "$oldest") + 1)) first")
    fi
fi

log "the control plane runs $control_plane; kubelets: $(awk '{print $2}' <<<"$nodes" | sort -V | uniq -c | awk '{printf "%s%s at %s", sep, $1, $2; sep=", "}')"
printf '%s\n' "${running[@]}"
if ((${#problems[@]} > 0)); then
    for problem in "${problems[@]}"; do log "refused: $problem"; done
    fail "kubernetesVersion $KUBEHA_KUBERNETES_VERSION cannot be reached from what the cluster runs (nothing was changed)" \
        "kubectl get nodes (the VERSION column); kubeadm upgrade plan, on the first master" \
        "set kubeha:kubernetesVersion to a patch of the running minor or of the next one, and pulumi up again"
fi
install -d -m 0755 "$kubeha_state_dir"
printf '%s\n' "$target" >"$accepted"
behind=$(grep -c -v " $target\$" < <(printf '%s\n' "${running[@]}") || true)
if ((behind == 0)); then
    log "every node runs $target: nothing to upgrade"
else
    log "upgrading to $target: $behind of ${#running[@]} (control plane and nodes) to do"
fi
