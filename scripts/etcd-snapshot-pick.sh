#!/usr/bin/env bash
# Run on your own machine (README, Backups and restore), with your own credentials for the bucket (the members may
# only write): picks the snapshot to restore and downloads it. Lists the cluster's prefix with the store's upload
# times, keeps what etcd-backup.sh writes (etcd-snapshot-select.py: the uploader's names, no time in the future or far
# from the upload, a checksum object beside it), and, newest first, downloads each until one's content matches its
# recorded sha256; every object it passes over is named with the reason. Prints the file and its sha256 (the
# KUBEHA_SNAPSHOT_SHA256 of etcd-restore.sh) on stdout; fails when no snapshot verifies.
# Credentials: rclone's env_auth, as the AWS CLI reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, or AWS_PROFILE); for OSS, an AccessKey pair in the same two variables.
# Not a step: nothing of it runs on a host, and it needs no root.
set -euo pipefail

: "${KUBEHA_BACKUP_BUCKET:?KUBEHA_BACKUP_BUCKET is required (pulumi stack output backupBucket)}"
: "${KUBEHA_BACKUP_PREFIX:?KUBEHA_BACKUP_PREFIX is required (pulumi stack output backupPrefix)}"
: "${KUBEHA_BACKUP_ENDPOINT:?KUBEHA_BACKUP_ENDPOINT is required (https://s3.<region>.amazonaws.com or https://oss-<region>.aliyuncs.com)}"
: "${KUBEHA_BACKUP_REGION:?KUBEHA_BACKUP_REGION is required (the region of the bucket)}"
: "${KUBEHA_BACKUP_PROVIDER:?KUBEHA_BACKUP_PROVIDER is required (AWS or Alibaba)}"
: "${KUBEHA_SNAPSHOT_DIR:=.}"

say() {
    printf 'etcd-snapshot-pick: %s\n' "$*" >&2
}
s3() {
    RCLONE_CONFIG=/dev/null rclone "$@" --s3-env-auth \
        --s3-provider="$KUBEHA_BACKUP_PROVIDER" --s3-endpoint="$KUBEHA_BACKUP_ENDPOINT" \
        --s3-region="$KUBEHA_BACKUP_REGION" --retries=3 --low-level-retries=5 --stats=0 --log-level=ERROR
}

source=":s3:$KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX"
# The upload times come with the listing (--use-server-modtime); --no-mimetype spares a HEAD of every object.
listing=$(s3 lsjson --files-only --no-mimetype --use-server-modtime "$source") || {
    say "FAILED: cannot list $KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX with your credentials"
    exit 1
}
candidates=$(python3 "${BASH_SOURCE[0]%/*}/etcd-snapshot-select.py" "$(date -u +%s)" <<<"$listing")
mkdir -p "$KUBEHA_SNAPSHOT_DIR"
while read -r _ name sums; do
    [[ -n $name ]] || continue
    file=$KUBEHA_SNAPSHOT_DIR/$name
    s3 copyto "$source$name" "$file"
    s3 copyto "$source$sums" "$file.sha256"
    recorded=$(sed -nE "s/^([0-9a-f]{64})  ${name//./\\.}$/\\1/p" "$file.sha256")
    actual=$(sha256sum "$file" | cut -d ' ' -f 1)
    if [[ -n $recorded && $recorded == "$actual" ]]; then
        say "picked $KUBEHA_BACKUP_PREFIX$name: the newest snapshot whose content matches its recorded sha256"
        printf '%s %s\n' "$file" "$actual"
        exit 0
    fi
    say "ignoring $name: its content (sha256 $actual) does not match $sums (${recorded:-no sha256 for it})"
    rm -f "$file" "$file.sha256"
done <<<"$candidates"
say "FAILED: no snapshot under $KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX matches its recorded sha256"
exit 1
