#!/usr/bin/env bash
# The lab's machine image: a Debian bookworm root filesystem standing in for the cloud image (systemd, cloud-init,
# sshd), plus every package the host boot (scripts/host-boot.sh) installs or runs that the lab's own mirrors do not
# serve, since the machines reach no Debian mirror. Built once per version of this file (lab/base-image.ts names the
# cache folder by its hash) and shared read-only by every machine as the lower layer of its overlay.
#
# Usage: base-image.sh DIR MIRROR  (DIR/rootfs and DIR/.complete appear once the image is whole; a concurrent
# caller waits on DIR.lock and then finds it complete.)
set -Eeuo pipefail

readonly dir=$1 mirror=$2 suite=bookworm
readonly rootfs=${dir}/rootfs partial=${dir}/rootfs.partial

# The cloud image's own packages (Ubuntu's runs systemd-resolved: the kubelet reads its upstream list), then what host-boot.sh and kubeadm's preflight call that the lab does not mirror:
# curl and gpg (apt keys, downloads), nginx with the stream module (the API proxy), nftables (the pod firewall),
# kmod, util-linux (lsblk, findmnt, blkid, nsenter, mount), e2fsprogs (mkfs.ext4), conntrack, socat, ebtables,
# ethtool, ipset and ipvsadm (kube-proxy's IPVS mode), tzdata (cloud-init's timezone), iputils-ping (lab checks).
readonly packages=(
    systemd systemd-sysv systemd-resolved dbus openssh-server cloud-init iproute2 ca-certificates sudo iptables procps
    curl gpg nginx libnginx-mod-stream nftables kmod util-linux e2fsprogs conntrack socat ebtables ethtool ipset
    ipvsadm tzdata iputils-ping
)

progress() { echo "base-image: $*" >&2; }

mkdir -p "$(dirname "${dir}")"
exec 9>"${dir}.lock"
flock 9
if [[ -e ${dir}/.complete ]]; then
    progress "cached in ${rootfs}"
    exit 0
fi
mkdir -p "${dir}"
rm -rf "${rootfs}" "${partial}"

progress "debootstrap --variant=minbase ${suite} from ${mirror}"
debootstrap --variant=minbase "${suite}" "${partial}" "${mirror}" >"${dir}/debootstrap.log" 2>&1 || {
    tail -n 30 "${dir}/debootstrap.log" >&2
    exit 1
}

# Everything else through apt inside the new root (a private mount namespace: /proc and /dev/pts vanish with it).
# apt resolves the configuration order itself; debootstrap's --include once stopped half-way (python3-cffi-backend
# unconfigured), so a failed install is retried after `apt-get -f install` and `dpkg --configure -a`.
printf '#!/bin/sh\n# No service starts while the image is built.\nexit 101\n' >"${partial}/usr/sbin/policy-rc.d"
chmod 0755 "${partial}/usr/sbin/policy-rc.d"
progress "installing ${#packages[@]} packages"
# shellcheck disable=SC2016 # the inner script expands its own variables
unshare --mount --propagation private -- bash -Eeuo pipefail -c '
    root=$1; shift
    mount -t proc proc "${root}/proc"
    in_root() { chroot "${root}" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
    apt_get() { in_root apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }
    apt_get update
    for attempt in 1 2 3; do
        apt_get install --no-install-recommends "$@" && break
        echo "base-image: install attempt ${attempt} failed; repairing (dpkg --configure -a, apt-get -f install)" >&2
        in_root dpkg --configure -a || true
        apt_get -f install || true
        [[ ${attempt} -lt 3 ]] || exit 1
    done
    in_root dpkg --configure -a
    apt_get clean
' base-image "${partial}" "${packages[@]}" >>"${dir}/debootstrap.log" 2>&1 || {
    tail -n 30 "${dir}/debootstrap.log" >&2
    exit 1
}
rm -f "${partial}/usr/sbin/policy-rc.d"

progress "configuring the image"
# Each machine gets its identity at first boot: a machine id from systemd, SSH host keys from cloud-init (the
# plan's own key through user-data), its host name from the seed.
: >"${partial}/etc/machine-id"
ln -sf /etc/machine-id "${partial}/var/lib/dbus/machine-id"
rm -f "${partial}"/etc/ssh/ssh_host_*_key "${partial}"/etc/ssh/ssh_host_*_key.pub "${partial}/etc/hostname"
# debootstrap copied this machine's resolver settings; each machine gets the lab's DNS server instead.
# (systemd-resolved made it a link to its stub file, which exists only while it runs.)
rm -f "${partial}/etc/resolv.conf"
printf '# Written per machine by kubeha lab (lab/machines.ts).\n' >"${partial}/etc/resolv.conf"
# The machines reach only the lab's mirrors (user-data and the host boot add those sources).
: >"${partial}/etc/apt/sources.list"
rm -f "${partial}"/etc/apt/sources.list.d/*
rm -rf "${partial}"/var/lib/apt/lists/*
mkdir -p "${partial}/var/lib/apt/lists/partial"
cat >"${partial}/etc/cloud/cloud.cfg.d/05-kubeha-lab.cfg" <<'EOF'
# kubeha lab: the NoCloud seed the lab writes into each machine, nothing else; no locale generation (minbase has
# no locales and update-locale fails).
datasource_list: [NoCloud, None]
locale: false
EOF
# cloud-init renders the seed's network-config for systemd-networkd.
chroot "${partial}" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
# Debian's nginx package enables its stock web server; a cloud image has no nginx until the host boot installs it
# (and then disables the stock server): an idle machine runs none.
chroot "${partial}" systemctl disable nginx.service >/dev/null 2>&1
# Every machine's processes run as root of this host, and the kernel allows root 128 inotify instances in all
# (fs.inotify.max_user_instances, a host setting the lab must not change): the console getty and logind, which a
# cluster host does not need, would take two of them per machine.
chroot "${partial}" systemctl mask console-getty.service systemd-logind.service >/dev/null 2>&1
du -sh "${partial}" | awk '{ print "base-image: " $1 " in the image" }' >&2

mv "${partial}" "${rootfs}"
touch "${dir}/.complete"
progress "built ${rootfs}"
