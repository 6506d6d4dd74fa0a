// The local Kubernetes API proxy every node runs (masters too): nginx `stream` on 127.0.0.1 spreading
// TCP connections over every kube-apiserver, so no node depends on one master or on a cloud load
// balancer it may not reach from behind itself (see DESIGN.md, "API server HA without a VIP").
// kubeadm's controlPlaneEndpoint is apiProxyName():apiProxyPort, a name /etc/hosts maps to 127.0.0.1.
import { hostFqdn, PlannedHost } from "../config/layout";
import { ports } from "../config/ports";
import { ClusterConfig } from "../config/resolve";
import { HostFile } from "./host-file";

/** Its own nginx configuration, apart from Debian's /etc/nginx (whose nginx.service stays disabled). */
export const apiProxyConfigPath = "/etc/kubeha/api-proxy/nginx.conf";
export const apiProxyUnitName = "kube-apiserver-proxy.service";
export const apiProxyUnitPath = `/etc/systemd/system/${apiProxyUnitName}`;
/** systemd creates /run/<this> (RuntimeDirectory=) for the pid file. */
const runtimeDirectory = "kube-apiserver-proxy";

const nginx = "/usr/sbin/nginx";
/** Debian and Ubuntu ship the stream module as a dynamic module (package libnginx-mod-stream). */
const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so";

/** Failure detection and timeouts (seed 000 and FACTS: kubeasz, kubespray). */
export const apiProxyTuning = {
    /** One failed connect takes a master out of rotation for failTimeout (seed 000). */
    maxFails: 1,
    failTimeout: "3s",
    /** A connect inside one region takes milliseconds; kubeasz and kubespray both use 1s. */
    connectTimeout: "1s",
    /** Idle time allowed on a proxied connection: long, for watches (seed 000). */
    proxyTimeout: "3000s",
} as const;

export function renderApiProxyFiles(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile[] {
    return [renderApiProxyConfig(config, layout), renderApiProxyUnit()];
}

/** The same file on every node: every master is an upstream, by name, on the apiserver port. */
export function renderApiProxyConfig(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile {
    const masters = layout.filter((host) => host.role === "master");
    if (masters.length === 0) throw new Error("the layout has no master to proxy to");
    const { maxFails, failTimeout, connectTimeout, proxyTimeout } = apiProxyTuning;
    const servers = masters.map(
        (master) =>
            `        server ${hostFqdn(master.name, config.network.privateDomain)}:${ports.apiserver} ` +
            `max_fails=${maxFails} fail_timeout=${failTimeout};`,
    );
    const content = `# Local Kubernetes API proxy: 127.0.0.1:${config.network.apiProxyPort} -> every kube-apiserver.
# Rendered by kubeha; run by ${apiProxyUnitName}. Check with: ${nginx} -t -c ${apiProxyConfigPath}
load_module ${streamModule};

user www-data;
worker_processes auto;
worker_rlimit_nofile 65536;
pid /run/${runtimeDirectory}/nginx.pid;
# In the foreground under systemd; errors go to the journal (journalctl -u ${apiProxyUnitName}).
daemon off;
error_log stderr notice;

events {
    worker_connections 20240;
}

stream {
    upstream kube_apiservers {
        # Every client of this proxy is 127.0.0.1, so seed 000's "hash $remote_addr consistent" would send all
        # of a node's traffic to one apiserver. least_conn (as kubespray) spreads connections, long-lived
        # watches included; the shared zone lets every worker process see the same counts and failures.
        least_conn;
        zone kube_apiservers 64k;
${servers.join("\n")}
    }

    server {
        listen 127.0.0.1:${config.network.apiProxyPort} reuseport;
        proxy_pass kube_apiservers;
        # A failed or timed-out connect moves on to the next master within the same client connection.
        proxy_connect_timeout ${connectTimeout};
        proxy_timeout ${proxyTimeout};
    }
}
`;
    return { path: apiProxyConfigPath, mode: "0644", content };
}

export function renderApiProxyUnit(): HostFile {
    const check = `${nginx} -t -e stderr -c ${apiProxyConfigPath}`;
    const content = `# Local Kubernetes API proxy, rendered by kubeha.
[Unit]
Description=Local Kubernetes API proxy (nginx stream to every kube-apiserver)
Documentation=man:nginx(8)
Wants=network-online.target
After=network-online.target nss-lookup.target
# Workers' kubelets reach the API only through this proxy; on masters kubeadm's joins and kube-proxy do.
Before=kubelet.service
# nginx resolves the masters' names once at start: keep retrying until they resolve.
StartLimitIntervalSec=0

[Service]
Type=exec
RuntimeDirectory=${runtimeDirectory}
ExecStartPre=${check}
ExecStart=${nginx} -e stderr -c ${apiProxyConfigPath}
ExecReload=${check}
ExecReload=/bin/kill -s HUP $MAINPID
Restart=always
RestartSec=2s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
    return { path: apiProxyUnitPath, mode: "0644", content };
}
