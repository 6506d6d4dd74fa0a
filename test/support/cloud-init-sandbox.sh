#!/usr/bin/env bash
# Boots a throwaway "host" with the real cloud-init, for the wait-cloud-init step's tests. Runs inside
# `unshare --mount --uts --net` (test/system/wait-cloud-init.test.ts): overlays on /etc, /var and /run keep
# every change in ROOT, and the new network namespace has nothing cloud-init could configure.
# The user-data runs the real scripts/host-boot.sh, with stand-ins (test/support/boot-stubs) for the
# system tools its stages call. Then it runs the wait step as the bootstrap would, over the boot.
#
# Usage: cloud-init-sandbox.sh ROOT SCENARIO WAIT-TIMEOUT, SCENARIO one of
#   booted  - all four cloud-init stages, then the wait step (twice)
#   failed  - like booted, but the boot's sshd stage fails
#   running - only the init stages: the wait step runs while cloud-init is still "running"
#   waits   - the wait step starts after the init stages and is still waiting when the rest runs
set -euo pipefail
root=$1 scenario=$2 wait_timeout=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/../../scripts" && pwd)

for dir in etc var run; do
    mkdir -p "$root/$dir/upper" "$root/$dir/work"
    mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$root/$dir/upper,workdir=$root/$dir/work" "/$dir"
done
touch /etc/fstab
mkdir -p "$root/state"
[[ $scenario != failed ]] || touch "$root/state/sshd-fails"

# Only the modules the boot needs (the image's list would resize disks and create users).
cat >/etc/cloud/cloud.cfg <<'CFG'
datasource_list: [NoCloud]
cloud_init_modules: [bootcmd]
cloud_config_modules: [runcmd]
cloud_final_modules: [scripts-user, final-message]
system_info:
  distro: debian
CFG
mkdir -p /var/lib/cloud/seed/nocloud
printf 'instance-id: kubeha-test\nlocal-hostname: worker-1\n' >/var/lib/cloud/seed/nocloud/meta-data
cat >/var/lib/cloud/seed/nocloud/user-data <<DATA
#cloud-config
runcmd:
- [env, "PATH=$here/boot-stubs:/usr/sbin:/usr/bin:/sbin:/bin", "STUB_STATE=$root/state", "KUBEHA_STAGES=kernel swap sshd", "KUBEHA_DATA_DISKS=", "$scripts/host-boot.sh"]
DATA

stage() {
    cloud-init "$@" >>"$root/cloud-init-stages.log" 2>&1 || true
}
wait_step() {
    local status=0
    KUBEHA_TIMEOUT=$wait_timeout "$scripts/wait-cloud-init.sh" || status=$?
    echo "wait-status=$status"
}

stage init --local
stage init
case $scenario in
    booted | failed)
        stage modules --mode config
        stage modules --mode final
        wait_step
        wait_step
        ;;
    running) wait_step ;;
    waits)
        wait_step >"$root/wait.out" 2>&1 &
        waiter=$!
        sleep 2
        kill -0 "$waiter" && echo "waiting-while-running=yes"
        stage modules --mode config
        stage modules --mode final
        wait "$waiter"
        cat "$root/wait.out"
        ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
esac
