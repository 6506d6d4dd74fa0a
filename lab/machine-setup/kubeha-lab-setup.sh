#!/bin/bash
# kubeha lab: what a machine needs so containerd and a kubelet run inside systemd-nspawn on the lab's host without
# touching the host's kernel settings (lab/forced-differences.ts lists each with its reason). Installed by
# lab/machines.ts before the first boot; run by kubeha-lab-setup.service at every boot, after cloud-init wrote its
# files (write_files) and before the host boot (runcmd), containerd and the kubelet. Safe to run again.
set -Eeuo pipefail

log() { echo "kubeha-lab-setup: $*" >&2; }

# The kubelet's OOM watcher reads the kernel log; nspawn's /dev has no kmsg.
[[ -e /dev/kmsg ]] || { mknod -m 0600 /dev/kmsg c 1 11 && log "created /dev/kmsg"; }

# nspawn mounts the cgroup v1 controllers read-only; the kubelet and runc create cgroups in them. A bind remount
# (a plain remount fails with "busy") makes the machine's own subtree writable, not the host's hierarchy.
while read -r target options; do
    [[ ${options} == ro,* || ${options} == *,ro,* || ${options} == ro ]] || continue
    mount -o remount,bind,rw "${target}"
    log "cgroup ${target} writable"
done < <(findmnt -rn -t cgroup -o TARGET,OPTIONS | grep '^/sys/fs/cgroup/')

# /proc/sys outside net.* is the host's kernel (read-only in the machine). The kubelet writes six kernel settings
# at start and the host boot applies /etc/sysctl.d (sysctl --system): each such key gets a small file of its own
# bound over it, holding the host's value at first, so those writes stay in the machine. A plain machine gets the
# host boot's sysctl file only later, over SSH: lab/plain-machines.ts lists its keys in /etc/kubeha-lab/sysctl-keys.conf.
keys=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes)
mapfile -t -O "${#keys[@]}" keys < <(
    cat /etc/sysctl.conf /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf \
        /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/kubeha-lab/sysctl-keys.conf 2>/dev/null |
        sed -n 's/^[[:space:]]*-\{0,1\}\([a-z][a-z0-9_.-]*\)[[:space:]]*=.*/\1/p' | grep -v '^net\.' | sort -u
)
for key in "${keys[@]}"; do
    proc=/proc/sys/${key//.//}
    [[ -f ${proc} ]] || continue
    ! findmnt -rn --mountpoint "${proc}" >/dev/null || continue
    file=/run/kubeha-lab/sysctl/${key}
    mkdir -p "${file%/*}"
    cat "${proc}" >"${file}"
    mount --bind "${file}" "${proc}"
done
log "kernel settings written in the machine stay in it (${#keys[@]} keys)"

# /proc/swaps lists the host's swap areas: the host boot's `swapoff -a` would switch them off for the whole host,
# and the kubelet would refuse to start over them. The machine sees an empty list.
if ! findmnt -rn --mountpoint /proc/swaps >/dev/null; then
    mkdir -p /run/kubeha-lab
    printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >/run/kubeha-lab/swaps
    mount --bind /run/kubeha-lab/swaps /proc/swaps
    log "the host's swap areas are hidden from the machine"
fi
