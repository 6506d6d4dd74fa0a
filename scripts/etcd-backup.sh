#!/usr/bin/env bash
# etcd snapshot to the cluster's bucket, run by kubeha-etcd-backup.timer on every etcd member (variables
# from /etc/kubeha/etcd-backup.env). Only the leader takes it, so one healthy member backs up at a time:
# snapshot over TLS from this member, checked with etcdutl, gzip-compressed, uploaded with rclone (Ubuntu's
# package) to <prefix, etcd/<cluster>/><UTC time>-<member>.db.gz, names that sort by time, then its sha256 beside
# it as <object>.sha256 (sha256sum's format): a snapshot without one is incomplete, and the restore
# (etcd-snapshot-pick.sh) takes only a snapshot whose content matches it. Credentials are the instance role's
# temporary ones from the metadata service (AWS IMDSv2, Aliyun hardened mode; the session token goes to curl on its
# stdin, never on a command line), or with KUBEHA_METADATA=static (cloud machines, the user's S3-compatible bucket)
# the key pair in KUBEHA_BACKUP_CREDENTIALS_FILE, root only, and no metadata call. Either way they reach rclone in its
# environment, never its arguments. Outcome for operators: the journal,
# /var/lib/kubeha/etcd-backup.last (last success: time, object, sha256) and /var/lib/kubeha/etcd-backup.failed (the
# last failure's time and reason, and how many failed in a row).
#
# `etcd-backup.sh check` (kubeha-etcd-backup-check.timer, on every member): fails, and says so in the journal and in
# /var/lib/kubeha/etcd-backup.stale, when the newest complete snapshot in the bucket (the server's upload time, not its
# name) is older than KUBEHA_BACKUP_STALE_RUNS runs of KUBEHA_BACKUP_SCHEDULE: the unit then shows in
# `systemctl --failed` on every member, whichever member is the leader, long before the lifecycle rule's age-only
# expiry can leave the bucket empty. Objects whose name is not one this script writes, or whose name's time is in
# the future or far from their upload time (planted by something else that may write there), are named and ignored.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_ETCD_CONFIG:?KUBEHA_ETCD_CONFIG is required (the etcd --config-file of this member)}"
: "${KUBEHA_ETCD_CACERT:?KUBEHA_ETCD_CACERT is required (the etcd CA certificate)}"
: "${KUBEHA_ETCD_CERT:?KUBEHA_ETCD_CERT is required (a client certificate of the etcd CA)}"
: "${KUBEHA_ETCD_KEY:?KUBEHA_ETCD_KEY is required (its private key)}"
: "${KUBEHA_BACKUP_BUCKET:?KUBEHA_BACKUP_BUCKET is required (the bucket)}"
: "${KUBEHA_BACKUP_PREFIX:?KUBEHA_BACKUP_PREFIX is required (where in the bucket: etcd/<cluster>/)}"
: "${KUBEHA_BACKUP_ENDPOINT:?KUBEHA_BACKUP_ENDPOINT is required (the S3 API endpoint URL)}"
: "${KUBEHA_BACKUP_REGION:?KUBEHA_BACKUP_REGION is required (the region of the bucket)}"
: "${KUBEHA_BACKUP_PROVIDER:?KUBEHA_BACKUP_PROVIDER is required (the S3 provider of rclone: AWS, Alibaba or Other)}"
: "${KUBEHA_METADATA:?KUBEHA_METADATA is required (aws-imdsv2 or aliyun-hardened: credentials of the instance role from the metadata service; static: a key pair in a file)}"
# The metadata service and the role (aws-imdsv2, aliyun-hardened), or the key pair's file (static).
: "${KUBEHA_METADATA_URL:=}" "${KUBEHA_BACKUP_ROLE:=}" "${KUBEHA_BACKUP_CREDENTIALS_FILE:=}"
case $KUBEHA_METADATA in
    aws-imdsv2 | aliyun-hardened)
        [[ -n $KUBEHA_METADATA_URL && -n $KUBEHA_BACKUP_ROLE ]] ||
            fail "KUBEHA_METADATA $KUBEHA_METADATA needs KUBEHA_METADATA_URL (the metadata service, e.g. http://169.254.169.254) and KUBEHA_BACKUP_ROLE (the instance role's name)"
        credentials_source="the instance role's credentials from $KUBEHA_METADATA_URL"
        ;;
    static)
        [[ -n $KUBEHA_BACKUP_CREDENTIALS_FILE ]] ||
            fail "KUBEHA_METADATA static needs KUBEHA_BACKUP_CREDENTIALS_FILE (the key pair's file, root only)"
        credentials_source="the key pair in $KUBEHA_BACKUP_CREDENTIALS_FILE"
        ;;
    *) fail "KUBEHA_METADATA must be aws-imdsv2, aliyun-hardened or static, got '$KUBEHA_METADATA'" ;;
