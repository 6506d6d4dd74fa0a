// The lab's mirror servers, each a process inside the lab's router network namespace (`nsenter --net=<path>`, never
// `ip netns exec`), detached from the caller so they outlive `lab up`, with a pid file and a log in the state dir:
//
//   startNginx   https file server (Debian nginx-light) with the lab certificate: the apt repositories and the etcd
//                release at https://<mirror address>:443/
//   startRegistry  distribution v3 `registry` with TLS, storage in the state dir, at <registry address>:443
//   startDns     CoreDNS `hosts` plugin: the given name → address records, NXDOMAIN for anything else (no forwarding)
//   stopServers  ends what the pid files name (only if the process is still the one started), then waits
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "../command";

export interface ServerDirs {
    /** Path of the network namespace (`/run/netns/kubeha-lab-<lab>`). */
    readonly netns: string;
    /** The mirrors' state dir (`/var/lib/kubeha-lab/<lab>/mirrors`). */
    readonly state: string;
}

const pidDir = (dirs: ServerDirs) => path.join(dirs.state, "pids");
const logDir = (dirs: ServerDirs) => path.join(dirs.state, "logs");

/** Starts `binary args` in the namespace, detached; records its pid under `name`. */
function startDetached(dirs: ServerDirs, name: string, binary: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    fs.mkdirSync(pidDir(dirs), { recursive: true });
    fs.mkdirSync(logDir(dirs), { recursive: true });
    const log = fs.openSync(path.join(logDir(dirs), `${name}.log`), "a");
    // nsenter without --fork execs the server itself: the pid is the server's.
    const child = spawn("nsenter", [`--net=${dirs.netns}`, binary, ...args], {
        detached: true,
        stdio: ["ignore", log, log],
        env: { ...process.env, ...env },
    });
    fs.closeSync(log);
    child.unref();
    fs.writeFileSync(path.join(pidDir(dirs), `${name}.pid`), `${child.pid}\n${binary}\n`);
    return child.pid!;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until something listens on address:port (tcp, or udp) inside the namespace. */
async function waitListening(dirs: ServerDirs, name: string, address: string, port: number, udp = false) {
    const pidFile = path.join(pidDir(dirs), `${name}.pid`);
    const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
    for (let tries = 0; tries < 150; tries++) {
        const listening = run("nsenter", [`--net=${dirs.netns}`, "ss", "-Hn", udp ? "-lu" : "-lt"]);
        if (listening.split("\n").some((line) => line.split(/\s+/).includes(`${address}:${port}`))) return;
        if (!fs.existsSync(`/proc/${pid}`)) break;
        await sleep(100);
    }
    const log = path.join(logDir(dirs), `${name}.log`);
    const tail = fs.existsSync(log) ? fs.readFileSync(log, "utf8").slice(-2000) : "";
    throw new Error(`mirrors: ${name} did not listen on ${address}:${port}; its log (${log}):\n${tail}`);
}

export async function startNginx(
    dirs: ServerDirs,
    options: { address: string; serverName: string; certificate: string; key: string; root: string },
): Promise<void> {
    const dir = path.join(dirs.state, "nginx");
    for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"])
        fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const logs = logDir(dirs);
    fs.mkdirSync(logs, { recursive: true });
    // Workers run as root: the cached content lives under root's home (mode 0700).
    const config = `user root;
worker_processes 2;
daemon off;
pid ${dir}/nginx.pid;
error_log ${logs}/nginx-error.log;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log ${logs}/nginx-access.log;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    sendfile on;
    server {
        listen ${options.address}:443 ssl;
        server_name ${options.serverName};
        ssl_certificate ${options.certificate};
        ssl_certificate_key ${options.key};
        root ${options.root};
        autoindex on;
    }
}
`;
    const file = path.join(dir, "nginx.conf");
    fs.writeFileSync(file, config);
    // The check binds the listen address too: inside the namespace.
    run("nsenter", [
        `--net=${dirs.netns}`,
        "nginx",
        "-t",
        "-q",
        "-e",
        path.join(logs, "nginx-error.log"),
        "-p",
        dir,
        "-c",
        file,
    ]);
    startDetached(dirs, "nginx", "nginx", ["-e", path.join(logs, "nginx-error.log"), "-p", dir, "-c", file]);
    await waitListening(dirs, "nginx", options.address, 443);
}

export async function startRegistry(
    dirs: ServerDirs,
    options: { binary: string; address: string; certificate: string; key: string },
): Promise<void> {
    const storage = path.join(dirs.state, "registry");
    fs.mkdirSync(storage, { recursive: true });
    const config = `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
http:
  addr: ${options.address}:443
  secret: ${randomBytes(16).toString("hex")}
  tls:
    certificate: ${options.certificate}
    key: ${options.key}
`;
    const file = path.join(dirs.state, "registry.yml");
    fs.writeFileSync(file, config);
    // No OpenTelemetry exporter: nothing outside the namespace to send traces to.
    startDetached(dirs, "registry", options.binary, ["serve", file], { OTEL_TRACES_EXPORTER: "none" });
    await waitListening(dirs, "registry", options.address, 443);
}

/** The name → address records CoreDNS serves (its hosts plugin re-reads the file when it changes). */
export function dnsHostsFile(state: string): string {
    return path.join(state, "hosts");
}

export async function startDns(
    dirs: ServerDirs,
    options: { binary: string; address: string; records: Record<string, string> },
): Promise<void> {
    const hosts = dnsHostsFile(dirs.state);
    const lines = Object.entries(options.records).map(([name, address]) => `${address} ${name}`);
    fs.writeFileSync(hosts, `${lines.join("\n")}\n`);
    const corefile = path.join(dirs.state, "Corefile");
    // Without fallthrough the hosts plugin answers every name itself: unknown names get NXDOMAIN, nothing leaves.
    fs.writeFileSync(
        corefile,
        `.:53 {\n    bind ${options.address}\n    hosts ${hosts} {\n        ttl 30\n    }\n    errors\n}\n`,
    );
    startDetached(dirs, "coredns", options.binary, ["-conf", corefile]);
    await waitListening(dirs, "coredns", options.address, 53, true);
}

/** Ends every server a pid file names (if that pid still runs the binary it recorded), then removes the pid files. */
export async function stopServers(dirs: ServerDirs): Promise<void> {
    const dir = pidDir(dirs);
    if (!fs.existsSync(dir)) return;
    const pids: number[] = [];
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".pid"))) {
        const [pidText, binary] = fs.readFileSync(path.join(dir, file), "utf8").split("\n");
        const pid = Number(pidText);
        // By the executable, not the command line: nginx rewrites its own ("nginx: master process ...").
        let executable = "";
        try {
            executable = fs.readlinkSync(`/proc/${pid}/exe`);
        } catch {
            // Gone already.
        }
        if (executable && path.basename(executable) === path.basename(binary)) {
            process.kill(pid, "SIGTERM");
            pids.push(pid);
        }
        fs.rmSync(path.join(dir, file));
    }
    for (let tries = 0; tries < 100 && pids.some((pid) => fs.existsSync(`/proc/${pid}`)); tries++) await sleep(100);
    for (const pid of pids.filter((pid) => fs.existsSync(`/proc/${pid}`))) process.kill(pid, "SIGKILL");
}
