#!/usr/bin/env bash
# Approves kubelet serving certificate requests (signer kubernetes.io/kubelet-serving; only when the kubelet
# config sets serverTLSBootstrap): Kubernetes has no approver for them (seed 004), and until one is issued
# `kubectl logs/exec` and metrics fail on that node. It runs two ways:
# - the <node>-serving-cert step (KUBEHA_NODE_NAME set), on the first master after a node joined: approves
#   that node's requests until its kubelet serves with an issued certificate;
# - kubeha-approve-kubelet-serving.timer on every master (KUBEHA_NODE_NAME unset): one pass over every
#   pending request, so the renewals kubelets ask for before their certificate expires are approved too.
# A request is approved only if a node of KUBEHA_NODES_FILE asked (system:node:<name> in system:nodes), the
# subject is exactly that node, the usages are a server's, and every name and address in it is one the file
# gives that node (or its own name). Anything else stays pending and is logged with the reason.
set -euo pipefail
# shellcheck source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

: "${KUBEHA_NODES_FILE:?KUBEHA_NODES_FILE is required (one line per node: its name, then its addresses and DNS names comma-separated)}"
: "${KUBEHA_NODE_NAME:=}"
: "${KUBEHA_TIMEOUT:=300}"
require_seconds KUBEHA_TIMEOUT "$KUBEHA_TIMEOUT"
[[ -r $KUBEHA_NODES_FILE ]] || fail "the nodes file $KUBEHA_NODES_FILE is missing" "the files step's output on this master"

admin=/etc/kubernetes/admin.conf
readonly serving_signer=kubernetes.io/kubelet-serving
# One line per CSR: name, signer, requester, groups, usages, condition types, request (base64 PEM),
# separated by "|" (not a tab: read would merge the tabs around an empty field).
readonly csr_columns='{range .items[*]}{.metadata.name}{"|"}{.spec.signerName}{"|"}{.spec.username}{"|"}{range .spec.groups[*]}{@}{","}{end}{"|"}{range .spec.usages[*]}{@}{","}{end}{"|"}{range .status.conditions[*]}{.type}{","}{end}{"|"}{.spec.request}{"\n"}{end}'

# planned_addresses NODE: the names and addresses the nodes file gives NODE; fails for a node not in it.
planned_addresses() {
    awk -v node="$1" '$1 == node { print $2; found = 1 } END { exit !found }' "$KUBEHA_NODES_FILE"
}

# The request's names are read from its DER encoding, not from `openssl req -text`: that prints a DNS name byte
# for byte, so a name holding a newline hides every name after it from a line-based check. A small DER walker
# (definite lengths only, as DER requires) follows CertificationRequestInfo -> attributes -> extensionRequest ->
# subjectAltName, and every SAN extension of every extensionRequest is checked (Go keeps only the last one; checking
# them all is the stricter choice).
readonly oid_extension_request=2a864886f70d01090e oid_subject_alt_name=551d11

