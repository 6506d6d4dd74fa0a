# shellcheck shell=bash
# Helpers every kubeha step script sources: messages, failure hints, bounded retries with back-off,
# kubeadm runs that keep secrets out of the output. Installed next to the step scripts
# (/usr/local/lib/kubeha/). Reads no KUBEHA_* variable itself: scripts pass what it needs.

step=${0##*/}
step=${step%.sh}
readonly step
readonly kubeha_log_dir=/var/log/kubeha
readonly kubeha_state_dir=/var/lib/kubeha

# Messages go to fd 3, the step's stderr, so they show even from commands whose output retry_until holds.
exec 3>&2
log() {
    printf 'kubeha %s: %s\n' "$step" "$*" >&3
}

# fail MESSAGE [WHERE-TO-LOOK...]: says what went wrong, where to look and how to re-run, then exits 1.
fail() {
    local hint
    printf 'kubeha %s: FAILED: %s\n' "$step" "$1" >&2
    shift
    for hint in "$@"; do
        printf '  look at: %s\n' "$hint" >&2
    done
    printf '  re-run: fix the cause, then pulumi up again (or on the host: sudo env KUBEHA_...=... %s)\n' "$0" >&2
    exit 1
}

[[ $EUID -eq 0 ]] || fail "must run as root (the remote command is: sudo -E $0)"

# require_seconds NAME VALUE: VALUE must be a whole number of seconds (at least 1).
require_seconds() {
    [[ $2 =~ ^[1-9][0-9]*$ ]] || fail "$1 must be a whole number of seconds, got '$2'"
}

# retry_until DEADLINE WHAT COMMAND...: runs COMMAND until it succeeds or $SECONDS passes DEADLINE,
# waiting 1, 2, 4 ... 16 s between attempts. Prints the successful attempt's stdout; after the last
# failed attempt, shows its (redacted) error output and returns 1. COMMAND must bound its own run time.
retry_until() {
    local deadline=$1 what=$2 delay=1 attempt=1 output errors
    shift 2
    errors=$(mktemp)
    while true; do
        if output=$("$@" 2>"$errors"); then
            rm -f "$errors"
            printf '%s' "$output"
            return 0
        fi
        if ((SECONDS + delay > deadline)); then
            log "gave up waiting for $what after $attempt attempt(s); last error:"
            redact <"$errors" | tail -n 20 >&2
            rm -f "$errors"
            return 1
        fi
        log "waiting for $what (attempt $attempt failed, next in ${delay}s)"
        sleep "$delay"
        attempt=$((attempt + 1))
        delay=$((delay * 2 > 16 ? 16 : delay * 2))
    done
}

# wait_for_boot_stage STAGE DEADLINE: waits until the host's boot preparation (scripts/host-boot.sh) has finished
# STAGE (all: every stage), or the whole boot (a host booted before stages were recorded), checking every 2 s until
# $SECONDS passes DEADLINE. Fails at once, naming the stage, when the boot failed.
wait_for_boot_stage() {
    local stage=$1 deadline=$2 failed current said=no what="stage '$1'"
    [[ $stage != all ]] || what="every stage"
    until [[ -e $kubeha_state_dir/boot.done ]] ||
        { [[ $stage != all ]] && grep -qxF "$stage" "$kubeha_state_dir/stages.done" 2>/dev/null; }; do
        if [[ $said == no ]]; then
            current=$(cat "$kubeha_state_dir/stage" 2>/dev/null) || current="not started"
            log "waiting for the boot preparation to finish $what (now in: $current)"
            said=yes
        fi
        if [[ -e $kubeha_state_dir/boot.failed ]]; then
            failed=$(<"$kubeha_state_dir/boot.failed")
            fail "the boot preparation failed in stage '$failed' before finishing $what" \
                "/var/log/cloud-init-output.log" "journalctl -t kubeha"
        fi
        ((SECONDS < deadline)) || fail "the boot preparation has not finished $what in time" \
            "cat $kubeha_state_dir/stage (the stage it is in)" "/var/log/cloud-init-output.log"
        sleep 2
    done
}

# seconds_left DEADLINE: whole seconds until DEADLINE (at least 1), for commands with their own timeout.
seconds_left() {
    local left=$(($1 - SECONDS))
    printf '%s' $((left > 0 ? left : 1))
}

# redact: hides bootstrap tokens and certificate keys in text on its way to a log.
redact() {
    sed -E -e 's/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/[bootstrap-token]/g' -e 's/\b[0-9a-f]{64}\b/[hex-secret]/g'
}

# run_logged COMMAND...: runs COMMAND with its full output appended to the root-only
# /var/log/kubeha/<step>.log and a redacted copy on stdout. Returns COMMAND's status.
run_logged() {
    local logfile="$kubeha_log_dir/$step.log" status=0
    install -d -m 0700 "$kubeha_log_dir"
    (umask 077 && printf '=== %s: %s\n' "$(date -Is)" "$*" >>"$logfile")
    "$@" 2>&1 | tee -a "$logfile" | redact || status=$?
    return "$status"
}

# quietly COMMAND...: runs COMMAND with its output held back, shown only when it fails.
quietly() {
    local output
    output=$("$@" 2>&1) || {
        local status=$?
        printf '%s\n' "$output" >&2
        return "$status"
    }
}

# require_private FILE: FILE must exist; one that holds a bootstrap token must be root's alone (0600).
require_private() {
    [[ -f $1 ]] || fail "$1 does not exist" "the install-files step's output" "ls -l ${1%/*}"
    if grep -Eq '\b[a-z0-9]{6}\.[a-z0-9]{16}\b' "$1" && [[ $(stat -c '%u %a' "$1") != "0 600" ]]; then
        fail "$1 holds a bootstrap token but is not root's alone (owner and mode: $(stat -c '%U %a' "$1"))" \
            "chown root:root $1 && chmod 0600 $1"
    fi
}

# use_etcd_client CA CERT KEY: etcdctl (API v3) talks TLS with this client certificate from now on. Every call names
# its --endpoints: an ETCDCTL_ENDPOINTS from the caller's shell (/etc/etcd/etcdctl.env, as the README loads it) would
# make each such call exit at once (etcdctl refuses a flag its environment also sets).
use_etcd_client() {
    local file
    for file in "$@"; do
        [[ -r $file ]] || fail "etcd client file $file is missing" "the install-files step's output" "ls -l ${file%/*}"
    done
    unset ETCDCTL_ENDPOINTS
    export ETCDCTL_CACERT=$1 ETCDCTL_CERT=$2 ETCDCTL_KEY=$3 ETCDCTL_DIAL_TIMEOUT=3s ETCDCTL_COMMAND_TIMEOUT=8s
}

# etcd_setting CONFIG KEY: a top-level value of etcd's YAML config file, without quotes.
etcd_setting() {
    sed -nE "s/^$2:[[:space:]]*[\"']?([^\"'#]*[^\"'#[:space:]])[\"']?[[:space:]]*(#.*)?$/\\1/p" "$1" | head -n 1
}

# require_etcd_disk MOUNTPOINT DATA_DIR: DATA_DIR lies on the etcd disk, and that disk is mounted at MOUNTPOINT.
# The fstab entry is nofail (the host stays reachable without it): unchecked, a failed mount looks like the empty
# data dir of a replaced host, and the member would be removed from a cluster it is healthy in. The boot labels the
# filesystem it makes kubeha-etcd (scripts/host-boot.sh), so another filesystem mounted there is refused too.
require_etcd_disk() {
    local mountpoint=$1 data_dir=$2 label
    [[ $data_dir == "$mountpoint"/?* ]] || fail "the etcd data-dir $data_dir is not on the etcd disk ($mountpoint)"
    findmnt -rn --mountpoint "$mountpoint" >/dev/null ||
        fail "the etcd disk is not mounted at $mountpoint: refusing to start (or replace) this member on another disk" \
            "findmnt $mountpoint; lsblk -f (is the disk attached?); grep $mountpoint /etc/fstab; journalctl -b -u '*.mount'" \
            "mount $mountpoint, then run this step again"
    label=$(findmnt -rn -o LABEL --mountpoint "$mountpoint")
    [[ $label == kubeha-etcd ]] ||
        fail "the filesystem mounted at $mountpoint is not the etcd disk (label '${label}', expected kubeha-etcd)" \
            "findmnt $mountpoint; lsblk -f"
}

# etcd_inputs_digest CONFIG: digest of the config and every file it names (certificates, keys). The
# initial-cluster-state line is left out: etcd reads it only at a member's first start.
etcd_inputs_digest() {
    local config=$1 file
    local -a files=()
    while read -r file; do
        [[ -r $file ]] || fail "$file, named in $config, is missing" "the install-files step's output" "ls -l ${file%/*}"
        files+=("$file")
    done < <(sed -nE "s/^[[:space:]]*[a-z-]+-file:[[:space:]]*[\"']?([^\"'[:space:]]+).*/\\1/p" "$config")
    { grep -v '^initial-cluster-state:' "$config" && cat "${files[@]}"; } | sha256sum | cut -d ' ' -f 1
}

# etcd_ensure_running CONFIG [DEADLINE]: etcd.service enabled and running with the current unit, config and
# certificates: started when stopped, restarted when one of them changed since this host last (re)started
# it. A start does not block: a member is ready only once a majority runs (the health gate waits for that).
# With DEADLINE, a restarted member is waited for until it answers healthy again (etcdctl's client
# certificates from use_etcd_client), so that members restarted one after another never lose the majority.
etcd_ensure_running() {
    local config=$1 deadline=${2:-} digest recorded="" changed=no state restarted=no
    digest=$(etcd_inputs_digest "$config")
    [[ ! -r $kubeha_state_dir/etcd.digest ]] || recorded=$(<"$kubeha_state_dir/etcd.digest")
    [[ -z $recorded || $recorded == "$digest" ]] || changed=yes
    if [[ $(systemctl show -p LoadState --value etcd.service) != loaded ||
        $(systemctl show -p NeedDaemonReload --value etcd.service) == yes ]]; then
        log "loading the etcd.service unit file"
        systemctl daemon-reload
        changed=yes
    fi
    systemctl is-enabled --quiet etcd.service || systemctl enable --quiet etcd.service
    state=$(systemctl show -p ActiveState --value etcd.service)
    case $state in
        active | activating | reloading)
            if [[ $changed == yes ]]; then
                log "etcd's unit, config or certificates changed: restarting etcd.service"
                systemctl restart --no-block etcd.service
                restarted=yes
            else
                log "etcd.service is $state with the current config"
            fi
            ;;
        *)
            log "starting etcd.service (was $state)"
            systemctl start --no-block etcd.service
            ;;
    esac
    if [[ $recorded != "$digest" ]]; then
        install -d -m 0755 "$kubeha_state_dir"
        printf '%s\n' "$digest" >"$kubeha_state_dir/etcd.digest"
    fi
    if [[ $restarted == yes && -n $deadline ]]; then
        local own
        own=$(etcd_setting "$config" advertise-client-urls)
        retry_until "$deadline" "this member to be healthy after its restart" \
            etcdctl --endpoints="$own" endpoint health >/dev/null ||
            fail "etcd did not come back healthy after its restart" "journalctl -u etcd -n 100" \
                "etcdctl --endpoints=$own endpoint health (with /etc/etcd/etcdctl.env)"
        log "this member is healthy again after its restart"
    fi
}

