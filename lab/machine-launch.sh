#!/usr/bin/env bash
# Boots one lab machine (lab/machines.ts starts it detached, its output going to the machine's log). The process
# keeps its pid from here to systemd-nspawn (exec all the way), so the pid lab/machines.ts records is nspawn's.
#
# Usage: machine-launch.sh CGROUP NETNS LOWER MACHINE_DIR NAME BRIDGE [--kubeha-disk=IMAGE:MOUNTPOINT ...]
#   CGROUP       path below each cgroup hierarchy (kubeha-lab/<lab>/<host>): this host's PID 1 is not systemd, so
#                nspawn keeps (--keep-unit) a cgroup made for it in every hierarchy
#   NETNS        the lab router's namespace file: the machine's veth lands on BRIDGE there, never on this host
#   LOWER        the base image's rootfs; MACHINE_DIR holds upper/, work/ and root/ (the overlay's mount point)
#   IMAGE        a data disk (an ext4 image): loop-mounted in the machine's private mount namespace (the loop device
#                detaches when that namespace ends) and bound at MOUNTPOINT with its device node, so findmnt there
#                reads its label as on a cloud disk
set -Eeuo pipefail

if [[ ${1-} != --inner ]]; then
    cgroup=$1 netns=$2
    for hierarchy in /sys/fs/cgroup/*/; do
        [[ -e ${hierarchy}cgroup.procs ]] || continue
        dir=${hierarchy%/}
        for part in ${cgroup//\// }; do
            dir=${dir}/${part}
            # -p: machines of one lab start side by side and share the upper levels.
            mkdir -p "${dir}"
            # A v1 cpuset cgroup takes no process until it has cpus and memory nodes (its parent's).
            if [[ -e ${dir}/cpuset.cpus && -z $(<"${dir}/cpuset.cpus") ]]; then
                cat "${dir%/*}/cpuset.cpus" >"${dir}/cpuset.cpus"
                cat "${dir%/*}/cpuset.mems" >"${dir}/cpuset.mems"
            fi
        done
        echo $$ >"${dir}/cgroup.procs"
    done
    # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup hierarchies from nspawn. The overlay lives
    # in a private mount namespace, so it disappears with nspawn whatever way nspawn ends.
    exec nsenter --net="${netns}" -- unshare --mount --propagation private -- bash "$0" --inner "${@:3}"
fi

shift
lower=$1 machine_dir=$2 name=$3 bridge=$4
shift 4
root=${machine_dir}/root
mount -t overlay overlay -o "lowerdir=${lower},upperdir=${machine_dir}/upper,workdir=${machine_dir}/work" "${root}"
# The lab CA (lab/machines.ts put it in the upper dir) joins the trusted set, as the cloud image would ship it.
if compgen -G "${root}/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    chroot "${root}" update-ca-certificates >/dev/null
fi
nspawn_options=()
for disk in "$@"; do
    image=${disk#--kubeha-disk=}
    mountpoint=${image#*:}
    image=${image%%:*}
    mounted=${machine_dir}/disks/${image##*/}
    mkdir -p "${mounted}"
    mount -o loop "${image}" "${mounted}"
    nspawn_options+=("--bind=${mounted}:${mountpoint}" "--bind=$(findmnt -rn -o SOURCE --mountpoint "${mounted}")")
done
echo "machine-launch: ${name} booting from ${root}" >&2
# --capability=all less CAP_SYS_MODULE: the kubelet and containerd need the rest; no machine loads a kernel module
# into this host (systemd-modules-load then skips itself, as in any container).
exec systemd-nspawn --boot -D "${root}" -M "${name}" --register=no --keep-unit --network-bridge="${bridge}" \
    --capability=all --drop-capability=CAP_SYS_MODULE --system-call-filter="add_key keyctl bpf" \
    --resolv-conf=off --timezone=off --link-journal=no "${nspawn_options[@]}"
