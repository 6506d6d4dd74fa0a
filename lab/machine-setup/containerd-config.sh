#!/bin/bash
# kubeha lab (lab/forced-differences.ts): /etc/containerd/config.toml as the host boot wrote it, plus
# restrict_oom_score_adj: the lab's host gives no CAP_SYS_RESOURCE, so runc could not lower a container's
# oom_score_adj below containerd's own. The rendered file is never changed.
set -Eeuo pipefail
install -d -m 0755 /run/kubeha-lab
{
    cat /etc/containerd/config.toml
    printf '\n# kubeha lab\n[plugins.%s]\n  restrict_oom_score_adj = true\n' "'io.containerd.cri.v1.runtime'"
} >/run/kubeha-lab/containerd.toml.new
mv /run/kubeha-lab/containerd.toml.new /run/kubeha-lab/containerd.toml