# etcd_others ENDPOINTS OWN-URLS: the comma-separated ENDPOINTS without this member's own client URLs.
etcd_others() {
    local endpoint
    local -a endpoints kept=()
    IFS=, read -ra endpoints <<<"$1"
    for endpoint in "${endpoints[@]}"; do
        [[ ,$2, == *",$endpoint,"* ]] || kept+=("$endpoint")
    done
    (
        IFS=,
        printf '%s' "${kept[*]}"
    )
}

# etcd_cluster_healthy ENDPOINTS: every member at the comma-separated ENDPOINTS answers a health check, and the member
# list has exactly that many members, all started (etcdctl's client settings from use_etcd_client).
etcd_cluster_healthy() {
    local members expected
    expected=$(tr , '\n' <<<"$1" | grep -c .)
    etcdctl --endpoints="$1" endpoint health || return 1
    members=$(etcdctl --endpoints="$1" member list) || return 1
    if grep -q ', unstarted, ' <<<"$members"; then
        echo "member(s) added but never started: $(grep ', unstarted, ' <<<"$members" | cut -d ' ' -f 4 | tr -d ,)" >&2
        return 1
    fi
    if [[ $(grep -c . <<<"$members") -ne $expected ]]; then
        printf 'the cluster has %s member(s), %s expected:\n%s\n' "$(grep -c . <<<"$members")" "$expected" "$members" >&2
        return 1
    fi
}

