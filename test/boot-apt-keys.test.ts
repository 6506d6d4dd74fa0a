// The boot script's repositories stage as shipped, against a local https mirror serving real OpenPGP keys made
// here: a signing key is installed only if the file holds exactly the pinned key, and no download ever leaves
// https, redirects included. The real curl and gpg; apt-get and sleep are stand-ins (sleep, so that the
// download retries of a refused URL take no time).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { bootScript } from "../render/cloud-init";
import { freePort, HttpsMirror } from "./support/https-mirror";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-apt-keys-"));
const gnupgHome = path.join(workDir, "gnupg");
const keyrings = path.join(workDir, "keyrings");
const stateDir = path.join(workDir, "state");
const served = path.join(workDir, "https");
const plainServed = path.join(workDir, "http");

function gpg(home: string, args: string[]): string {
    return execFileSync("gpg", ["--batch", "--quiet", ...args], {
        env: { ...process.env, GNUPGHOME: home },
        encoding: "utf8",
    });
}

/** Fingerprints of the primary keys in an armored key file, as gpg reads it. */
function primaryFingerprints(file: string): string[] {
    const home = fs.mkdtempSync(path.join(workDir, "show-"));
    const lines = gpg(home, ["--no-autostart", "--with-colons", "--show-keys", file]).split("\n");
    return lines.flatMap((line, i) => (line.startsWith("pub:") ? [lines[i + 1].split(":")[9]] : []));
}

/** A new Ed25519 signing key in the test's GnuPG home: its fingerprint, and its public key armored. */
function newKey(name: string): { fingerprint: string; armored: string } {
    gpg(gnupgHome, [
        "--passphrase",
        "",
        "--quick-gen-key",
        `${name} <${name}@example.test>`,
        "ed25519",
        "sign",
        "never",
    ]);
    const armored = gpg(gnupgHome, ["--armor", "--export", `${name}@example.test`]);
    const file = path.join(workDir, `${name}.asc`);
    fs.writeFileSync(file, armored);
    const [fingerprint] = primaryFingerprints(file);
    return { fingerprint, armored };
}

