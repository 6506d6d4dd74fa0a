#!/usr/bin/env bash
# Step upgrade (every master, then every worker, in the order the rollout gives, when the Kubernetes version
# changes; the node was drained by upgrade-drain): kubeadm's upgrade procedure for one node. The apt source
# and pin of the target's minor come on stdin (a bundle for install-files.sh); then kubeadm from it,
# `kubeadm upgrade apply v<target>` on the first master or `kubeadm upgrade node` elsewhere, both without
# certificate renewal (kubeha issues every certificate), then kubelet and kubectl, held again, and the kubelet
# restarted. A master is done once its own kube-apiserver answers again. Each part is skipped when done: the
# packages by their installed version, kubeadm's upgrade by its marker (kubeadm-upgrade-v<target>.done), the
# restart by the version the kubelet reports; a node that runs the target already changes nothing.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_KUBERNETES_VERSION:?KUBEHA_KUBERNETES_VERSION is required (the exact target version, 1.37.2)}"
: "${KUBEHA_NODE_NAME:?KUBEHA_NODE_NAME is required (the name of this node)}"
: "${KUBEHA_KUBEADM_UPGRADE:?KUBEHA_KUBEADM_UPGRADE is required (apply on the first master, node elsewhere)}"
: "${KUBEHA_IGNORE_PREFLIGHT_ERRORS:=}"
: "${KUBEHA_TIMEOUT:=900}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
[[ $KUBEHA_KUBERNETES_VERSION =~ ^1\.[0-9]+\.[0-9]+$ ]] ||
    fail "KUBEHA_KUBERNETES_VERSION must be an exact version like 1.37.2, got '$KUBEHA_KUBERNETES_VERSION'"
[[ $KUBEHA_KUBEADM_UPGRADE == apply || $KUBEHA_KUBEADM_UPGRADE == node ]] ||
    fail "KUBEHA_KUBEADM_UPGRADE must be apply or node, got '$KUBEHA_KUBEADM_UPGRADE'"

deadline=$((SECONDS + KUBEHA_TIMEOUT))
node=$KUBEHA_NODE_NAME
target=v$KUBEHA_KUBERNETES_VERSION
upgraded=$kubeha_state_dir/kubeadm-upgrade-$target.done
master=no
[[ ! -e /etc/kubernetes/manifests/kube-apiserver.yaml ]] || master=yes
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

# installed PACKAGE: the package is installed at the target version (pkgs.k8s.io versions are 1.37.2-1.1).
installed() {
    [[ $(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) == "$KUBEHA_KUBERNETES_VERSION"-* ]]
}
kubelet_reports() {
    kubectl_as /etc/kubernetes/kubelet.conf get node "$node" -o 'jsonpath={.status.nodeInfo.kubeletVersion}'
}
kubelet_at_target() {
    [[ $(kubelet_reports) == "$target" ]]
}
apt_get() {
    apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
# upgrade_packages PACKAGE...: the target version of each, from the target minor's repository, held again.
upgrade_packages() {
    local package
    local -a wanted=()
    for package in "$@"; do
        installed "$package" || wanted+=("$package=$KUBEHA_KUBERNETES_VERSION-*")
    done
    if ((${#wanted[@]} > 0)); then
        log "installing ${wanted[*]}"
        apt-mark unhold "$@" >/dev/null
        retry_until "$deadline" "the package lists" run_logged apt_get update >/dev/null ||
            fail "apt-get update failed" "cat /etc/apt/sources.list.d/kubernetes.list" "$kubeha_log_dir/$step.log"
        if ! retry_until "$deadline" "${wanted[*]}" run_logged apt_get install -y --no-install-recommends \
            "${wanted[@]}" >/dev/null; then
            apt-mark hold "$@" >/dev/null
            fail "could not install ${wanted[*]}" "apt-cache madison $1 (is $KUBEHA_KUBERNETES_VERSION in the repository?)" \
                "$kubeha_log_dir/$step.log"
        fi
    fi
    apt-mark hold "$@" >/dev/null
    for package in "$@"; do
        installed "$package" || fail "$package is not at $KUBEHA_KUBERNETES_VERSION after its installation" \
            "dpkg -l $package; apt-cache policy $package"
    done
}

if [[ $(apt-mark showhold) == *kubelet* ]] && installed kubeadm && installed kubelet && installed kubectl &&
    kubelet_at_target 2>/dev/null; then
    log "$node runs $target already: nothing to do"
    exit 0
fi

log "upgrading $node to $target"
"${BASH_SOURCE[0]%/*}/install-files.sh" | while read -r line; do log "apt: $line"; done
upgrade_packages kubeadm
[[ $(kubeadm version -o short) == "$target" ]] || fail "kubeadm reports $(kubeadm version -o short), not $target"

if [[ -e $upgraded ]]; then
    log "kubeadm upgrade $KUBEHA_KUBEADM_UPGRADE to $target completed on an earlier run"
else
    if [[ $KUBEHA_KUBEADM_UPGRADE == apply ]]; then
        kubeadm_upgrade=(upgrade apply "$target" --yes --certificate-renewal=false)
    else
        kubeadm_upgrade=(upgrade node --certificate-renewal=false)
    fi
    # Its preflight runs the checks init and join ran (SystemVerification among them): the same ones are ignored.
    [[ -z $KUBEHA_IGNORE_PREFLIGHT_ERRORS ]] ||
        kubeadm_upgrade+=("--ignore-preflight-errors=$KUBEHA_IGNORE_PREFLIGHT_ERRORS")
    log "kubeadm ${kubeadm_upgrade[*]}"
    # kubeadm upgrade is idempotent (kubeadm's upgrade guide, "Recovering from a failure state"): a failed
    # run is repeated as it is on the next pulumi up.
    run_logged timeout --kill-after=10s "$(seconds_left "$deadline")" kubeadm "${kubeadm_upgrade[@]}" ||
        fail "kubeadm ${kubeadm_upgrade[*]} failed; this node keeps its kubelet and serves as before" \
            "the kubeadm output above; full output: $kubeha_log_dir/$step.log (root only)" \
            "/etc/kubernetes/tmp/kubeadm-backup-manifests-* (the manifests before the upgrade)" \
            "kubeadm upgrade can be run again: fix the cause, then pulumi up again"
    install -d -m 0755 "$kubeha_state_dir"
    printf 'kubeadm %s exited 0 on %s\n' "${kubeadm_upgrade[*]}" "$(date -Is)" >"$upgraded"
fi

upgrade_packages kubelet kubectl
if ! kubelet_at_target 2>/dev/null; then
    log "restarting the kubelet"
    systemctl daemon-reload
    systemctl restart kubelet
fi
retry_until "$deadline" "the kubelet to report $target" kubelet_at_target >/dev/null ||
    fail "the kubelet does not report $target after its restart" "journalctl -u kubelet -n 100" \
        "systemctl status kubelet"
if [[ $master == yes ]]; then
    retry_until "$deadline" "this master's kube-apiserver" local_apiserver_ready >/dev/null ||
        fail "this master's kube-apiserver does not answer on 127.0.0.1:6443 after the upgrade" \
            "crictl ps -a --name kube-apiserver; crictl logs <id>" "journalctl -u kubelet -n 100"
fi
log "$node runs $target"
