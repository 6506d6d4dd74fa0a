// The lab machines' shared base image (lab/base-image.sh): built once per version of that script into
// `<cache>/base-<hash>/rootfs`, then reused. debootstrap takes its packages from the Debian mirror this machine's
// own apt uses (read from /etc/apt), so no registry host is written into the project.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { labCacheDir } from "./paths";

const script = join(__dirname, "base-image.sh");
export const baseImageSuite = "bookworm";

/** The cache folder of the current base-image.sh: a change to the script builds a new image beside the old one. */
export function baseImageDir(cacheDir = labCacheDir): string {
    const hash = createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 16);
    return join(cacheDir, `base-${hash}`);
}

/** The root filesystem machines boot from (the overlays' lower layer); present once `.complete` is. */
export function baseRootfs(cacheDir = labCacheDir): string {
    return join(baseImageDir(cacheDir), "rootfs");
}

export function baseImageReady(cacheDir = labCacheDir): boolean {
    return existsSync(join(baseImageDir(cacheDir), ".complete"));
}

/** One apt source: its URIs, suites and components (one-line `deb` entries and deb822 `.sources` stanzas alike). */
interface AptSource {
    readonly uris: string[];
    readonly suites: string[];
    readonly components: string[];
}

/** The apt sources configured on this machine (binary `deb` entries only). */
export function hostAptSources(etcApt = "/etc/apt"): AptSource[] {
    const sources: AptSource[] = [];
    const files = [join(etcApt, "sources.list")];
    const listDir = join(etcApt, "sources.list.d");
    if (existsSync(listDir)) files.push(...readdirSync(listDir).map((name) => join(listDir, name)));
    for (const file of files) {
        if (!existsSync(file)) continue;
        const text = readFileSync(file, "utf8");
        if (file.endsWith(".list")) {
            for (const line of text.split("\n")) {
                // deb [options] uri suite component...
                const match = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
                if (match) sources.push({ uris: [match[1]], suites: [match[2]], components: match[3].split(/\s+/) });
            }
        } else if (file.endsWith(".sources")) {
            for (const stanza of text.split(/\n\s*\n/)) {
                const fields = new Map<string, string>();
                for (const line of stanza.split("\n")) {
                    const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
                    if (match) fields.set(match[1].toLowerCase(), match[2].trim());
                }
                const words = (key: string) => (fields.get(key) ?? "").split(/\s+/).filter(Boolean);
                if (!words("types").includes("deb") || fields.get("enabled") === "no") continue;
                sources.push({ uris: words("uris"), suites: words("suites"), components: words("components") });
            }
        }
    }
    return sources;
}

/** The mirror this machine's apt takes `suite`'s main component from (the one debootstrap uses too). */
export function hostDebianMirror(suite = baseImageSuite, etcApt = "/etc/apt"): string {
    const source = hostAptSources(etcApt).find(
        (candidate) => candidate.suites.includes(suite) && candidate.components.includes("main"),
    );
    if (!source || source.uris.length === 0) {
        throw new Error(
            `lab: no apt source on this machine serves ${suite} main (looked in ${etcApt}); debootstrap needs one`,
        );
    }
    return source.uris[0];
}

/**
 * Builds the base image unless it is cached (concurrent callers wait on a lock for one build) and returns its
 * rootfs. Progress goes to stderr; a cold build takes a few minutes.
 */
export function ensureBaseImage(cacheDir = labCacheDir): string {
    const dir = baseImageDir(cacheDir);
    if (!baseImageReady(cacheDir)) {
        for (const tool of ["debootstrap", "systemd-nspawn"]) {
            try {
                execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
            } catch {
                throw new Error(`lab: ${tool} is missing (apt-get install debootstrap systemd-container)`);
            }
        }
        const started = Date.now();
        process.stderr.write(`base-image: building ${dir} (a cold build takes 2-4 minutes)\n`);
        execFileSync("bash", [script, dir, hostDebianMirror()], { stdio: ["ignore", process.stderr, process.stderr] });
        process.stderr.write(`base-image: ready after ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
    return join(dir, "rootfs");
}

if (require.main === module) {
    // `node -r ts-node/register/transpile-only lab/base-image.ts`: builds (or finds) the image, prints its rootfs.
    console.log(ensureBaseImage());
}