describe("the boot script's repositories stage: pinned signing keys, https only", () => {
    const script = path.join(workDir, "host-boot.sh");
    const stubs = path.join(workDir, "bin");
    let mirror: HttpsMirror;
    let plain: HttpsMirror;
    let pinned: { fingerprint: string; armored: string };
    let other: { fingerprint: string; armored: string };

    before(async () => {
        for (const dir of [gnupgHome, keyrings, stateDir, served, plainServed, stubs])
            fs.mkdirSync(dir, { mode: 0o700 });
        pinned = newKey("pinned");
        other = newKey("other");
        fs.writeFileSync(path.join(served, "pinned.asc"), pinned.armored);
        fs.writeFileSync(path.join(served, "other.asc"), other.armored);
        fs.writeFileSync(path.join(served, "both.asc"), pinned.armored + other.armored);
        fs.writeFileSync(path.join(served, "garbage.asc"), "<html>not a key</html>\n");
        // The plain http server has the right key: only the protocol rule can keep the host from taking it.
        fs.writeFileSync(path.join(plainServed, "pinned.asc"), pinned.armored);
        plain = new HttpsMirror(plainServed, await freePort(), false);
        mirror = new HttpsMirror(served, await freePort());
        fs.writeFileSync(path.join(served, "to-http.redirect"), plain.url("pinned.asc"));
        fs.writeFileSync(path.join(served, "to-https.redirect"), mirror.url("pinned.asc"));
        await Promise.all([plain.start(), mirror.start()]);

        const shipped = bootScript()
            .replace("readonly state_dir=/var/lib/kubeha", `readonly state_dir=${stateDir}`)
            .replace("install -d -m 0755 /etc/apt/keyrings", `install -d -m 0755 ${keyrings}`);
        assert.ok(shipped.includes(stateDir) && shipped.includes(keyrings));
        fs.writeFileSync(script, shipped, { mode: 0o755 });
        fs.writeFileSync(path.join(stubs, "apt-get"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        fs.writeFileSync(path.join(stubs, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    });

    after(() => {
        mirror?.stop();
        plain?.stop();
        execFileSync("gpgconf", ["--kill", "all"], { env: { ...process.env, GNUPGHOME: gnupgHome } });
        fs.rmSync(workDir, { recursive: true, force: true });
    });

    /** The stage with one `keyring fingerprint url` line per key, as the user-data passes them. */
    function runStage(lines: string[], moreStubs?: string): Promise<{ status: number | null; stderr: string }> {
        return new Promise((resolve) => {
            const child = spawn("bash", [script], {
                cwd: workDir,
                env: {
                    PATH: [moreStubs, stubs, process.env.PATH].filter(Boolean).join(":"),
                    TMPDIR: workDir,
                    CURL_CA_BUNDLE: mirror.certificate,
                    KUBEHA_STAGES: "repositories",
                    KUBEHA_APT_KEYS: lines.join("\n"),
                },
                stdio: ["ignore", "ignore", "pipe"],
                detached: true,
            });
            let stderr = "";
            child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stderr });
            });
        });
    }

    const keyring = (name: string) => path.join(keyrings, name);
    const leftovers = () => fs.readdirSync(keyrings).filter((file) => !file.endsWith(".asc"));

    test("installs the pinned key, as gpg exports it, readable by apt (0644), following an https redirect", async () => {
        const run = await runStage([
            `${keyring("direct.asc")} ${pinned.fingerprint} ${mirror.url("pinned.asc")}`,
            `${keyring("redirected.asc")} ${pinned.fingerprint} ${mirror.url("to-https")}`,
        ]);
        assert.equal(run.status, 0, run.stderr);
        for (const name of ["direct.asc", "redirected.asc"]) {
            assert.deepEqual(primaryFingerprints(keyring(name)), [pinned.fingerprint]);
            assert.equal(fs.statSync(keyring(name)).mode & 0o777, 0o644);
        }
        assert.deepEqual(leftovers(), []);
    });

    test("refuses another key, the pinned key beside another, and a file that holds no key", async () => {
        for (const [file, found] of [
            ["other.asc", other.fingerprint],
            ["both.asc", `${pinned.fingerprint} ${other.fingerprint}`],
            ["garbage.asc", "no key"],
        ]) {
            const target = keyring(`refused-${file}`);
            const run = await runStage([`${target} ${pinned.fingerprint} ${mirror.url(file)}`]);
            assert.notEqual(run.status, 0, file);
            assert.match(
                run.stderr,
                new RegExp(
                    `refusing the signing key from \\S+/${file}: expected ${pinned.fingerprint}, found ${found}`,
                ),
            );
            assert.ok(!fs.existsSync(target), `${file} was installed`);
            assert.equal(fs.readFileSync(path.join(stateDir, "boot.failed"), "utf8"), "repositories\n");
        }
        assert.deepEqual(leftovers(), []);
    });

    test("a refused key leaves the installed one as it was", async () => {
        const target = keyring("kept.asc");
        assert.equal((await runStage([`${target} ${pinned.fingerprint} ${mirror.url("pinned.asc")}`])).status, 0);
        const before = fs.readFileSync(target, "utf8");
        const run = await runStage([`${target} ${pinned.fingerprint} ${mirror.url("other.asc")}`]);
        assert.notEqual(run.status, 0);
        assert.equal(fs.readFileSync(target, "utf8"), before);
    });

    test("each line is taken whole: a URL is one argument, never split into words or expanded as a glob", async () => {
        // A curl stand-in that logs its arguments and answers every download with the pinned key.
        const logged = path.join(workDir, "curl.log");
        const curlStubs = path.join(workDir, "curl-bin");
        fs.mkdirSync(curlStubs);
        fs.writeFileSync(
            path.join(curlStubs, "curl"),
            `#!/bin/bash\nprintf '%s\\n' "$@" "--" >>"${logged}"\n` +
                `while (($#)); do [[ $1 == -o ]] && cp "${path.join(served, "pinned.asc")}" "$2"; shift; done\n`,
            { mode: 0o755 },
        );
        // What the glob would match, relative to the script's working directory, were it expanded.
        fs.mkdirSync(path.join(workDir, "https:", "mirror.example"), { recursive: true });
        fs.writeFileSync(path.join(workDir, "https:", "mirror.example", "x-glob-bait"), "");
        const [first, second] = [keyring("split.asc"), keyring("glob.asc")];
        const urls = ["https://mirror.example/a b/Release.key", "https://mirror.example/x-*"];
        const run = await runStage(
            [`${first} ${pinned.fingerprint} ${urls[0]}`, `${second} ${pinned.fingerprint} ${urls[1]}`],
            curlStubs,
        );
        assert.equal(run.status, 0, run.stderr);
        const calls = fs
            .readFileSync(logged, "utf8")
            .split("--\n")
            .filter(Boolean)
            .map((call) => call.trimEnd().split("\n"));
        assert.deepEqual(
            calls.map((args) => args.at(-1)),
            urls,
        );
        assert.deepEqual(primaryFingerprints(first), [pinned.fingerprint]);
        assert.deepEqual(primaryFingerprints(second), [pinned.fingerprint]);
    });

    test("never leaves https: neither a redirect to http nor an http URL is followed", async () => {
        for (const url of [mirror.url("to-http"), plain.url("pinned.asc")]) {
            const target = keyring("over-http.asc");
            const run = await runStage([`${target} ${pinned.fingerprint} ${url}`]);
            assert.notEqual(run.status, 0, url);
            assert.match(run.stderr, /Protocol "http" not supported or disabled/);
            assert.ok(!fs.existsSync(target));
        }
        assert.deepEqual(await plain.settledRequests(), [], "the plain http server was never asked");
    });
});