esac
: "${KUBEHA_BACKUP_WORK_DIR:?KUBEHA_BACKUP_WORK_DIR is required (a directory on the etcd disk for the snapshot while it is taken)}"
: "${KUBEHA_BACKUP_SCHEDULE:?KUBEHA_BACKUP_SCHEDULE is required (OnCalendar= of the backup timer)}"
: "${KUBEHA_BACKUP_STALE_RUNS:=3}"
[[ $KUBEHA_BACKUP_STALE_RUNS =~ ^[1-9][0-9]?$ ]] ||
    fail "KUBEHA_BACKUP_STALE_RUNS must be a whole number from 1 to 99, got '$KUBEHA_BACKUP_STALE_RUNS'"
mode=${1:-backup}
[[ $mode == backup || $mode == check ]] || fail "usage: $0 [backup|check], got '$mode'"

readonly last_file=$kubeha_state_dir/etcd-backup.last failed_file=$kubeha_state_dir/etcd-backup.failed
readonly stale_file=$kubeha_state_dir/etcd-backup.stale since_file=$kubeha_state_dir/etcd-backup.since
doing="starting"
work=""
# On any failure of a backup: the reason and the count of failures in a row, where the README's check looks.
finish() {
    local status=$? failures=0
    [[ -z $work ]] || rm -rf "$work"
    ((status != 0)) && [[ $mode == backup ]] || return 0
    install -d -m 0755 "$kubeha_state_dir"
    [[ ! -r $failed_file ]] || failures=$(sed -n 's/^failures in a row: //p' "$failed_file")
    printf '%s failed while %s\nfailures in a row: %s\n' "$(date -u +%FT%TZ)" "$doing" $((${failures:-0} + 1)) \
        >"$failed_file"
    log "backup FAILED while $doing (recorded in $failed_file)"
}
trap finish EXIT

# metadata_get PATH TOKEN-HEADER: GETs PATH from the metadata service with a fresh session token, which goes to curl on
# its stdin (a header file, `-H @-`), not in its arguments: every user on the host may read a process's command line.
metadata_get() {
    local token
    token=$(curl -fsS --max-time 5 -X PUT -H "$2-ttl-seconds: 300" "$KUBEHA_METADATA_URL/latest/api/token")
    printf '%s: %s\n' "$2" "$token" | curl -fsS --max-time 5 -H @- "$KUBEHA_METADATA_URL$1"
}

# credentials: the instance role's temporary credentials, or the static key pair, as rclone's S3 settings in the
# environment.
credentials() {
    local json
    case $KUBEHA_METADATA in
        aws-imdsv2)
            json=$(metadata_get "/latest/meta-data/iam/security-credentials/$KUBEHA_BACKUP_ROLE" X-aws-ec2-metadata-token)
            ;;
        aliyun-hardened)
            json=$(metadata_get "/latest/meta-data/ram/security-credentials/$KUBEHA_BACKUP_ROLE" \
                X-aliyun-ecs-metadata-token)
            ;;
        static) json=$(<"$KUBEHA_BACKUP_CREDENTIALS_FILE") ;;
    esac
    # AWS names the secret SecretAccessKey and the token Token; Aliyun AccessKeySecret and SecurityToken. The static
    # file has AWS's names and no token (a long-lived key pair has none).
    python3 -c '
import json, shlex, sys
c = json.load(sys.stdin)
for name, keys in (("ACCESS_KEY_ID", ("AccessKeyId",)), ("SECRET_ACCESS_KEY", ("SecretAccessKey", "AccessKeySecret")),
                   ("SESSION_TOKEN", ("Token", "SecurityToken"))):
    value = next((c[k] for k in keys if k in c), None)
    if value is None and name != "SESSION_TOKEN":
        sys.exit("the credentials have no " + " or ".join(keys))
    if value is not None:
        print("export RCLONE_S3_%s=%s" % (name, shlex.quote(value)))
' <<<"$json"
}

# s3 RCLONE-ARGS...: rclone against the bucket, with no config file and the role's rights only (put and list under the
# prefix): no bucket check, no HEAD before or after an upload.
s3() {
    RCLONE_CONFIG=/dev/null rclone "$@" \
        --s3-provider="$KUBEHA_BACKUP_PROVIDER" --s3-endpoint="$KUBEHA_BACKUP_ENDPOINT" \
        --s3-region="$KUBEHA_BACKUP_REGION" --s3-no-check-bucket --s3-no-head --no-check-dest \
        --retries=3 --low-level-retries=5 --stats=0 --log-level=ERROR
}

