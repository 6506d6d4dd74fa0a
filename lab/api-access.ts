// How clients outside the cluster reach its API in the lab, as they would on a cloud: the cloud's API load balancer
// stands in as nginx `stream` inside the lab's namespace, at the load balancer's planned public address, spreading
// TCP to every master's 6443 (a layer-4 balancer, like the NLBs). From this machine's own network the lab adds one
// socat on 127.0.0.1 that enters the lab namespace per connection: the host's network is never configured. The same
// nginx answers at the cloud's metadata address, standing in for the metadata service.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { inRouter } from "./network";

export interface ApiLoadBalancer {
    /** The planned public address clients use (the plan's kubeconfig names it). */
    readonly address: string;
    readonly port: number;
    readonly masters: readonly string[];
    /** The cloud's metadata address: a stand-in answers there, so the pod firewall has something to keep pods from. */
    readonly metadataAddress: string;
}

/** nginx.conf of the load balancer stand-in: TCP to every master, the failed one skipped for a few seconds. */
export function loadBalancerConfig(lb: ApiLoadBalancer, runDir: string): string {
    const servers = lb.masters.map((master) => `        server ${master}:6443 max_fails=1 fail_timeout=3s;`);
    return `# The lab's stand-in for the cloud's API load balancer (layer 4).
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
pid ${runDir}/api-lb.pid;
error_log ${runDir}/api-lb.log warn;
worker_processes 1;
events { worker_connections 1024; }
stream {
    upstream apiservers {
${servers.join("\n")}
    }
    server {
        listen ${lb.address}:${lb.port};
        proxy_pass apiservers;
        proxy_connect_timeout 1s;
        proxy_timeout 3000s;
    }
}
http {
    access_log off;
    server {
        listen ${lb.metadataAddress}:80;
        default_type text/plain;
        return 200 "kubeha lab metadata stand-in\n";
    }
}
`;
}

export function startLoadBalancer(lab: string, lb: ApiLoadBalancer, runDir: string): void {
    const config = path.join(runDir, "api-lb.conf");
    fs.writeFileSync(config, loadBalancerConfig(lb, runDir));
    const [command, ...args] = inRouter(lab, ["nginx", "-c", config, "-e", path.join(runDir, "api-lb.log")]);
    const started = spawnSync(command, args, { encoding: "utf8" });
    if (started.status !== 0) throw new Error(`lab: the API load balancer did not start: ${started.stderr}`);
}

/** A free TCP port on 127.0.0.1, for this lab's forwarder. */
export async function freeLoopbackPort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

/**
 * 127.0.0.1:<port> on this machine to the load balancer inside the lab: socat forks per connection into the lab's
 * namespace. Detached, its pid written to runDir/api-forwarder.pid for `lab down`.
 */
export function startForwarder(lab: string, lb: ApiLoadBalancer, localPort: number, runDir: string): number {
    // socat's EXEC address splits on ':' and ',': the inner command goes in a script of its own.
    const connect = path.join(runDir, "api-connect.sh");
    const inside = inRouter(lab, ["socat", "STDIO", `TCP:${lb.address}:${lb.port}`]);
    fs.writeFileSync(connect, `#!/bin/sh\nexec ${inside.join(" ")}\n`, { mode: 0o755 });
    const log = fs.openSync(path.join(runDir, "api-forwarder.log"), "a");
    const child = spawn("socat", [`TCP-LISTEN:${localPort},bind=127.0.0.1,reuseaddr,fork`, `EXEC:${connect}`], {
        detached: true,
        stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    child.unref();
    fs.writeFileSync(path.join(runDir, "api-forwarder.pid"), `${child.pid}\n`);
    return child.pid ?? 0;
}

/**
 * The plan's admin kubeconfig, pointed at the forwarder: the server becomes https://127.0.0.1:<port>, and the name
 * the apiserver's certificate holds for the load balancer is kept as tls-server-name, so TLS still checks it.
 */
export function labKubeconfig(planKubeconfig: string, localPort: number): string {
    const document = parseYaml(planKubeconfig) as {
        clusters: { cluster: { server: string; "tls-server-name"?: string } }[];
    };
    for (const { cluster } of document.clusters) {
        const server = new URL(cluster.server);
        cluster["tls-server-name"] = server.hostname;
        cluster.server = `https://127.0.0.1:${localPort}`;
    }
    return toYaml(document);
}