# der_read HEX AT: the TLV at byte AT of HEX (lowercase hex digits). Sets der_tag (two hex digits), der_start (first
# content byte) and der_end (the byte after the content). Fails on a high tag number, an indefinite or oversized
# length, or a value running past the end of HEX.
der_read() {
    local hex=$1 at=$2 total=$((${#1} / 2)) first count len=0 i
    ((at + 2 <= total)) || return 1
    der_tag=${hex:at*2:2}
    (((16#$der_tag & 31) != 31)) || return 1
    first=$((16#${hex:at*2+2:2}))
    at=$((at + 2))
    if ((first < 128)); then
        len=$first
    else
        count=$((first - 128))
        ((count >= 1 && count <= 3 && at + count <= total)) || return 1
        for ((i = 0; i < count; i++)); do
            len=$((len * 256 + 16#${hex:(at+i)*2:2}))
        done
        at=$((at + count))
    fi
    der_start=$at
    der_end=$((at + len))
    ((der_end <= total))
}

# der_children HEX START END: "tag start end" of each TLV laid end to end from START to END; fails unless they
# fill it exactly.
der_children() {
    local hex=$1 at=$2 end=$3
    while ((at < end)); do
        der_read "$hex" "$at" && ((der_end <= end)) || return 1
        printf '%s %s %s\n' "$der_tag" "$der_start" "$der_end"
        at=$der_end
    done
}

# printable HEX: the bytes of HEX as text if every one is printable ASCII other than a comma; fails otherwise.
printable() {
    local hex=$1 text="" i byte
    for ((i = 0; i < ${#hex}; i += 2)); do
        byte=$((16#${hex:i:2}))
        ((byte > 32 && byte < 127 && byte != 44)) || return 1
        printf -v text '%s%b' "$text" "\\x${hex:i:2}"
    done
    printf '%s' "$text"
}

# san_line TAG VALUE: one name of a subjectAltName as "DNS <name>", "IP <address>" or "BAD <why it may not appear>".
san_line() {
    local tag=$1 value=$2 text ip="" i
    case $tag in
        82)
            if text=$(printable "$value"); then
                echo "DNS $text"
            else
                echo "BAD a DNS name holding a control, space, comma or non-ASCII byte (hex $value)"
            fi
            ;;
        87)
            if ((${#value} == 8)); then
                for ((i = 0; i < 8; i += 2)); do ip+=$((16#${value:i:2})).; done
                echo "IP ${ip%.}"
            else
                echo "BAD an IP address that is not IPv4 (hex $value)"
            fi
            ;;
        81)
            text=$(printable "$value") || text="(hex $value)"
            echo "BAD email:$text (only DNS names and IP addresses allowed)"
            ;;
        *) echo "BAD a name of ASN.1 tag $tag (only DNS names and IP addresses allowed)" ;;
    esac
}

# request_names HEX: one san_line per name in the request's subjectAltName extensions (HEX: the request's DER);
# fails when the DER is not a well-formed certification request.
request_names() {
    local hex=$1 tag start end info attributes values extensions fields names
    local -a parts
    der_read "$hex" 0 && [[ $der_tag == 30 ]] && ((der_end == ${#hex} / 2)) || return 1
    der_read "$hex" "$der_start" && [[ $der_tag == 30 ]] || return 1
    # CertificationRequestInfo: version, subject, subjectPKInfo, [0] attributes.
    info=$(der_children "$hex" "$der_start" "$der_end") || return 1
    mapfile -t parts <<<"$info"
    ((${#parts[@]} == 4)) || return 1
    read -r tag start end <<<"${parts[3]}"
    [[ $tag == a0 ]] || return 1
    attributes=$(der_children "$hex" "$start" "$end") || return 1
    while read -r tag start end; do
        [[ -n $tag ]] || continue
        # Attribute: SEQUENCE { type OID, values SET }
        [[ $tag == 30 ]] && fields=$(der_children "$hex" "$start" "$end") || return 1
        mapfile -t parts <<<"$fields"
        ((${#parts[@]} == 2)) || return 1
        read -r tag start end <<<"${parts[0]}"
        [[ $tag == 06 ]] || return 1
        [[ ${hex:start*2:(end-start)*2} == "$oid_extension_request" ]] || continue
        read -r tag start end <<<"${parts[1]}"
        [[ $tag == 31 ]] && values=$(der_children "$hex" "$start" "$end") || return 1
        while read -r tag start end; do
            [[ -n $tag ]] || continue
            [[ $tag == 30 ]] && extensions=$(der_children "$hex" "$start" "$end") || return 1
            while read -r tag start end; do
                [[ -n $tag ]] || continue
                # Extension: SEQUENCE { extnID OID, critical BOOLEAN OPTIONAL, extnValue OCTET STRING }
                [[ $tag == 30 ]] && fields=$(der_children "$hex" "$start" "$end") || return 1
                mapfile -t parts <<<"$fields"
                ((${#parts[@]} == 2 || ${#parts[@]} == 3)) || return 1
                read -r tag start end <<<"${parts[0]}"
                [[ $tag == 06 ]] || return 1
                [[ ${hex:start*2:(end-start)*2} == "$oid_subject_alt_name" ]] || continue
                read -r tag start end <<<"${parts[${#parts[@]} - 1]}"
                [[ $tag == 04 ]] || return 1
                # GeneralNames: SEQUENCE filling the OCTET STRING exactly.
                der_read "$hex" "$start" && [[ $der_tag == 30 ]] && ((der_end == end)) || return 1
                names=$(der_children "$hex" "$der_start" "$der_end") || return 1
                while read -r tag start end; do
                    [[ -z $tag ]] || san_line "$tag" "${hex:start*2:(end-start)*2}"
                done <<<"$names"
            done <<<"$extensions"
        done <<<"$values"
    done <<<"$attributes"
}

# request_problem NODE ADDRESSES GROUPS USAGES REQUEST: why this CSR is not NODE's serving certificate
# request (nothing when it is). Signer and requester are checked by the caller.
request_problem() {
    local node=$1 addresses=$2 groups=$3 usages=$4 pem der subject names kind san usage server=no
    local -a list
    [[ ,$groups == *,system:nodes,* ]] || {
        echo "requester is not in system:nodes"
        return
    }
    IFS=, read -ra list <<<"$usages"
    for usage in "${list[@]}"; do
        case $usage in
            "server auth") server=yes ;;
            "digital signature" | "key encipherment") ;;
            *)
                echo "usage '$usage' is not a server's"
                return
                ;;
        esac
    done
    [[ $server == yes ]] || {
        echo "usages lack server auth"
        return
    }
    pem=$(base64 -d <<<"$5" 2>/dev/null) || {
        echo "request is not base64"
        return
    }
    # -nameopt RFC2253 escapes control characters, so the comparison below sees them.
    subject=$(openssl req -noout -subject -nameopt RFC2253 <<<"$pem" 2>/dev/null) || {
        echo "request is not a PEM certificate request"
        return
    }
    subject=$(tr ',' '\n' <<<"${subject#subject=}" | sort | paste -sd ,)
    [[ $subject == "CN=system:node:$node,O=system:nodes" ]] || {
        echo "subject is $subject"
        return
    }
    der=$(openssl req -outform DER <<<"$pem" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
    names=$(request_names "$der") || {
        echo "request is not well-formed DER"
        return
    }
    [[ -n $names ]] || {
        echo "names no DNS name or address"
        return
    }
    while read -r kind san; do
        case $kind in
            DNS | IP) [[ ,$node,$addresses, == *",$san,"* ]] || {
                echo "names $san, which is not $node's"
                return
            } ;;
            *)
                echo "names $san"
                return
                ;;
        esac
    done <<<"$names"
}

# review_pending [NODE]: one pass over the pending serving CSRs (only NODE's, when given): approves those
# that check out, logs why each other one stays pending. Fails only when the API does not answer.
review_pending() {
    local only=${1:-} rows name signer user groups usages conditions request node addresses problem
    rows=$(kubectl_as "$admin" get csr --field-selector="spec.signerName=$serving_signer" -o jsonpath="$csr_columns") ||
        return 1
    while IFS='|' read -r name signer user groups usages conditions request; do
        [[ -n $name && $signer == "$serving_signer" && -z $conditions ]] || continue
        [[ -z $only || $user == "system:node:$only" ]] || continue
        node=${user#system:node:}
        if [[ $user != "system:node:$node" || -z $node ]]; then
            problem="requested by $user, not by a node"
        elif ! addresses=$(planned_addresses "$node"); then
            problem="requested by $user, which is not a node of this cluster"
        else
            problem=$(request_problem "$node" "$addresses" "$groups" "$usages" "$request")
        fi
        if [[ -z $problem ]]; then
            kubectl_as "$admin" certificate approve "$name" >/dev/null || return 1
            log "approved $name (serving certificate of $node)"
        else
            log "left $name pending: $problem"
        fi
    done <<<"$rows"
}

if [[ -z $KUBEHA_NODE_NAME ]]; then
    review_pending ||
        fail "could not list or approve certificate requests" \
            "kubectl --kubeconfig $admin get csr" "systemctl status kube-apiserver-proxy; crictl ps --name kube-apiserver"
    exit 0
fi

node=$KUBEHA_NODE_NAME
planned_addresses "$node" >/dev/null || fail "$node is not in $KUBEHA_NODES_FILE" "the files step's output on this master"

# approve_until_serving: succeeds once the kubelet serves TLS with an issued certificate (the API server
# reaches its /healthz); otherwise approves what checks out and fails, for retry_until to try again.
approve_until_serving() {
    if kubectl_as "$admin" get --raw="/api/v1/nodes/$node/proxy/healthz" >/dev/null 2>&1; then
        return 0
    fi
    review_pending "$node" || return 1
    echo "the kubelet on $node does not serve with an issued certificate yet" >&2
    return 1
}

deadline=$((SECONDS + KUBEHA_TIMEOUT))
retry_until "$deadline" "the serving certificate of $node" approve_until_serving ||
    fail "the kubelet on $node has no serving certificate after ${KUBEHA_TIMEOUT}s" \
        "kubectl get csr (Pending kubelet-serving requests; the log above says why one was left pending)" \
        "journalctl -u kubelet -n 100 on $node (certificate manager, serverTLSBootstrap)" \
        "kube-controller-manager logs: an approved CSR needs its signer to issue the certificate"
log "the kubelet on $node serves with an approved certificate"