if [[ $mode == check ]]; then
    doing="checking the newest snapshot in the bucket"
    exports=$(credentials) || fail "cannot get $credentials_source" \
        "the instance's role (AWS instance profile, Aliyun RamRoleAttachment), or the key pair (kubeha:backup.s3)"
    eval "$exports"
    # One request, the listing (ListObjectsV2, s3:ListBucket / oss:ListObjects): the upload times are the listing's
    # (--use-server-modtime), and --no-mimetype, or rclone HEADs every object for its type, which the role may not.
    listing=$(s3 lsjson --files-only --no-mimetype --use-server-modtime ":s3:$KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX") ||
        fail "cannot list $KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX: whether backups run is unknown" \
            "journalctl -u kubeha-etcd-backup-check.service" "the role's policy (s3:ListBucket / oss:ListObjects on the prefix)"
    # One line per snapshot this script could have written, newest first: <upload time, epoch> <object>; the rest
    # is named on stderr. No content is read: the role may not.
    candidates=$(python3 "${BASH_SOURCE[0]%/*}/etcd-snapshot-select.py" "$(date -u +%s)" <<<"$listing")
    install -d -m 0755 "$kubeha_state_dir"
    [[ -s $since_file ]] || date -u +%s >"$since_file"
    if [[ -n $candidates ]]; then
        read -r base newest _ <<<"$candidates"
        what="the newest complete snapshot, $newest, uploaded $(date -u -d "@$base" +%FT%TZ)"
    else
        base=$(cat "$since_file")
        what="no complete snapshot in $KUBEHA_BACKUP_BUCKET/$KUBEHA_BACKUP_PREFIX since this check first ran, $(date -u -d "@$base" +%FT%TZ)"
    fi
    # The time of the KUBEHA_BACKUP_STALE_RUNS-th scheduled run after it (as the timer counts), with room for the
    # timer's random delay and a long upload.
    due=$(TZ=UTC systemd-analyze calendar --base-time="@$base" --iterations="$KUBEHA_BACKUP_STALE_RUNS" \
        "$KUBEHA_BACKUP_SCHEDULE" | sed -nE 's/^ *(Next elapse|Iter\. #[0-9]+): [A-Za-z]+ (.*)$/\2/p' | tail -n 1)
    [[ -n $due ]] || fail "systemd-analyze calendar cannot tell the runs of '$KUBEHA_BACKUP_SCHEDULE'"
    deadline=$(($(date -u -d "$due" +%s) + 1800))
    if (($(date -u +%s) > deadline)); then
        printf '%s: %s; %s runs of %s have passed since (the last at %s)\n' "$(date -u +%FT%TZ)" "$what" \
            "$KUBEHA_BACKUP_STALE_RUNS" "$KUBEHA_BACKUP_SCHEDULE" "$due" >"$stale_file"
        fail "backups are STALE: $what; $KUBEHA_BACKUP_STALE_RUNS scheduled runs ($KUBEHA_BACKUP_SCHEDULE) passed without a newer one" \
            "journalctl -u kubeha-etcd-backup.service on every etcd member (the leader uploads)" \
            "$failed_file on each member" "systemctl list-timers kubeha-etcd-backup.timer"
    fi
    rm -f "$stale_file"
    log "backups are current: $what"
    exit 0
fi

use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
member=$(etcd_setting "$KUBEHA_ETCD_CONFIG" name)
own=$(etcd_setting "$KUBEHA_ETCD_CONFIG" advertise-client-urls)
[[ -n $member && -n $own ]] || fail "$KUBEHA_ETCD_CONFIG names no member or client URL"

doing="asking this member ($own) for its status"
status=$(etcdctl --endpoints="$own" endpoint status -w fields)
field() {
    awk -F ' : ' -v name="\"$1\"" '$1 == name { print $2 }' <<<"$status"
}
if [[ $(field MemberID) != "$(field Leader)" ]]; then
    log "$member is not the leader: the leader takes the snapshot"
    exit 0
fi

doing="taking the snapshot"
install -d -m 0700 "$KUBEHA_BACKUP_WORK_DIR"
work=$(mktemp -d "$KUBEHA_BACKUP_WORK_DIR/snapshot.XXXXXX")
# A large database takes longer than the 8 s every other etcdctl call may take.
ETCDCTL_COMMAND_TIMEOUT=10m quietly etcdctl --endpoints="$own" snapshot save "$work/snapshot.db"
doing="checking the snapshot"
summary=$(etcdutl snapshot status "$work/snapshot.db" -w json)
doing="compressing the snapshot"
gzip "$work/snapshot.db"

doing="getting $credentials_source"
exports=$(credentials)
eval "$exports"

object="$KUBEHA_BACKUP_PREFIX$(date -u +%Y%m%dT%H%M%SZ)-$member.db.gz"
sha256=$(sha256sum "$work/snapshot.db.gz" | cut -d ' ' -f 1)
printf '%s  %s\n' "$sha256" "${object##*/}" >"$work/snapshot.db.gz.sha256"
doing="uploading $object to $KUBEHA_BACKUP_BUCKET"
s3 copyto "$work/snapshot.db.gz" ":s3:$KUBEHA_BACKUP_BUCKET/$object"
# Last: a snapshot with its checksum beside it is complete.
doing="uploading $object.sha256 to $KUBEHA_BACKUP_BUCKET"
s3 copyto "$work/snapshot.db.gz.sha256" ":s3:$KUBEHA_BACKUP_BUCKET/$object.sha256"

install -d -m 0755 "$kubeha_state_dir"
printf '%s %s %s\n' "$(date -u +%FT%TZ)" "$object" "$sha256" >"$last_file"
rm -f "$failed_file"
log "uploaded $object to $KUBEHA_BACKUP_BUCKET, sha256 $sha256 (snapshot $summary)"
