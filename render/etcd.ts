// etcd on every etcd member: the config file `etcd --config-file` reads, its systemd unit, and the
// environment file operators source to run etcdctl against the cluster.
//
// Rendered for the production release (config/versions.ts, 3.6), which the system tests run too (built by
// the toolchain) from these files unchanged. `log-outputs` and `logger: zap` send logs to the journal through
// stderr; `pre-vote: true` is 3.6's default, written out so the file says what runs. Newer keys
// (feature-gates, tls-min-version) are left out: 3.6's defaults are what we want.
import { Document } from "yaml";
import { hostFqdn, PlannedHost } from "../config/layout";
import { ports } from "../config/ports";
import { ClusterConfig } from "../config/resolve";
import { HostFile } from "./host-file";

/** Mount point of the etcd data disk (seed 000: etcd on its own cloud disk). */
export const etcdDiskMountPoint = "/var/lib/etcd";
/** A directory on the disk rather than its root: etcd wants a 0700 directory without lost+found in it. */
export const etcdDataDir = `${etcdDiskMountPoint}/data`;

/** The etcd upgrade step's snapshot of each member before a minor upgrade (scripts/upgrade-etcd.sh): the etcd disk. */
export const etcdUpgradeSnapshotDir = `${etcdDiskMountPoint}/upgrade-snapshots`;
export const etcdConfigPath = "/etc/etcd/etcd.yaml";
export const etcdctlEnvPath = "/etc/etcd/etcdctl.env";
export const etcdUnitPath = "/etc/systemd/system/etcd.service";
/** Where the release tarball's etcd, etcdctl and etcdutl are installed (Ubuntu's own package is 3.4). */
export const etcdBinDir = "/usr/local/bin";

/** Certificates every etcd member holds, all signed by the etcd CA (not the Kubernetes CA). */
export const etcdPki = {
    ca: "/etc/etcd/pki/ca.crt",
    /** Serves clients: SANs = the member's name, its private address, localhost and 127.0.0.1. */
    serverCert: "/etc/etcd/pki/server.crt",
    serverKey: "/etc/etcd/pki/server.key",
    /** Peer traffic in both directions (server and client auth): SANs = the member's name and address. */
    peerCert: "/etc/etcd/pki/peer.crt",
    peerKey: "/etc/etcd/pki/peer.key",
    /** Client identity for health checks and operators' etcdctl. */
    healthcheckClientCert: "/etc/etcd/pki/healthcheck-client.crt",
    healthcheckClientKey: "/etc/etcd/pki/healthcheck-client.key",
} as const;

/** `new` to bootstrap the cluster; `existing` for a member that replaces one (after `etcdctl member add`). */
export type InitialClusterState = "new" | "existing";

/** Every host that runs an etcd member, in layout order. */
export function etcdMembers(layout: readonly PlannedHost[]): PlannedHost[] {
    return layout.filter((host) => host.etcdMember);
}

/** https://<name>:2379 of every member: what the apiserver, etcdctl and health checks connect to. */
export function etcdClientUrls(config: ClusterConfig, layout: readonly PlannedHost[]): string[] {
    return etcdMembers(layout).map((host) => clientUrl(config, host));
}

/**
 * Config file, systemd unit and etcdctl environment for one member, as delivered: `new` (the replacement
 * script switches a replaced member's copy to `existing` on the host).
 */
export function renderEtcdFiles(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
    member: PlannedHost,
): HostFile[] {
    return [renderEtcdConfig(config, layout, member), renderEtcdUnit(), renderEtcdctlEnv(config, layout)];
}