# etcd_member_line MEMBERS PEER-URL: the `etcdctl member list` line of the member with PEER-URL.
etcd_member_line() {
    awk -F ', ' -v peer="$2" '$4 == peer' <<<"$1"
}

# Files kubeadm init and join leave on a host, by phase (cmd/kubeadm/app/cmd/init.go and join.go): the
# kubeconfig phase writes admin.conf (init, control-plane join) and kubelet.conf (init), control-plane the
# static pod manifests, kubelet-start /var/lib/kubelet/config.yaml before it starts the kubelet, whose
# TLS bootstrap then writes kubelet.conf (join). Not bootstrap-kubelet.conf: kubelet-start removes it when
# it returns, failed or not (deferred os.Remove in cmd/kubeadm/app/cmd/phases/join/kubelet.go). Another
# run on a host with any of them would trip kubeadm's preflight (Port-10250 once the kubelet runs,
# FileAvailable-* for manifests and a join's kubeconfigs) or build on a half-done one; kubeadm reset -f
# removes them all.
readonly kubeadm_leftovers=(/etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf
    /etc/kubernetes/manifests/kube-apiserver.yaml /var/lib/kubelet/config.yaml)
# kubeadm reset also empties the certificates directory (its cleanup-node phase): without the PKI kubeha
# installed, kubeadm init would create a new cluster CA. Its remove-etcd-member phase is skipped: finding no etcd
# manifest (etcd is kubeha's own unit), kubeadm falls back to its default data directory /var/lib/etcd, which is
# this member's, and empties it (cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go; seen on the lab).
readonly kubeadm_start_over="to start this host over: cp -aT /etc/kubernetes/pki /root/kubeha-pki; kubeadm reset -f \
--skip-phases remove-etcd-member (it empties /etc/kubernetes/pki; without the skip it empties etcd's /var/lib/etcd \
too); cp -aT /root/kubeha-pki /etc/kubernetes/pki; then re-run this step"

