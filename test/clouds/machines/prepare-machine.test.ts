// scripts/prepare-machine.sh, the checks of a machine's preparation step, run for real in a private mount namespace
// (unshare -m, root only) with /etc/os-release, /var/lib and /run replaced (nothing lands on this machine): it refuses an
// unsupported OS, another cluster's machine and an etcd member without its disk, and marks a good machine as this
// cluster's, again and again.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { projectDir } from "../../support/plan";

const script = path.join(projectDir, "scripts", "prepare-machine.sh");
const root = process.getuid?.() === 0 && spawnSync("unshare", ["--version"]).status === 0;

const ubuntu = 'ID=ubuntu\nVERSION_ID="24.04"\n';
const debian = 'ID=debian\nVERSION_ID="12"\n';
const jammy = 'ID=ubuntu\nVERSION_ID="22.04"\n';

interface Machine {
    osRelease: string;
    /** Content of /var/lib/kubeha/cluster before the run. */
    marker?: string;
    /** Files under /var/lib/etcd before the run. */
    etcdFiles?: string[];
    /** Whether /var/lib/etcd is a mount point. */
    etcdMounted?: boolean;
    /** Whether systemd-resolved's resolv.conf exists (default: it does). */
    resolved?: boolean;
    env: Record<string, string>;
}

/** Runs the script in a mount namespace shaped like `machine`; returns its status, stderr and the marker after. */
function prepare(machine: Machine): { status: number | null; stderr: string; marker: string | undefined } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-prepare-"));
    try {
        fs.writeFileSync(path.join(dir, "os-release"), machine.osRelease);
        fs.mkdirSync(path.join(dir, "kubeha"));
        fs.mkdirSync(path.join(dir, "etcd"));
        if (machine.marker !== undefined) fs.writeFileSync(path.join(dir, "kubeha", "cluster"), `${machine.marker}\n`);
        for (const file of machine.etcdFiles ?? []) fs.mkdirSync(path.join(dir, "etcd", file), { recursive: true });
        // Everything inside the namespace: /var/lib is a tmpfs there, so nothing lands on this machine's disk.
        const setup = [
            "set -e",
            `mount --bind ${dir}/os-release /etc/os-release`,
            "mount -t tmpfs none /var/lib",
            "mount -t tmpfs none /run",
            ...(machine.resolved === false
                ? []
                : ["mkdir -p /run/systemd/resolve", "touch /run/systemd/resolve/resolv.conf"]),
            "mkdir -p /var/lib/kubeha /var/lib/etcd",
            `mount --bind ${dir}/kubeha /var/lib/kubeha`,
            // A bind mount of a directory is a mount point (findmnt sees it); without it, a plain directory.
            machine.etcdMounted ? `mount --bind ${dir}/etcd /var/lib/etcd` : `cp -a ${dir}/etcd/. /var/lib/etcd/`,
            `bash ${script}`,
        ].join("\n");
        const result = spawnSync("unshare", ["-m", "--propagation", "private", "bash", "-c", setup], {
            encoding: "utf8",
            env: { PATH: process.env.PATH, ...machine.env },
        });
        const markerFile = path.join(dir, "kubeha", "cluster");
        return {
            status: result.status,
            stderr: result.stderr,
            marker: fs.existsSync(markerFile) ? fs.readFileSync(markerFile, "utf8").trim() : undefined,
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("scripts/prepare-machine.sh", { skip: root ? false : "needs root and unshare" }, () => {
    const env = { KUBEHA_CLUSTER: "kubeha-prod" };

    test("refuses an operating system other than Ubuntu 24.04 and Debian 12, naming it", () => {
        const run = prepare({ osRelease: jammy, env });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /REFUSED .*'ubuntu 22\.04'.*Ubuntu 24\.04 and Debian 12 only/s);
        assert.equal(run.marker, undefined);
    });

    test("refuses a machine without systemd-resolved", () => {
        const run = prepare({ osRelease: debian, resolved: false, env });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /systemd-resolved is not running/);
    });

    test("takes Debian 12", () => {
        const run = prepare({ osRelease: debian, env });
        assert.equal(run.status, 0, run.stderr);
        assert.equal(run.marker, "kubeha-prod");
    });

    test("refuses a machine of another kubeha cluster", () => {
        const run = prepare({ osRelease: ubuntu, marker: "kubeha-staging", env });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /belongs to the kubeha cluster 'kubeha-staging'/);
        assert.equal(run.marker, "kubeha-staging");
    });

    test("refuses an etcd member without a disk mounted at /var/lib/etcd", () => {
        const run = prepare({ osRelease: ubuntu, env: { ...env, KUBEHA_ETCD_DISK: "/var/lib/etcd" } });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /nothing is mounted at \/var\/lib\/etcd/);
    });

    test("refuses a machine with another cluster's etcd data", () => {
        const run = prepare({ osRelease: ubuntu, etcdMounted: true, etcdFiles: ["member"], env });
        assert.equal(run.status, 1);
        assert.match(run.stderr, /already runs a cluster that is not this one \(\/var\/lib\/etcd\/member exists\)/);
    });

    test("marks a good machine as this cluster's, and accepts it again", () => {
        const first = prepare({
            osRelease: ubuntu,
            etcdMounted: true,
            env: { ...env, KUBEHA_ETCD_DISK: "/var/lib/etcd" },
        });
        assert.equal(first.status, 0, first.stderr);
        assert.equal(first.marker, "kubeha-prod");
        const again = prepare({
            osRelease: ubuntu,
            marker: "kubeha-prod",
            etcdMounted: true,
            etcdFiles: ["data/member"],
            env: { ...env, KUBEHA_ETCD_DISK: "/var/lib/etcd" },
        });
        assert.equal(again.status, 0, again.stderr);
    });
});