export function renderEtcdConfig(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
    member: PlannedHost,
    initialClusterState: InitialClusterState = "new",
): HostFile {
    if (!etcdMembers(layout).some((host) => host.name === member.name)) {
        throw new Error(`${member.name} does not run an etcd member`);
    }
    const tls = (cert: string, key: string) => ({
        "cert-file": cert,
        "key-file": key,
        "client-cert-auth": true,
        "trusted-ca-file": etcdPki.ca,
    });
    const settings = {
        name: member.name,
        "data-dir": etcdDataDir,
        // Bind to addresses (names cannot be bound); advertise names (seed 000: names, not IPs).
        "listen-client-urls": `https://${member.privateIp}:${ports.etcdClient},https://127.0.0.1:${ports.etcdClient}`,
        "advertise-client-urls": clientUrl(config, member),
        "listen-peer-urls": `https://${member.privateIp}:${ports.etcdPeer}`,
        "initial-advertise-peer-urls": peerUrl(config, member),
        // Plain-HTTP /health and /metrics on loopback only, for local probes without client certificates.
        "listen-metrics-urls": `http://127.0.0.1:${ports.etcdMetrics}`,
        "initial-cluster": etcdMembers(layout)
            .map((host) => `${host.name}=${peerUrl(config, host)}`)
            .join(","),
        // Read only when the data dir is empty: later restarts of a member ignore both.
        "initial-cluster-state": initialClusterState,
        "initial-cluster-token": `kubeha-${config.network.privateDomain}`,
        "client-transport-security": tls(etcdPki.serverCert, etcdPki.serverKey),
        "peer-transport-security": tls(etcdPki.peerCert, etcdPki.peerKey),
        // Seed 000: history is never compacted by default and writes stop at the quota.
        "auto-compaction-mode": "periodic",
        "auto-compaction-retention": config.etcd.compactionRetention,
        "max-request-bytes": config.etcd.maxRequestBytes,
        "quota-backend-bytes": config.etcd.quotaBackendBytes,
        // A member that rejoins after a partition must not force a needless leader election.
        "pre-vote": true,
        logger: "zap",
        // stderr goes to the journal through systemd (journalctl -u etcd).
        "log-outputs": ["stderr"],
    };
    const document = new Document(settings);
    // No etcd version in it (nor in the unit): a changed file restarts its member, and a version change is the
    // etcd-upgrade steps' to roll out, once per member.
    document.commentBefore =
        ` etcd member ${member.name}: etcd --config-file ${etcdConfigPath}\n` +
        ` Rendered by kubeha; a change here is overwritten by the next pulumi up.`;
    return { path: etcdConfigPath, mode: "0644", content: document.toString({ lineWidth: 0 }) };
}

/** The same unit on every member: everything member-specific is in the config file. */
export function renderEtcdUnit(): HostFile {
    const content = `# etcd, rendered by kubeha.
[Unit]
Description=etcd key-value store of the Kubernetes cluster
Documentation=https://etcd.io/docs/
Wants=network-online.target
After=network-online.target
# Never start on the root disk when the etcd disk failed to mount: the member would come up empty.
RequiresMountsFor=${etcdDiskMountPoint}
StartLimitIntervalSec=0

[Service]
Type=notify
ExecStart=${etcdBinDir}/etcd --config-file=${etcdConfigPath}
# A new member, or any member of a cluster that starts cold, is ready only once a majority runs:
# systemd must not kill it while its peers boot.
TimeoutStartSec=infinity
Restart=always
RestartSec=5s
LimitNOFILE=65536
# etcd's latency is its disk's latency (etcd tuning guide: best-effort class, highest priority).
IOSchedulingClass=best-effort
IOSchedulingPriority=0

[Install]
WantedBy=multi-user.target
`;
    return { path: etcdUnitPath, mode: "0644", content };
}

/** KEY=value lines that both `set -a; . file` and systemd's EnvironmentFile read. */
export function renderEtcdctlEnv(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile {
    const content = `# etcdctl against this cluster: set -a; . ${etcdctlEnvPath}; set +a; etcdctl endpoint health
ETCDCTL_API=3
ETCDCTL_ENDPOINTS=${etcdClientUrls(config, layout).join(",")}
ETCDCTL_CACERT=${etcdPki.ca}
ETCDCTL_CERT=${etcdPki.healthcheckClientCert}
ETCDCTL_KEY=${etcdPki.healthcheckClientKey}
`;
    return { path: etcdctlEnvPath, mode: "0644", content };
}

function clientUrl(config: ClusterConfig, host: PlannedHost): string {
    return `https://${hostFqdn(host.name, config.network.privateDomain)}:${ports.etcdClient}`;
}

function peerUrl(config: ClusterConfig, host: PlannedHost): string {
    return `https://${hostFqdn(host.name, config.network.privateDomain)}:${ports.etcdPeer}`;
}