# kubeadm_leftover: the first of kubeadm_leftovers on this host; fails when there is none.
kubeadm_leftover() {
    local file
    for file in "${kubeadm_leftovers[@]}"; do
        if [[ -e $file ]]; then
            printf '%s' "$file"
            return 0
        fi
    done
    return 1
}

# kubeadm_once DEADLINE KUBEADM-ARGS...: runs kubeadm (logged, time-bounded) unless it completed on this
# host before, and records that in /var/lib/kubeha/kubeadm-<command>.done (root's alone, nothing secret)
# once it exits 0: its files alone do not say so, they are written long before the last phase. Retries
# with back-off while a failed attempt left nothing behind: it changed nothing, so the cause is most
# likely the network (API, etcd or registry not reachable yet). A run that failed after writing is not
# retried, now or on a later run (kubeadm's preflight would refuse it): it fails with the reset advice.
kubeadm_once() {
    local deadline=$1 done_marker="$kubeha_state_dir/kubeadm-$2.done" delay=5 attempt=1 leftover=""
    shift
    if [[ -e $done_marker ]]; then
        if kubeadm_leftover >/dev/null; then
            log "kubeadm $1 completed on an earlier run ($done_marker)"
            return 0
        fi
        log "kubeadm $1 completed on an earlier run, but its files are gone (kubeadm reset?): running it again"
        rm -f "$done_marker"
    elif leftover=$(kubeadm_leftover); then
        fail "an earlier kubeadm $1 on this host did not complete: it left $leftover" \
            "the earlier run's output: $kubeha_log_dir/$step.log (root only)" \
            "journalctl -u kubelet -n 100; crictl ps -a (control-plane containers)" \
            "$kubeadm_start_over"
    fi
    while true; do
        log "kubeadm $1 (attempt $attempt)"
        if run_logged timeout --kill-after=10s "$(seconds_left "$deadline")" kubeadm "$@"; then
            install -d -m 0755 "$kubeha_state_dir"
            (umask 077 && printf 'kubeadm %s exited 0 on %s\n' "$1" "$(date -Is)" >"$done_marker")
            return 0
        fi
        if leftover=$(kubeadm_leftover) || ((SECONDS + delay > deadline)); then
            local -a hints=("the redacted kubeadm output above; full output: $kubeha_log_dir/$step.log (root only)"
                "journalctl -u kubelet -n 100; crictl ps -a (control-plane containers)")
            [[ -z $leftover ]] || hints+=("$kubeadm_start_over")
            fail "kubeadm $1 failed (attempt $attempt)${leftover:+ after writing $leftover}" "${hints[@]}"
        fi
        log "kubeadm $1 failed before changing anything; retrying in ${delay}s"
        sleep "$delay"
        attempt=$((attempt + 1))
        delay=$((delay * 2 > 30 ? 30 : delay * 2))
    done
}

# kubectl_as KUBECONFIG ARGS...: kubectl with one request bounded to 10 s.
kubectl_as() {
    kubectl --kubeconfig="$1" --request-timeout=10s "${@:2}"
}

# The cluster-admin kubeconfig kubeadm writes on every master: the steps that act on other nodes use it.
readonly admin_kubeconfig=/etc/kubernetes/admin.conf

