#!/usr/bin/env bash
# Run by kubeha-renew-kubeconfigs.timer on every master (no step command of its own): renews the client
# certificates kubeadm made itself, which nothing else renews (kubeha issues every other certificate; upgrades
# pass --certificate-renewal=false): the ones embedded in admin.conf, super-admin.conf (the first master only),
# controller-manager.conf and scheduler.conf. A kubeconfig whose certificate expires within
# KUBEHA_RENEW_BEFORE_HOURS is renewed with `kubeadm certs renew`, signed by this master's cluster CA with
# kubeadm's own settings for it (KUBEHA_KUBEADM_CONFIG: key algorithm and validity), then the component reading
# it is restarted (its container stopped; the kubelet starts a new one from the static pod manifest): neither
# reads its kubeconfig again while it runs. The others are left alone. Fails (the unit shows failed) when a
# renewal fails, or when a renewed certificate does not expire later than the one it replaced.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_RENEW_BEFORE_HOURS:?KUBEHA_RENEW_BEFORE_HOURS is required (renew a certificate that expires within this many hours)}"
: "${KUBEHA_KUBEADM_CONFIG:?KUBEHA_KUBEADM_CONFIG is required (the ClusterConfiguration kubeadm certs renew reads)}"
: "${KUBEHA_KUBERNETES_DIR:=/etc/kubernetes}"
[[ $KUBEHA_RENEW_BEFORE_HOURS =~ ^[1-9][0-9]*$ ]] ||
    fail "KUBEHA_RENEW_BEFORE_HOURS must be a whole number of hours, got '$KUBEHA_RENEW_BEFORE_HOURS'"
[[ -r $KUBEHA_KUBEADM_CONFIG ]] || fail "$KUBEHA_KUBEADM_CONFIG is missing" "the files step's output on this master"
# The file names no Kubernetes version (a new kubernetesVersion must not rewrite a master's files before its upgrade
# step ran): the version is the installed kubeadm's, so kubeadm looks nothing up and checks it against itself.
installed_version=$(kubeadm version -o short) || fail "cannot ask kubeadm its version" "kubeadm version"
renewal_config=$(mktemp)
trap 'rm -f "$renewal_config"' EXIT
{
    cat "$KUBEHA_KUBEADM_CONFIG"
    printf 'kubernetesVersion: %s\n' "$installed_version"
} >"$renewal_config"
window=$((KUBEHA_RENEW_BEFORE_HOURS * 3600))

# client_certificate KUBECONFIG: the PEM certificate embedded in it (its only user's client-certificate-data).
client_certificate() {
    local data
    data=$(sed -n 's/^ *client-certificate-data: *//p' "$1")
    [[ -n $data && $data != *$'\n'* ]] || return 1
    base64 -d <<<"$data"
}

# expires_within KUBECONFIG: true when its certificate expires within the window (or cannot be read).
expires_within() {
    local pem
    pem=$(client_certificate "$1") || return 0
    ! openssl x509 -noout -checkend "$window" <<<"$pem" >/dev/null
}

# not_after KUBECONFIG: when its certificate expires, in seconds since the epoch.
not_after() {
    local pem end
    pem=$(client_certificate "$1") || return 1
    end=$(openssl x509 -noout -enddate <<<"$pem") || return 1
    date -d "${end#notAfter=}" +%s
}

# restart_component NAME: stops its running container; the kubelet starts a new one from the static pod manifest.
restart_component() {
    local id
    if ! command -v crictl >/dev/null; then
        log "no crictl on this host: restart $1 yourself (it reads the new certificate when it starts)"
        return 0
    fi
    id=$(crictl ps --name "^$1\$" --state running -q | head -n 1) ||
        fail "cannot list the running $1 container; it keeps its old certificate until it restarts" \
            "crictl ps -a --name $1" "journalctl -u containerd -n 50"
    if [[ -z $id ]]; then
        log "no running $1 container to restart (it reads the new certificate when it starts)"
        return 0
    fi
    log "restarting $1 (container $id): it reads its kubeconfig only when it starts"
    crictl stop --timeout 30 "$id" >/dev/null
}

renewed=()
for name in admin.conf super-admin.conf controller-manager.conf scheduler.conf; do
    file=$KUBEHA_KUBERNETES_DIR/$name
    [[ -e $file ]] || continue
    if ! expires_within "$file"; then
        log "$name: its certificate is valid for more than ${KUBEHA_RENEW_BEFORE_HOURS}h: not renewed"
        continue
    fi
    log "$name: its certificate expires within ${KUBEHA_RENEW_BEFORE_HOURS}h: renewing"
    before=$(not_after "$file") || before=0
    run_logged kubeadm certs renew "$name" --config "$renewal_config" >/dev/null ||
        fail "kubeadm certs renew $name failed" "$kubeha_log_dir/$step.log (root only)" "kubeadm certs check-expiration"
    after=$(not_after "$file") || after=0
    ((after > before)) ||
        fail "$name was renewed but its certificate does not expire later than before" "kubeadm certs check-expiration"
    renewed+=("$name")
done
for name in "${renewed[@]}"; do
    case $name in
        controller-manager.conf) restart_component kube-controller-manager ;;
        scheduler.conf) restart_component kube-scheduler ;;
    esac
done
log "${#renewed[@]} kubeconfig certificate(s) renewed${renewed[*]:+: ${renewed[*]}}"
