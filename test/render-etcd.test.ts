// The etcd member files: config file keys and values, the version compatibility with Debian's etcd 3.4
// (checked against the real binary's flags), the systemd unit (checked by systemd-analyze) and the
// operators' etcdctl environment (read by bash).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { hostFqdn, PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { etcdVersion } from "../config/versions";
import {
    etcdBinDir,
    etcdClientUrls,
    etcdctlEnvPath,
    etcdDataDir,
    etcdDiskMountPoint,
    etcdMembers,
    etcdPki,
    renderEtcdConfig,
    renderEtcdctlEnv,
    renderEtcdFiles,
    renderEtcdUnit,
} from "../render/etcd";
import { configFor, layoutOf } from "./support/config";
import { unitProblems } from "./support/systemd";
import { toolchainBinary } from "./system/support/toolchain";

type EtcdYaml = Record<string, unknown> & {
    "client-transport-security": Record<string, unknown>;
    "peer-transport-security": Record<string, unknown>;
};

function rendered(config: ClusterConfig, member?: PlannedHost, state?: "new" | "existing") {
    const layout = layoutOf(config);
    const host = member ?? etcdMembers(layout)[0];
    const file = renderEtcdConfig(config, layout, host, state);
    return { layout, host, file, yaml: parseYaml(file.content) as EtcdYaml };
}

const defaults = configFor({ cloud: "aliyun" });
const ipAddress = /\b\d{1,3}(\.\d{1,3}){3}\b/;

describe("etcd config file", () => {
    test("members are the masters, or the dedicated etcd hosts when configured", () => {
        assert.deepEqual(
            etcdMembers(layoutOf(defaults)).map((host) => host.name),
            ["master-1", "master-2", "master-3"],
        );
        const dedicated = configFor({ cloud: "aws", etcd: { dedicated: true, count: 5 } });
        assert.deepEqual(
            etcdMembers(layoutOf(dedicated)).map((host) => host.name),
            ["etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5"],
        );
        const worker = layoutOf(defaults).find((host) => host.role === "worker")!;
        assert.throws(() => renderEtcdConfig(defaults, layoutOf(defaults), worker), /does not run an etcd member/);
    });

    test("listens on the member's own address and loopback, advertises host names only (seed 000)", () => {
        for (const member of etcdMembers(layoutOf(defaults))) {
            const { yaml } = rendered(defaults, member);
            const fqdn = hostFqdn(member.name, defaults.network.privateDomain);
            assert.equal(yaml.name, member.name);
            assert.equal(yaml["listen-client-urls"], `https://${member.privateIp}:2379,https://127.0.0.1:2379`);
            assert.equal(yaml["listen-peer-urls"], `https://${member.privateIp}:2380`);
            assert.equal(yaml["advertise-client-urls"], `https://${fqdn}:2379`);
            assert.equal(yaml["initial-advertise-peer-urls"], `https://${fqdn}:2380`);
            assert.equal(yaml["listen-metrics-urls"], "http://127.0.0.1:2381");
            for (const key of ["advertise-client-urls", "initial-advertise-peer-urls", "initial-cluster"]) {
                assert.doesNotMatch(String(yaml[key]), ipAddress, `${key} must use names, not addresses`);
            }
        }
    });

    test("initial cluster: every member by name over https, a per-cluster token, state new unless replacing", () => {
        const config = configFor({ cloud: "aws", etcd: { dedicated: true, count: 5 } });
        const layout = layoutOf(config);
        const { yaml } = rendered(config);
        assert.equal(
            yaml["initial-cluster"],
            etcdMembers(layout)
                .map((host) => `${host.name}=https://${hostFqdn(host.name, config.network.privateDomain)}:2380`)
                .join(","),
        );
        assert.equal(yaml["initial-cluster-token"], `kubeha-${config.network.privateDomain}`);
        assert.equal(yaml["initial-cluster-state"], "new");
        const replacing = rendered(config, etcdMembers(layout)[2], "existing");
        assert.equal(replacing.yaml["initial-cluster-state"], "existing");
        assert.deepEqual(
            { ...replacing.yaml, "initial-cluster-state": "new" },
            rendered(config, etcdMembers(layout)[2]).yaml,
        );
    });

    test("mutual TLS for clients and peers, trusting only the etcd CA", () => {
        const { yaml } = rendered(defaults);
        assert.deepEqual(yaml["client-transport-security"], {
            "cert-file": etcdPki.serverCert,
            "key-file": etcdPki.serverKey,
            "client-cert-auth": true,
            "trusted-ca-file": etcdPki.ca,
        });
        assert.deepEqual(yaml["peer-transport-security"], {
            "cert-file": etcdPki.peerCert,
            "key-file": etcdPki.peerKey,
            "client-cert-auth": true,
            "trusted-ca-file": etcdPki.ca,
        });
        for (const url of String(yaml["listen-client-urls"]).split(",")) assert.match(url, /^https:/);
    });

    test("seed 000 tuning: periodic compaction, request size and quota, from the configuration", () => {
        const { yaml } = rendered(defaults);
        assert.equal(yaml["auto-compaction-mode"], "periodic");
        assert.equal(yaml["auto-compaction-retention"], "1h");
        assert.equal(yaml["max-request-bytes"], 10 * 2 ** 20);
        assert.equal(yaml["quota-backend-bytes"], 8 * 2 ** 30);
        const tuned = configFor({
            cloud: "aliyun",
            etcd: { compactionRetention: "30m", maxRequestBytes: 33554432, quotaBackendBytes: 4294967296 },
        });
        const custom = rendered(tuned).yaml;
        assert.equal(custom["auto-compaction-retention"], "30m");
        assert.equal(custom["max-request-bytes"], 33554432);
        assert.equal(custom["quota-backend-bytes"], 4294967296);
    });

    test("data on the etcd disk, logs to the journal through stderr", () => {
        const { yaml } = rendered(defaults);
        assert.equal(yaml["data-dir"], etcdDataDir);
        assert.ok(etcdDataDir.startsWith(`${etcdDiskMountPoint}/`), "the data dir is on the etcd disk");
        assert.equal(yaml.logger, "zap");
        assert.deepEqual(yaml["log-outputs"], ["stderr"]);
        assert.equal(yaml["pre-vote"], true);
    });

    test("every key is one the etcd release knows (the toolchain's etcd --help): etcd ignores unknown keys", () => {
        const help = spawnSync(toolchainBinary("etcd"), ["--help"], { encoding: "utf8" });
        assert.equal(help.error, undefined);
        const flags = new Set([...`${help.stdout}${help.stderr}`.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]));
        assert.ok(flags.size > 50, "could not read etcd's flags");
        const { yaml } = rendered(defaults);
        const keys: string[] = [];
        for (const [key, value] of Object.entries(yaml)) {
            if (key === "client-transport-security" || key === "peer-transport-security") {
                const prefix = key === "peer-transport-security" ? "peer-" : "";
                keys.push(...Object.keys(value as object).map((inner) => `${prefix}${inner}`));
            } else keys.push(key);
        }
        assert.deepEqual(
            keys.filter((key) => !flags.has(key)),
            [],
        );
    });

    test("the same bytes every time, and none that name the etcd version", () => {
        const first = rendered(defaults).file;
        assert.equal(first.path, "/etc/etcd/etcd.yaml");
        assert.equal(first.mode, "0644");
        assert.match(first.content, /^# etcd member master-1: etcd --config-file \/etc\/etcd\/etcd\.yaml$/m);
        assert.equal(rendered(defaults).file.content, first.content);
        // A changed file restarts its member: a version change must leave the restart to the etcd-upgrade steps.
        for (const file of [first, renderEtcdUnit()]) {
            assert.ok(!file.content.includes(etcdVersion), `${file.path} names etcd ${etcdVersion}`);
        }
    });
});

