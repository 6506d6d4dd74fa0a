#!/usr/bin/env bash
# etcd snapshot to the cluster's bucket, run by kubeha-etcd-backup.timer on every etcd member (variables
# from /etc/kubeha/etcd-backup.env). Only the leader takes it, so one healthy member backs up at a time:
# snapshot over TLS from this member, checked with etcdutl, gzip-compressed, uploaded with rclone (Ubuntu's
# package) to <prefix, etcd/<cluster>/><UTC time>-<member>.db.gz, names that sort by time. Credentials are the
# instance role's temporary ones from the metadata service (AWS IMDSv2, Aliyun hardened mode), never a
# file. Outcome for operators: the journal, /var/lib/kubeha/etcd-backup.last (last success) and
# /var/lib/kubeha/etcd-backup.failed (the last failure's time and reason, and how many failed in a row).
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
: "${KUBEHA_METADATA:?KUBEHA_METADATA is required (aws-imdsv2 or aliyun-hardened: where the credentials of the instance role come from)}"
: "${KUBEHA_METADATA_URL:?KUBEHA_METADATA_URL is required (the metadata service, e.g. http://169.254.169.254)}"
: "${KUBEHA_BACKUP_ROLE:?KUBEHA_BACKUP_ROLE is required (the name of the instance role)}"
: "${KUBEHA_BACKUP_WORK_DIR:?KUBEHA_BACKUP_WORK_DIR is required (a directory on the etcd disk for the snapshot while it is taken)}"

readonly last_file=$kubeha_state_dir/etcd-backup.last failed_file=$kubeha_state_dir/etcd-backup.failed
doing="starting"
work=""
# On any failure: the reason and the count of failures in a row, where the README's check looks.
finish() {
    local status=$? failures=0
    [[ -z $work ]] || rm -rf "$work"
    ((status != 0)) || return 0
    install -d -m 0755 "$kubeha_state_dir"
    [[ ! -r $failed_file ]] || failures=$(sed -n 's/^failures in a row: //p' "$failed_file")
    printf '%s failed while %s\nfailures in a row: %s\n' "$(date -u +%FT%TZ)" "$doing" $((${failures:-0} + 1)) \
        >"$failed_file"
    log "backup FAILED while $doing (recorded in $failed_file)"
}
trap finish EXIT

use_etcd_client "$KUBEHA_ETCD_CACERT" "$KUBEHA_ETCD_CERT" "$KUBEHA_ETCD_KEY"
member=$(etcd_setting "$KUBEHA_ETCD_CONFIG" name)
own=$(etcd_setting "$KUBEHA_ETCD_CONFIG" advertise-client-urls)
[[ -n $member && -n $own ]] || fail "$KUBEHA_ETCD_CONFIG names no member or client URL"

# quietly COMMAND...: runs COMMAND with its output held back, shown only when it fails.
quietly() {
    local output
    output=$("$@" 2>&1) || {
        local status=$?
        printf '%s\n' "$output" >&2
        return "$status"
    }
}

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

# credentials: the instance role's temporary credentials, as rclone's S3 settings in the environment.
credentials() {
    local token json
    case $KUBEHA_METADATA in
        aws-imdsv2)
            token=$(curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
                "$KUBEHA_METADATA_URL/latest/api/token")
            json=$(curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" \
                "$KUBEHA_METADATA_URL/latest/meta-data/iam/security-credentials/$KUBEHA_BACKUP_ROLE")
            ;;
        aliyun-hardened)
            token=$(curl -fsS --max-time 5 -X PUT -H "X-aliyun-ecs-metadata-token-ttl-seconds: 300" \
                "$KUBEHA_METADATA_URL/latest/api/token")
            json=$(curl -fsS --max-time 5 -H "X-aliyun-ecs-metadata-token: $token" \
                "$KUBEHA_METADATA_URL/latest/meta-data/ram/security-credentials/$KUBEHA_BACKUP_ROLE")
            ;;
        *) fail "KUBEHA_METADATA must be aws-imdsv2 or aliyun-hardened, got '$KUBEHA_METADATA'" ;;
    esac
    # AWS names the secret SecretAccessKey and the token Token; Aliyun AccessKeySecret and SecurityToken.
    python3 -c '
import json, shlex, sys
c = json.load(sys.stdin)
for name, keys in (("ACCESS_KEY_ID", ("AccessKeyId",)), ("SECRET_ACCESS_KEY", ("SecretAccessKey", "AccessKeySecret")),
                   ("SESSION_TOKEN", ("Token", "SecurityToken"))):
    value = next(c[k] for k in keys if k in c)
    print("export RCLONE_S3_%s=%s" % (name, shlex.quote(value)))
' <<<"$json"
}
doing="getting the instance role's credentials from $KUBEHA_METADATA_URL"
exports=$(credentials)
eval "$exports"

object="$KUBEHA_BACKUP_PREFIX$(date -u +%Y%m%dT%H%M%SZ)-$member.db.gz"
doing="uploading $object to $KUBEHA_BACKUP_BUCKET"
# The role may only put and list under the prefix: no bucket check, no HEAD before or after the upload.
RCLONE_CONFIG=/dev/null rclone copyto "$work/snapshot.db.gz" ":s3:$KUBEHA_BACKUP_BUCKET/$object" \
    --s3-provider="$KUBEHA_BACKUP_PROVIDER" --s3-endpoint="$KUBEHA_BACKUP_ENDPOINT" \
    --s3-region="$KUBEHA_BACKUP_REGION" --s3-no-check-bucket --s3-no-head --no-check-dest \
    --retries=3 --low-level-retries=5 --stats=0 --log-level=ERROR

install -d -m 0755 "$kubeha_state_dir"
printf '%s %s\n' "$(date -u +%FT%TZ)" "$object" >"$last_file"
rm -f "$failed_file"
log "uploaded $object to $KUBEHA_BACKUP_BUCKET (snapshot $summary)"
