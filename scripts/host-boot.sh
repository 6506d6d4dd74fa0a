#!/usr/bin/env bash
# First-boot preparation of a cluster host (master, worker or dedicated etcd host), run by cloud-init's
# runcmd. Everything it needs arrives as KUBEHA_* environment variables set by render/cloud-init.ts; the
# files it relies on (sysctl, modules, apt sources and pins, containerd config, unit drop-ins) were written
# by cloud-init's write_files before it runs. Safe to run again: every stage checks before it changes.
#
# Progress: "kubeha: stage N/M <name>" on the console, in /var/log/cloud-init-output.log and in the
# journal (journalctl -t kubeha); the current stage is in /var/lib/kubeha/stage, and every finished one is a line of
# /var/lib/kubeha/stages.done (steps that need only an early stage wait for it there, not for the whole boot). At the
# end /var/lib/kubeha/boot.done exists; on failure /var/lib/kubeha/boot.failed names the stage.
set -Eeuo pipefail

: "${KUBEHA_STAGES:?space-separated stages to run}"
: "${KUBEHA_DATA_DISKS:=}"          # purpose:sizeGiB:mountpoint ...
: "${KUBEHA_APT_KEYS:=}"            # "keyring-path fingerprint url", one per line
: "${KUBEHA_PACKAGES:=}"            # installed (versions come from /etc/apt/preferences.d)
: "${KUBEHA_HELD_PACKAGES:=}"       # held after installation
: "${KUBEHA_KUBERNETES_VERSION:=}"  # exact, like v1.36.3 (never a label kubeadm resolves online)
: "${KUBEHA_IMAGE_REPOSITORY:=}"
: "${KUBEHA_PREPULL_IMAGES:=}"      # image names (kube-proxy, pause, ...) out of `kubeadm config images list`
: "${KUBEHA_SANDBOX_IMAGE:=}"       # containerd's pinned sandbox image, pulled with the others
: "${KUBEHA_API_PROXY_UNIT:=}"      # systemd unit of the local API proxy
: "${KUBEHA_POD_FIREWALL_UNIT:=}"   # systemd unit that keeps pods from the metadata service
: "${KUBEHA_ETCD_RELEASE:=}"        # URL of etcd-v<version>-linux-amd64.tar.gz; SHA256SUMS lies beside it
: "${KUBEHA_ETCD_VERSION:=}"        # what `etcd --version` reports once installed
: "${KUBEHA_ETCD_BIN_DIR:=}"        # where etcd, etcdctl and etcdutl go
: "${KUBEHA_ETCD_SHA256:=}"         # the tarball's pinned digest; empty: the mirror's SHA256SUMS is trusted

readonly state_dir=/var/lib/kubeha
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
current_stage=setup

# Progress goes to stderr: cloud-init copies it to its log and the console, and stdout stays free for values.
log() {
    echo "kubeha: $*" >&2
    logger -t kubeha -- "$*" || true
}

on_error() {
    local status=$1
    log "FAILED in stage '${current_stage}' (exit ${status}); see /var/log/cloud-init-output.log and journalctl -t kubeha"
    printf '%s\n' "${current_stage}" >"${state_dir}/boot.failed"
    exit "${status}"
}
trap 'on_error $?' ERR

# retry ATTEMPTS COMMAND...: runs COMMAND until it succeeds, waiting 5, 10, 20, ... (at most 60) seconds between tries.
retry() {
    local attempts=$1 delay=5 try=1
    shift
    until "$@"; do
        if ((try >= attempts)); then
            log "giving up after ${attempts} attempts: $*"
            return 1
        fi
        log "attempt ${try}/${attempts} failed: $*; retrying in ${delay}s"
        sleep "${delay}"
        try=$((try + 1))
        delay=$((delay * 2 > 60 ? 60 : delay * 2))
    done
}

