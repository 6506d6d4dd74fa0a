#!/usr/bin/env bash
# Reset of a machine the user already has (kubeha:cloud machines): the delete of its preparation step, run when the
# machine leaves kubeha:machines (after the first master drained and deleted its node) and on `pulumi destroy`.
# Undoes what the preparation and the steps after it installed: kubeadm's state (kubeadm reset), the program's units,
# files and Kubernetes packages, the pods' network leftovers; /etc/hosts as it was before the preparation. etcd's data
# stays unless KUBEHA_REMOVE_ETCD_DATA is true. Safe to run again: a machine without this cluster's mark
# (/var/lib/kubeha/cluster, removed last) has nothing of it left; one marked for another cluster is left alone.
#
# KUBEHA_CLUSTER           the cluster's name (<project>-<stack>)
# KUBEHA_UNITS             systemd units the program enabled, stopped and disabled first (space-separated)
# KUBEHA_PATHS             files and directories the program installed, removed (space-separated)
# KUBEHA_PACKAGES          packages the program installed from its own repositories, purged (space-separated)
# KUBEHA_ETCD_DATA         etcd's data directory (etcd members only)
# KUBEHA_REMOVE_ETCD_DATA  true: remove etcd's data too (kubeha:removeEtcdDataOnReset); otherwise it is kept
set -euo pipefail

: "${KUBEHA_CLUSTER:?the cluster name}"
: "${KUBEHA_UNITS:=}"
: "${KUBEHA_PATHS:=}"
: "${KUBEHA_PACKAGES:=}"
: "${KUBEHA_ETCD_DATA:=}"
: "${KUBEHA_REMOVE_ETCD_DATA:=false}"

readonly state_dir=/var/lib/kubeha
readonly marker=${state_dir}/cluster
# prepare-machine.sh keeps the machine's own /etc/hosts here before the preparation replaces it.
readonly hosts_before=${state_dir}/hosts.before

log() { echo "kubeha reset-machine: $(hostname): $*" >&2; }

if [[ ! -e ${marker} ]]; then
    log "nothing of kubeha here (no ${marker}): reset already, or never prepared"
    exit 0
fi
owner=$(cat "${marker}")
if [[ ${owner} != "${KUBEHA_CLUSTER}" ]]; then
    log "left alone: it belongs to the kubeha cluster '${owner}' (${marker}), not '${KUBEHA_CLUSTER}'"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive

read -ra units <<<"${KUBEHA_UNITS}"
read -ra paths <<<"${KUBEHA_PATHS}"
read -ra packages <<<"${KUBEHA_PACKAGES}"

# kubeadm's own cleanup first, while containerd still runs: it stops the kubelet, removes the pods' containers,
# unmounts their volumes and empties /var/lib/kubelet and /etc/kubernetes' generated files. Its remove-etcd-member
# phase is skipped: etcd is external to kubeadm here, and without an etcd manifest that phase falls back to kubeadm's
# default data directory, /var/lib/etcd, and empties it (kubeadm v1.36 phases/reset/removeetcdmember.go).
if command -v kubeadm >/dev/null; then
    timeout 300 kubeadm reset --force --cleanup-tmp-dir --skip-phases remove-etcd-member ||
        log "kubeadm reset failed; going on with the rest"
fi
for unit in "${units[@]}"; do
    if systemctl cat "${unit}" >/dev/null 2>&1; then
        systemctl disable --now "${unit}" >/dev/null 2>&1 || log "could not stop ${unit}"
    fi
done

# What the pods' network left: flannel's and the bridge plugin's links, the CNI state, kube-proxy's and the pod
# firewall's nftables tables. (iptables rules of flannel, if any, go at the next reboot.)
for link in flannel.1 cni0 kube-ipvs0; do
    ! ip link show "${link}" >/dev/null 2>&1 || ip link delete "${link}"
done
for table in "ip kube-proxy" "ip6 kube-proxy" "inet kubeha_pod_firewall"; do
    # shellcheck disable=SC2086 # family and name are two words
    ! nft list table ${table} >/dev/null 2>&1 || nft delete table ${table}
done
rm -rf /etc/cni/net.d /var/lib/cni /run/flannel

if ((${#packages[@]} > 0)); then
    installed=()
    for package in "${packages[@]}"; do
        if dpkg-query -W -f '${Status}' "${package}" 2>/dev/null | grep -q ' installed$'; then
            installed+=("${package}")
        fi
    done
    if ((${#installed[@]} > 0)); then
        apt-mark unhold "${installed[@]}" >/dev/null
        apt-get -q -y -o DPkg::Lock::Timeout=600 purge "${installed[@]}" >/dev/null
        log "purged ${installed[*]}"
    fi
fi
# Mounts the pods left (volumes, snapshots) once nothing runs, innermost first; then containerd's images and
# snapshots (its package is gone): the contents only, the directory itself may be a mounted disk.
findmnt -rn -o TARGET | { grep -E '^/(var/lib/kubelet|var/lib/containerd|run/containerd)/' || true; } | sort -r |
    while read -r target; do umount "${target}" || log "could not unmount ${target}"; done
if [[ -d /var/lib/containerd ]]; then
    find /var/lib/containerd -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
fi

for path in "${paths[@]}"; do
    [[ ${path} == /* && ${path} != / ]] || {
        log "not an absolute path: '${path}'"
        exit 1
    }
    rm -rf --one-file-system "${path}"
done
systemctl daemon-reload
# sshd offered only the host key the connections pin (its drop-in is gone now): back to its own configuration.
sshd -t && systemctl try-reload-or-restart ssh.service

if [[ -n ${KUBEHA_ETCD_DATA} && -e ${KUBEHA_ETCD_DATA} ]]; then
    if [[ ${KUBEHA_REMOVE_ETCD_DATA} == true ]]; then
        rm -rf --one-file-system "${KUBEHA_ETCD_DATA}"
        log "removed etcd's data (${KUBEHA_ETCD_DATA}): kubeha:removeEtcdDataOnReset is true"
    else
        log "kept etcd's data in ${KUBEHA_ETCD_DATA} (kubeha:removeEtcdDataOnReset is false): a new cluster on this" \
            "machine is refused until it is removed"
    fi
fi

[[ ! -e ${hosts_before} ]] || cp "${hosts_before}" /etc/hosts
# The mark goes last: a reset cut short is finished by the next one.
rm -rf --one-file-system "${state_dir}"
log "reset: what kubeha installed is gone"
