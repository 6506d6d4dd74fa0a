#!/usr/bin/env bash
# Preparation of a machine the user already has (kubeha:cloud machines), the first step on it, sent on stdin to
# `bash -s` over SSH: what cloud-init does at first boot on the clouds. This part refuses a machine the program must
# not touch; scripts/install-files.sh, which follows it on the same stdin, then writes the files cloud-init's
# write_files writes on the clouds (render/cloud-init.ts clusterHostBoot), and the step's command then runs
# scripts/host-boot.sh with the same KUBEHA_* parameters. Safe to run again: every part checks before it changes.
#
# KUBEHA_CLUSTER    the cluster's name (<project>-<stack>): marks the machine as this cluster's
# KUBEHA_ETCD_DISK  set on etcd members: the mount point their etcd data disk must already be mounted at
# KUBEHA_TIMEZONE   kubeha:timezone, which cloud-init sets on the clouds
set -euo pipefail

: "${KUBEHA_CLUSTER:?the cluster name}"
: "${KUBEHA_ETCD_DISK:=}"
: "${KUBEHA_TIMEZONE:=}"

readonly marker=/var/lib/kubeha/cluster hosts_before=/var/lib/kubeha/hosts.before

refuse() {
    echo "kubeha prepare-machine: REFUSED on $(hostname): $*" >&2
    exit 1
}

# Ubuntu 24.04, the clouds' image, and Debian 12, which the lab's machines run with the same rendered files (the
# container runtime comes from the Ubuntu 24.04 suite of the containerd repository on both: docs/machines.md).
os_id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}") || os_id=""
os_version=$(. /etc/os-release 2>/dev/null && echo "${VERSION_ID:-}") || os_version=""
case "${os_id} ${os_version}" in
    "ubuntu 24.04" | "debian 12") ;;
    *)
        refuse "the operating system is '${os_id:-unknown} ${os_version:-unknown}' (/etc/os-release); kubeha prepares" \
            "Ubuntu 24.04 and Debian 12 only"
        ;;
esac
# The kubelet reads the upstream resolvers from systemd-resolved (render/kubeadm.ts resolvConf), as on Ubuntu.
[[ -e /run/systemd/resolve/resolv.conf ]] ||
    refuse "systemd-resolved is not running (/run/systemd/resolve/resolv.conf is missing): the kubelet reads the" \
        "upstream DNS servers from it; install and enable systemd-resolved (Debian: apt-get install systemd-resolved)"
[[ $(uname -m) == x86_64 ]] || refuse "the machine is $(uname -m); kubeha installs amd64 binaries only"

# Another cluster's machine: prepared for another kubeha stack, or running kubeadm or etcd state of its own.
if [[ -e ${marker} ]]; then
    owner=$(cat "${marker}")
    [[ ${owner} == "${KUBEHA_CLUSTER}" ]] ||
        refuse "it belongs to the kubeha cluster '${owner}' (${marker}), not '${KUBEHA_CLUSTER}'"
else
    for path in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/manifests/kube-apiserver.yaml \
        /var/lib/etcd/member /var/lib/etcd/data/member; do
        [[ ! -e ${path} ]] ||
            refuse "it already runs a cluster that is not this one (${path} exists); reset it (kubeadm reset, etcd data removed) or choose another machine"
    done
fi

# Machines bring their own disks: an etcd member's data disk must be mounted where etcd keeps its data.
if [[ -n ${KUBEHA_ETCD_DISK} ]] && ! findmnt -rn --mountpoint "${KUBEHA_ETCD_DISK}" >/dev/null; then
    refuse "it runs an etcd member, and nothing is mounted at ${KUBEHA_ETCD_DISK}: mount a disk of its own there" \
        "(docs/machines.md, \"What you provide\")"
fi

if [[ -n ${KUBEHA_TIMEZONE} && $(timedatectl show -p Timezone --value 2>/dev/null || true) != "${KUBEHA_TIMEZONE}" ]]; then
    timedatectl set-timezone "${KUBEHA_TIMEZONE}"
fi

install -d -m 0755 "$(dirname "${marker}")"
# The machine's own /etc/hosts, which the files below replace: scripts/reset-machine.sh puts it back.
[[ -e ${hosts_before} ]] || cp -p /etc/hosts "${hosts_before}"
printf '%s\n' "${KUBEHA_CLUSTER}" >"${marker}"
echo "kubeha prepare-machine: $(hostname) is ${os_id} ${os_version}, this cluster's; installing the boot files" >&2
