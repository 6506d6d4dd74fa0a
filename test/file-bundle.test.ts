// Host files travel as a bundle on stdin and are installed by scripts/install-files.sh: exact bytes,
// modes, and nothing rewritten on a second run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { decodeBundle, encodeBundle } from "../render/file-bundle";
import { HostFile } from "../render/host-file";

const script = path.resolve(__dirname, "../scripts/install-files.sh");

const files: HostFile[] = [
    { path: "/etc/etcd/etcd.yaml", mode: "0644", content: "name: master-1\ndata-dir: /var/lib/etcd\n" },
    { path: "/etc/kubernetes/pki/ca.key", mode: "0600", content: "-----BEGIN EC PRIVATE KEY-----\nabc\n" },
    {
        path: "/usr/local/lib/kubeha/step.sh",
        mode: "0755",
        content: "#!/usr/bin/env bash\necho 'quotes \" and $vars'\n",
    },
];

function install(root: string, bundle: string) {
    const result = spawnSync("bash", [script], {
        input: bundle,
        env: { ...process.env, KUBEHA_ROOT: root },
        encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
}

test("a bundle decodes to exactly the files encoded", () => {
    assert.deepEqual(decodeBundle(encodeBundle(files)), files);
});

test("unsafe or repeated paths are refused", () => {
    assert.throws(() => encodeBundle([{ path: "etc/relative", mode: "0644", content: "" }]), /not allowed/);
    assert.throws(() => encodeBundle([{ path: "/etc/../root/x", mode: "0644", content: "" }]), /not allowed/);
    assert.throws(() => encodeBundle([{ path: "/etc/a b", mode: "0644", content: "" }]), /not allowed/);
    assert.throws(() => encodeBundle([files[0], files[0]]), /twice/);
});

test("install-files.sh writes every file byte for byte with its mode, and a second run changes nothing", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-files-"));
    try {
        const first = install(root, encodeBundle(files));
        assert.match(first, /3 file\(s\) changed/);
        assert.doesNotMatch(first, /BEGIN EC PRIVATE KEY/, "content never printed");
        for (const file of files) {
            const target = path.join(root, file.path);
            assert.equal(fs.readFileSync(target, "utf8"), file.content);
            assert.equal((fs.statSync(target).mode & 0o777).toString(8).padStart(4, "0"), file.mode);
        }
        const before = files.map((file) => fs.statSync(path.join(root, file.path)).ino);
        assert.match(install(root, encodeBundle(files)), /0 file\(s\) changed/);
        assert.deepEqual(
            files.map((file) => fs.statSync(path.join(root, file.path)).ino),
            before,
            "unchanged files are not replaced",
        );
        const changed = [
            { ...files[0], content: "name: master-1\n" },
            files[1],
            { ...files[2], mode: "0644" as const },
        ];
        const third = install(root, encodeBundle(changed));
        assert.match(third, /2 file\(s\) changed/);
        assert.match(third, /installed \/etc\/etcd\/etcd.yaml/);
        assert.match(third, /installed \/usr\/local\/lib\/kubeha\/step.sh \(0644\)/);
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
});
