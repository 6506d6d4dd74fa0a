// A local https mirror for the boot script's downloads (etcd releases, apt signing keys): python3's static file
// server behind TLS with a self-signed certificate for 127.0.0.1, which curl trusts through CURL_CA_BUNDLE.
// Hosts download over https only, so a plain http stand-in would prove nothing.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { selfSignedCertificate } from "./openssl";

// A file `<path>.redirect` holding a URL makes GET <path> answer 302 to that URL.
const server = `
import functools, http.server, os, ssl, sys
root, port, cert, key = sys.argv[1:5]

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        redirect = os.path.join(root, self.path.lstrip("/") + ".redirect")
        if os.path.isfile(redirect):
            self.send_response(302)
            self.send_header("Location", open(redirect).read().strip())
            self.end_headers()
            return
        super().do_GET()

httpd = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), functools.partial(Handler, directory=root))
if cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # The handshake happens in each request's thread: a client that never starts one cannot stall the others.
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
httpd.serve_forever()
`;

/** A self-signed certificate for 127.0.0.1 in `dir`: curl trusts it with CURL_CA_BUNDLE=<certificate>. */
export function localCertificate(dir: string): { certificate: string; key: string } {
    const certificate = path.join(dir, "mirror.crt");
    const key = path.join(dir, "mirror.key");
    if (!fs.existsSync(certificate)) {
        selfSignedCertificate(certificate, key, "/CN=127.0.0.1", ["-addext", "subjectAltName=IP:127.0.0.1"]);
    }
    return { certificate, key };
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const probe = net.createServer();
        probe.listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as net.AddressInfo;
            probe.close(() => resolve(port));
        });
    });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function answers(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("error", () => resolve(false));
    });
}

/**
 * Serves the files under `root` at https://127.0.0.1:<port>/ (plain http with `tls` false, as a target that must
 * never be reached), and records the paths it was asked for.
 */
export class HttpsMirror {
    readonly requests: string[] = [];
    readonly certificate: string;
    private readonly key: string;
    private server?: ChildProcess;

    constructor(
        readonly root: string,
        readonly port: number,
        private readonly tls = true,
    ) {
        ({ certificate: this.certificate, key: this.key } = localCertificate(path.dirname(root)));
    }

    url(sub: string): string {
        return `${this.tls ? "https" : "http"}://127.0.0.1:${this.port}/${sub}`;
    }

    async start(): Promise<void> {
        const started = spawn(
            "python3",
            [...["-c", server, this.root, String(this.port)], ...(this.tls ? [this.certificate, this.key] : ["", ""])],
            {
                stdio: ["ignore", "ignore", "pipe"],
            },
        );
        this.server = started;
        started.stderr!.on("data", (chunk: Buffer) => {
            for (const match of chunk.toString().matchAll(/"GET (\S+) HTTP/g)) this.requests.push(match[1]);
        });
        for (let tries = 0; !(await answers(this.port)); tries++) {
            assert.ok(tries < 100 && started.exitCode === null, "the https mirror (python3) did not start");
            await sleep(100);
        }
    }

    stop(): void {
        this.server?.kill();
    }

    /** Requests seen so far (the server logs a request before the client has the whole answer). */
    async settledRequests(): Promise<string[]> {
        await sleep(300);
        return [...this.requests];
    }
}
