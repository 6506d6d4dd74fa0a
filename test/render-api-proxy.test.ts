// The local API proxy's nginx config and systemd unit: listen address, upstreams by name, failure
// detection and timeouts (seed 000), the balancing method, and the unit checked by systemd-analyze.
// nginx itself runs the config in test/system/api-proxy.test.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { hostFqdn } from "../config/layout";
import { renderApiProxyConfig, renderApiProxyFiles, renderApiProxyUnit } from "../render/api-proxy";
import { configFor, layoutOf } from "./support/config";
import { unitProblems } from "./support/systemd";

/** The nginx directives of one block (`upstream kube_apiservers`, `server`), without comments. */
function block(content: string, opening: RegExp): string[] {
    const lines = content.split("\n").map((line) => line.replace(/#.*/, "").trim());
    const start = lines.findIndex((line) => opening.test(line));
    assert.ok(start >= 0, `no block ${opening}`);
    const end = lines.indexOf("}", start);
    return lines.slice(start + 1, end).filter((line) => line !== "");
}

const defaults = configFor({ cloud: "aliyun" });

describe("API proxy nginx config", () => {
    test("listens on loopback at the configured port, never on the apiserver's 6443", () => {
        const standard = renderApiProxyConfig(defaults, layoutOf(defaults)).content;
        assert.deepEqual(
            block(standard, /^server \{$/).filter((line) => line.startsWith("listen")),
            ["listen 127.0.0.1:8443 reuseport;"],
        );
        const moved = configFor({ cloud: "aliyun", network: { apiProxyPort: 16443 } });
        const content = renderApiProxyConfig(moved, layoutOf(moved)).content;
        assert.deepEqual(
            block(content, /^server \{$/).filter((line) => line.startsWith("listen")),
            ["listen 127.0.0.1:16443 reuseport;"],
        );
        assert.doesNotMatch(content, /listen[^;]*6443;/);
    });

    test("every master is an upstream, by name, on 6443, out of rotation for 3s after one failure (seed 000)", () => {
        const config = configFor({ cloud: "aws", masters: { count: 5 }, network: { privateDomain: "corp.example" } });
        const layout = layoutOf(config);
        const servers = block(renderApiProxyConfig(config, layout).content, /^upstream kube_apiservers \{$/).filter(
            (line) => line.startsWith("server "),
        );
        assert.deepEqual(
            servers,
            layout
                .filter((host) => host.role === "master")
                .map((host) => `server ${hostFqdn(host.name, "corp.example")}:6443 max_fails=1 fail_timeout=3s;`),
        );
        assert.equal(servers.length, 5);
    });

    test("balances by least connections in a shared zone, not by client address (every client is 127.0.0.1)", () => {
        const upstream = block(renderApiProxyConfig(defaults, layoutOf(defaults)).content, /^upstream kube_apiservers/);
        assert.ok(upstream.includes("least_conn;"));
        assert.ok(upstream.some((line) => /^zone kube_apiservers \d+k;$/.test(line)));
        assert.ok(!upstream.some((line) => line.startsWith("hash")), "hash $remote_addr pins a node to one apiserver");
    });

    test("fails over quickly on connect, keeps long watches open (seed 000: proxy_timeout 3000s)", () => {
        const server = block(renderApiProxyConfig(defaults, layoutOf(defaults)).content, /^server \{$/);
        assert.ok(server.includes("proxy_connect_timeout 1s;"));
        assert.ok(server.includes("proxy_timeout 3000s;"));
        assert.ok(server.includes("proxy_pass kube_apiservers;"));
    });

    test("its own nginx.conf: loads the stream module by its Debian/Ubuntu path, foreground, logs to the journal", () => {
        const file = renderApiProxyConfig(defaults, layoutOf(defaults));
        assert.equal(file.path, "/etc/kubeha/api-proxy/nginx.conf");
        assert.ok(!file.path.startsWith("/etc/nginx/"), "not Debian's default configuration");
        const module = /^load_module (\S+);$/m.exec(file.content)?.[1];
        assert.equal(module, "/usr/lib/nginx/modules/ngx_stream_module.so");
        assert.ok(fs.existsSync(module), `${module} is missing here: install libnginx-mod-stream`);
        assert.match(file.content, /^daemon off;$/m);
        assert.match(file.content, /^error_log stderr/m);
        assert.match(file.content, /^pid \/run\/kube-apiserver-proxy\/nginx\.pid;$/m);
    });

    test("the same file on every node, so it depends only on the masters", () => {
        const layout = layoutOf(defaults);
        const more = configFor({ cloud: "aliyun", workers: { count: 40 } });
        assert.equal(
            renderApiProxyConfig(defaults, layout).content,
            renderApiProxyConfig(more, layoutOf(more)).content,
        );
        assert.throws(
            () =>
                renderApiProxyConfig(
                    defaults,
                    layout.filter((host) => host.role !== "master"),
                ),
            /no master/,
        );
    });
});

describe("API proxy systemd unit", () => {
    const unit = renderApiProxyUnit();
    const check = "/usr/sbin/nginx -t -e stderr -c /etc/kubeha/api-proxy/nginx.conf";

    test("checks the config before every start and reload, runs nginx on it, restarts always", () => {
        assert.equal(unit.path, "/etc/systemd/system/kube-apiserver-proxy.service");
        assert.match(unit.content, new RegExp(`^ExecStartPre=${check}$`, "m"));
        assert.match(
            unit.content,
            /^ExecStart=\/usr\/sbin\/nginx -e stderr -c \/etc\/kubeha\/api-proxy\/nginx\.conf$/m,
        );
        assert.match(unit.content, new RegExp(`^ExecReload=${check}$`, "m"));
        assert.match(unit.content, /^Restart=always$/m);
        assert.match(unit.content, /^StartLimitIntervalSec=0$/m);
        assert.match(unit.content, /^RuntimeDirectory=kube-apiserver-proxy$/m);
    });

    test("starts before the kubelet, at boot", () => {
        assert.match(unit.content, /^Before=kubelet\.service$/m);
        assert.match(unit.content, /^WantedBy=multi-user\.target$/m);
    });

    test("systemd-analyze accepts it", () => {
        assert.deepEqual(unitProblems(unit), []);
    });

    test("a node gets the config and the unit", () => {
        assert.deepEqual(
            renderApiProxyFiles(defaults, layoutOf(defaults)).map((file) => [file.path, file.mode]),
            [
                ["/etc/kubeha/api-proxy/nginx.conf", "0644"],
                ["/etc/systemd/system/kube-apiserver-proxy.service", "0644"],
            ],
        );
    });
});