# node_field NODE JSONPATH: one field of a Node object: empty when the node does not exist; fails when the API
# could not be asked (so callers never read a lost connection as "node gone").
node_field() {
    kubectl_as "$admin_kubeconfig" get node "$1" --ignore-not-found -o "jsonpath=$2"
}

# drain_node DEADLINE NODE: evicts every pod from the cordoned NODE until DEADLINE: DaemonSet pods stay,
# emptyDir data goes, unmanaged pods are deleted, PodDisruptionBudgets are respected (an eviction they refuse
# is retried until the deadline). Pods of a dead node never confirm their deletion: after a minute, the drain
# stops waiting for them.
drain_node() {
    kubectl --kubeconfig="$admin_kubeconfig" drain "$2" --ignore-daemonsets --delete-emptydir-data --force \
        --skip-wait-for-delete-timeout=60 --timeout="$(seconds_left "$1")s"
}

# fail_drain NODE MESSAGE: fails with MESSAGE and where to look when the drain of NODE is blocked.
fail_drain() {
    fail "$2" "kubectl get pods -A -o wide --field-selector spec.nodeName=$1 (the pods that stayed)" \
        "kubectl get pdb -A (a PodDisruptionBudget that allows no disruption blocks eviction)" \
        "to force it: kubectl drain $1 --ignore-daemonsets --delete-emptydir-data --force --disable-eviction; then pulumi up"
}

# version_at_least A B: version A (v1.36.3 or 1.36.3) is B or newer.
version_at_least() {
    [[ $(printf '%s\n%s\n' "${1#v}" "${2#v}" | sort -V | head -n 1) == "${2#v}" ]]
}

# minor_of VERSION: the minor number (36 of v1.36.3).
minor_of() {
    local version=${1#v}
    version=${version#*.}
    printf '%s' "${version%%.*}"
}

# node_registered NODE: the node's own credentials (kubelet.conf) see its Node object.
node_registered() {
    [[ -n $(kubectl_as /etc/kubernetes/kubelet.conf get node "$1" -o name) ]]
}

# local_apiserver_ready: this master's own kube-apiserver (not the proxy) answers /readyz.
local_apiserver_ready() {
    kubectl_as /etc/kubernetes/admin.conf --server=https://127.0.0.1:6443 --tls-server-name=kubernetes \
        get --raw=/readyz
}

# kubeadm_join DEADLINE CONFIG NODE ROLE: joins this host as ROLE (control-plane or worker) unless kubeadm
# join completed here before; succeeds once the node is registered.
kubeadm_join() {
    local deadline=$1 config=$2 node=$3 role=$4
    if [[ $role == control-plane ]]; then
        grep -q '^controlPlane:' "$config" || fail "$config has no controlPlane section: it joins a worker"
    else
        ! grep -q '^controlPlane:' "$config" || fail "$config has a controlPlane section: it joins a master"
    fi
    require_private "$config"
    if [[ ! -e $kubeha_state_dir/kubeadm-join.done ]] && grep -q "$join_token_removed" "$config"; then
        fail "$config lost its bootstrap token after an earlier join on this host, and that join no longer counts" \
            "pulumi up --replace <this host's kubeadm-config step> (urn: pulumi stack --show-urns | grep $node-kubeadm-config) installs it again"
    fi
    kubeadm_once "$deadline" join --config "$config"
    retry_until "$deadline" "node $node to be registered" node_registered "$node" >/dev/null ||
        fail "node $node is not registered although kubeadm join completed on this host" \
            "journalctl -u kubelet -n 100 (TLS bootstrap, registration errors)" \
            "kubectl get nodes, on a master" \
            "if the node was deleted: $kubeadm_start_over"
    if [[ $role == control-plane ]]; then
        retry_until "$deadline" "the local kube-apiserver" local_apiserver_ready >/dev/null ||
            fail "this master's kube-apiserver does not answer on 127.0.0.1:6443" \
                "crictl ps -a --name kube-apiserver; crictl logs <id>" \
                "journalctl -u kubelet -n 100"
    fi
    # The bootstrap token has done its work here: it leaves the host's disk (the cluster keeps it until its TTL; a
    # new one reaches this file only with a new kubeadm-config step, and this step removes it again).
    if grep -Eq '\b[a-z0-9]{6}\.[a-z0-9]{16}\b' "$config"; then
        sed -i -E "s/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/$join_token_removed/g" "$config"
        log "removed the bootstrap token from $config"
    fi
    log "$node is part of the cluster as a $role node"
}

# What stands in a join config for the bootstrap token once the join is done (kubeadm_join).
readonly join_token_removed=removed-after-join