# download URL FILE: FILE appears only once complete. A host's first outbound requests wait for the NAT gateway,
# which comes up while the hosts boot (1-3 min): up to 14 tries over ~12 min. A stalled transfer (under 1 KiB/s
# for a minute) counts as a failed try. https only, redirects included: a mirror, or whoever answers for it,
# cannot send the host to plain http.
download() {
    retry 14 curl -fsSL --proto =https --proto-redir =https --connect-timeout 10 --speed-limit 1024 \
        --speed-time 60 -o "$2.download" "$1"
    mv "$2.download" "$2"
}

# install_apt_key URL KEYRING FINGERPRINT: installs the signing key at URL as KEYRING only if the file holds exactly
# one key and it has FINGERPRINT; what lands is gpg's export of that key (with the subkeys it binds), not the bytes
# the mirror sent. Anything else is refused, and a KEYRING already there stays as it was.
install_apt_key() {
    local url=$1 keyring=$2 fingerprint=$3 home found
    command -v gpg >/dev/null || { log "gpg is missing: it checks the apt signing keys"; return 1; }
    download "${url}" "${keyring}.fetched"
    home=$(mktemp -d)
    found=$(GNUPGHOME=${home} gpg --batch --quiet --no-autostart --import "${keyring}.fetched" 2>/dev/null &&
        GNUPGHOME=${home} gpg --batch --no-autostart --with-colons --list-keys 2>/dev/null |
        awk -F: '$1 == "pub" { primary = 1; next } primary && $1 == "fpr" { print $10; primary = 0 }') || found=""
    rm -f "${keyring}.fetched"
    if [[ ${found} != "${fingerprint}" ]]; then
        rm -rf "${home}"
        found=${found//$'\n'/ }
        log "refusing the signing key from ${url}: expected ${fingerprint}, found ${found:-no key}"
        return 1
    fi
    GNUPGHOME=${home} gpg --batch --no-autostart --armor --export "${fingerprint}" >"${keyring}.download"
    rm -rf "${home}"
    chmod 0644 "${keyring}.download"
    mv "${keyring}.download" "${keyring}"
}

apt_get() {
    retry 5 apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# The one unused whole disk of exactly SIZE GiB: no partitions, not mounted, not holding a swap or LVM
# member. Names differ by cloud (Aliyun virtio /dev/vdb, AWS Nitro /dev/nvme1n1 in no fixed order), sizes
# do not, and the config keeps the data disks of one host at different sizes.
disk_of_size() {
    local bytes=$(($1 * 1073741824)) name size type
    while read -r name size type; do
        [[ ${type} == disk && ${size} == "${bytes}" ]] || continue
        # Children (partitions) or a mount point mean the disk is in use (the system disk, for one).
        [[ $(lsblk -nro NAME "${name}" | wc -l) -eq 1 ]] || continue
        [[ -z $(lsblk -ndro MOUNTPOINT "${name}") ]] || continue
        echo "${name}"
    done < <(lsblk -dnbpo NAME,SIZE,TYPE)
}

mount_data_disk() {
    local purpose=$1 size_gb=$2 mountpoint=$3 devices device fstype uuid
    if findmnt -rn --mountpoint "${mountpoint}" >/dev/null; then
        log "${purpose} disk already mounted at ${mountpoint}"
        return 0
    fi
    if ! grep -qE "^[^#]*[[:space:]]${mountpoint}[[:space:]]" /etc/fstab; then
        for _ in $(seq 60); do
            devices=$(disk_of_size "${size_gb}")
            [[ -z ${devices} ]] || break
            udevadm settle || true
            sleep 2
        done
        if [[ -z ${devices} ]]; then
            log "no unused ${size_gb} GiB disk for ${purpose}; check that the data disk is attached (lsblk)"
            return 1
        fi
        if [[ $(wc -l <<<"${devices}") -ne 1 ]]; then
            log "several unused ${size_gb} GiB disks for ${purpose} (${devices//$'\n'/ }); cannot tell them apart"
            return 1
        fi
        device=${devices}
        # Format only a disk with no filesystem or partition table on it: blkid -p exits 2 when it finds none.
        local probe=0
        blkid -p "${device}" >/dev/null 2>&1 || probe=$?
        if ((probe == 2)); then
            log "formatting empty ${device} (${size_gb} GiB) for ${purpose}"
            mkfs.ext4 -q -L "kubeha-${purpose}" "${device}"
        elif ((probe != 0)); then
            log "blkid could not probe ${device} (exit ${probe})"
            return 1
        else
            log "${device} already holds data; keeping it"
        fi
        fstype=$(blkid -p -s TYPE -o value "${device}")
        uuid=$(blkid -p -s UUID -o value "${device}")
        # nofail keeps the host reachable over SSH if the disk goes missing; the services that use the
        # mount point require it (RequiresMountsFor), so they fail loudly instead of filling the system disk.
        printf 'UUID=%s %s %s defaults,nofail 0 2\n' "${uuid}" "${mountpoint}" "${fstype}" >>/etc/fstab
        systemctl daemon-reload
    fi
    mkdir -p "${mountpoint}"
    mount "${mountpoint}"
    log "${purpose} disk mounted at ${mountpoint}"
}

stage_disks() {
    local item purpose size_gb mountpoint
    for item in ${KUBEHA_DATA_DISKS}; do
        IFS=: read -r purpose size_gb mountpoint <<<"${item}"
        mount_data_disk "${purpose}" "${size_gb}" "${mountpoint}"
    done
}

stage_kernel() {
    # Modules first: the net.bridge.* keys exist only once br_netfilter is loaded.
    systemctl restart systemd-modules-load.service
    sysctl --system >/dev/null
}

stage_swap() {
    swapoff -a
    sed -ri '/^[^#].*[[:space:]]swap[[:space:]]/s/^/#/' /etc/fstab
}

stage_sshd() {
    # The drop-in (AcceptEnv KUBEHA_*) is read per connection under socket activation; reload a running daemon.
    # Before the first connection ssh.service has not run, and sshd -t wants its privilege-separation directory.
    install -d -m 0755 /run/sshd
    sshd -t
    systemctl try-reload-or-restart ssh.service
}

# etcd_installed: the etcd in KUBEHA_ETCD_BIN_DIR reports exactly KUBEHA_ETCD_VERSION (3.6.1 is not 3.6.16).
etcd_installed() {
    local reported
    reported=$("${KUBEHA_ETCD_BIN_DIR}/etcd" --version 2>/dev/null) || return 1
    [[ ${reported}$'\n' == "etcd Version: ${KUBEHA_ETCD_VERSION}"$'\n'* ]]
}

# etcd, etcdctl and etcdutl from the official release tarball (Ubuntu's etcd package is 3.4, out of support).
# Without a pinned digest the tarball is checked against the SHA256SUMS the same mirror serves: that catches a
# truncated or corrupted download, not a compromised mirror, which would serve a matching SHA256SUMS.
stage_etcd() {
    local tarball=${KUBEHA_ETCD_RELEASE##*/} work expected
    if etcd_installed; then
        log "etcd ${KUBEHA_ETCD_VERSION} is installed already"
        return 0
    fi
    work=$(mktemp -d)
    download "${KUBEHA_ETCD_RELEASE}" "${work}/${tarball}"
    expected=${KUBEHA_ETCD_SHA256}
    if [[ -z ${expected} ]]; then
        download "${KUBEHA_ETCD_RELEASE%/*}/SHA256SUMS" "${work}/SHA256SUMS"
        expected=$(awk -v name="${tarball}" '$2 == name { print $1 }' "${work}/SHA256SUMS")
    fi
    if ! sha256sum --check --strict --quiet <<<"${expected:-none}  ${work}/${tarball}"; then
        log "${tarball} does not have SHA-256 ${expected:-(none listed in SHA256SUMS)}; kept in ${work}"
        return 1
    fi
    tar -xzf "${work}/${tarball}" -C "${work}" --strip-components=1 --no-same-owner \
        "${tarball%.tar.gz}"/{etcd,etcdctl,etcdutl}
    install -m 0755 -t "${KUBEHA_ETCD_BIN_DIR}" "${work}"/{etcd,etcdctl,etcdutl}
    rm -rf "${work}"
    etcd_installed || { log "the etcd from ${tarball} does not report ${KUBEHA_ETCD_VERSION}"; return 1; }
}

stage_repositories() {
    local item keyring fingerprint url
    local -a items
    install -d -m 0755 /etc/apt/keyrings
    # One "keyring fingerprint url" line per key, taken whole: a value is never split further or expanded as a glob.
    mapfile -t items <<<"${KUBEHA_APT_KEYS}"
    for item in "${items[@]}"; do
        [[ -n ${item} ]] || continue
        read -r keyring fingerprint url <<<"${item}"
        install_apt_key "${url}" "${keyring}" "${fingerprint}"
    done
    apt_get update
}

stage_packages() {
    local -a packages held
    read -ra packages <<<"${KUBEHA_PACKAGES}"
    read -ra held <<<"${KUBEHA_HELD_PACKAGES}"
    ((${#packages[@]} == 0)) || apt_get install -y --no-install-recommends "${packages[@]}"
    ((${#held[@]} == 0)) || apt-mark hold "${held[@]}" >/dev/null
    systemctl daemon-reload
}

# Before containerd and the kubelet run anything: pods never get a moment to reach the metadata service.
stage_pod_firewall() {
    systemctl daemon-reload
    systemctl enable "${KUBEHA_POD_FIREWALL_UNIT}"
    systemctl restart "${KUBEHA_POD_FIREWALL_UNIT}"
}

stage_containerd() {
    systemctl enable containerd.service
    # The package may have started containerd with its own default config before ours was in place.
    systemctl restart containerd.service
    retry 10 crictl info >/dev/null
}

stage_api_proxy() {
    # Debian's nginx package starts its stock web server on port 80; the proxy is a unit of its own.
    if [[ ${KUBEHA_API_PROXY_UNIT} != nginx.service ]]; then
        systemctl disable --now nginx.service
    fi
    systemctl enable "${KUBEHA_API_PROXY_UNIT}"
    systemctl restart "${KUBEHA_API_PROXY_UNIT}"
    systemctl is-active --quiet "${KUBEHA_API_PROXY_UNIT}"
}

stage_images() {
    local image name expected_sandbox="" listed
    local -a images
    listed=$(retry 3 kubeadm config images list --kubernetes-version "${KUBEHA_KUBERNETES_VERSION}" \
        --image-repository "${KUBEHA_IMAGE_REPOSITORY}")
    mapfile -t images <<<"${listed}"
    for image in "${images[@]}"; do
        [[ -n ${image} ]] || continue
        name=${image##*/}
        name=${name%%:*}
        [[ ${name} != pause ]] || expected_sandbox=${image}
        if [[ " ${KUBEHA_PREPULL_IMAGES} " == *" ${name} "* ]]; then
            retry 5 crictl pull "${image}" >/dev/null
            log "pulled ${image}"
        fi
    done
    if [[ -n ${KUBEHA_SANDBOX_IMAGE} ]]; then
        retry 5 crictl pull "${KUBEHA_SANDBOX_IMAGE}" >/dev/null
        if [[ ${expected_sandbox} != "${KUBEHA_SANDBOX_IMAGE}" ]]; then
            log "note: kubeadm names ${expected_sandbox} as sandbox image, containerd pins ${KUBEHA_SANDBOX_IMAGE}"
        fi
    fi
}

main() {
    local -a stages
    local index=0 name
    install -d -m 0755 "${state_dir}"
    rm -f "${state_dir}/boot.done" "${state_dir}/boot.failed" "${state_dir}/stages.done"
    read -ra stages <<<"${KUBEHA_STAGES}"
    for name in "${stages[@]}"; do
        index=$((index + 1))
        current_stage=${name}
        printf '%s\n' "${name}" >"${state_dir}/stage"
        log "stage ${index}/${#stages[@]} ${name}"
        "stage_${name//-/_}"
        printf '%s\n' "${name}" >>"${state_dir}/stages.done"
    done
    current_stage="done"
    printf '%s\n' "done" >"${state_dir}/stage"
    touch "${state_dir}/boot.done"
    log "boot complete (${#stages[@]} stages)"
}

main "$@"