// scripts/reset-machine.sh's guards, in the same kind of namespace: a machine without this cluster's mark is not
// touched (its whole reset runs on the lab's plain machines: test/up, machines-lab).
describe("scripts/reset-machine.sh leaves alone", { skip: root ? false : "needs root and unshare" }, () => {
    const reset = path.join(projectDir, "scripts", "reset-machine.sh");
    function resetRun(marker: string | undefined): { status: number | null; stderr: string; left: string[] } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-reset-"));
        try {
            fs.mkdirSync(path.join(dir, "kubeha"));
            fs.mkdirSync(path.join(dir, "kubernetes"));
            fs.writeFileSync(path.join(dir, "kubernetes", "admin.conf"), "kept\n");
            if (marker !== undefined) fs.writeFileSync(path.join(dir, "kubeha", "cluster"), `${marker}\n`);
            const setup = [
                "set -e",
                "mount -t tmpfs none /var/lib",
                "mkdir -p /var/lib/kubeha",
                `mount --bind ${dir}/kubeha /var/lib/kubeha`,
                `bash ${reset}`,
            ].join("\n");
            const result = spawnSync("unshare", ["-m", "-n", "--propagation", "private", "bash", "-c", setup], {
                encoding: "utf8",
                env: {
                    PATH: process.env.PATH,
                    KUBEHA_CLUSTER: "kubeha-prod",
                    KUBEHA_PATHS: `${dir}/kubernetes`,
                    KUBEHA_UNITS: "kubelet.service",
                },
            });
            return {
                status: result.status,
                stderr: result.stderr,
                left: [...fs.readdirSync(path.join(dir, "kubeha")), ...fs.readdirSync(path.join(dir, "kubernetes"))],
            };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    test("a machine never prepared, or reset already (no mark): nothing removed, success", () => {
        const run = resetRun(undefined);
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /nothing of kubeha here/);
        assert.deepEqual(run.left, ["admin.conf"]);
    });

    test("a machine of another kubeha cluster: nothing removed, success (the destroy goes on)", () => {
        const run = resetRun("kubeha-staging");
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stderr, /left alone: it belongs to the kubeha cluster 'kubeha-staging'/);
        assert.deepEqual(run.left.sort(), ["admin.conf", "cluster"]);
    });
});