describe("etcd systemd unit", () => {
    const unit = renderEtcdUnit();

    test("runs the release binary with the config file, restarts always, waits for its disk", () => {
        assert.equal(unit.path, "/etc/systemd/system/etcd.service");
        assert.match(unit.content, /^ExecStart=\/usr\/local\/bin\/etcd --config-file=\/etc\/etcd\/etcd\.yaml$/m);
        assert.match(unit.content, /^Type=notify$/m);
        assert.match(unit.content, /^Restart=always$/m);
        assert.match(unit.content, new RegExp(`^RequiresMountsFor=${etcdDiskMountPoint}$`, "m"));
        assert.match(unit.content, /^TimeoutStartSec=infinity$/m);
        assert.match(unit.content, /^WantedBy=multi-user.target$/m);
    });

    test("systemd-analyze accepts it", () => {
        assert.deepEqual(unitProblems(unit, [`${etcdBinDir}/etcd`]), []);
    });
});

describe("etcdctl environment file", () => {
    const layout = layoutOf(defaults);
    const env = renderEtcdctlEnv(defaults, layout);

    test("bash reads it as the operators' etcdctl settings: every member by name, the health-check client", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-etcdctl-env-"));
        try {
            const file = path.join(dir, "etcdctl.env");
            fs.writeFileSync(file, env.content);
            const result = spawnSync("bash", ["-c", 'set -a; . "$1"; set +a; env', "bash", file], {
                encoding: "utf8",
                env: { PATH: process.env.PATH },
            });
            assert.equal(result.status, 0, result.stderr);
            const read = Object.fromEntries(
                result.stdout
                    .split("\n")
                    .filter((line) => line.startsWith("ETCDCTL_"))
                    .map((line) => line.split(/=(.*)/s).slice(0, 2)),
            );
            assert.deepEqual(read, {
                ETCDCTL_API: "3",
                ETCDCTL_ENDPOINTS: etcdMembers(layout)
                    .map((host) => `https://${hostFqdn(host.name, defaults.network.privateDomain)}:2379`)
                    .join(","),
                ETCDCTL_CACERT: etcdPki.ca,
                ETCDCTL_CERT: etcdPki.healthcheckClientCert,
                ETCDCTL_KEY: etcdPki.healthcheckClientKey,
            });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        assert.equal(env.path, etcdctlEnvPath);
        assert.deepEqual(
            etcdClientUrls(defaults, layout).join(","),
            env.content.match(/^ETCDCTL_ENDPOINTS=(.*)$/m)?.[1],
        );
    });

    test("a member gets its config file, the unit and the environment file", () => {
        const member = etcdMembers(layout)[1];
        assert.deepEqual(
            renderEtcdFiles(defaults, layout, member).map((file) => file.path),
            ["/etc/etcd/etcd.yaml", "/etc/systemd/system/etcd.service", "/etc/etcd/etcdctl.env"],
        );
    });
});
