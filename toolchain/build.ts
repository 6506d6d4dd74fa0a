// `npm run -s toolchain`: builds (or reuses) the real binaries the real-component tests run, and prints as its last
// line the absolute path of one bin directory holding them all. Versions come from config/versions.ts and the
// installed @pulumi/* packages, never from a list of their own. Each component is cached in a folder named by its
// version under $KUBEHA_TOOLCHAIN_DIR (default ~/.cache/kubeha/toolchain), so a version change rebuilds only it.
// `--etcd <version>`, `--kubeadm <version>` or `--trivy <version>` builds (or reuses) that release alone, outside the
// default set, and prints its bin directory; `--kubernetes-release <version>` the same for a whole Kubernetes release
// (a lab cluster's upgrade target: test:up's upgrade scope).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
    corednsComponent,
    etcdComponent,
    kubeadmComponent,
    kubernetesComponent,
    kubernetesNodeComponent,
    toolchainComponents,
    trivyComponent,
    type ToolchainComponent,
} from "./components";

const cacheDir = resolve(process.env.KUBEHA_TOOLCHAIN_DIR ?? join(homedir(), ".cache", "kubeha", "toolchain"));
const startedAt = Date.now();

function progress(message: string): void {
    process.stderr.write(`toolchain [${Math.round((Date.now() - startedAt) / 1000)} s]: ${message}\n`);
}

function componentDir(component: ToolchainComponent): string {
    return join(cacheDir, `${component.name}-${component.version}`);
}

/** Builds a component unless its folder is complete; a lock makes concurrent callers wait for one build. */
function ensureBuilt(component: ToolchainComponent): void {
    const dir = componentDir(component);
    const complete = join(dir, ".complete");
    mkdirSync(cacheDir, { recursive: true });
    if (existsSync(complete)) {
        progress(`${component.name} ${component.version}: cached in ${dir}`);
    } else {
        progress(`${component.name} ${component.version}: building (a cold build takes minutes)`);
        const buildStarted = Date.now();
        const script = resolve(__dirname, component.script);
        // flock: a second `npm run toolchain` started meanwhile waits, then finds the folder complete.
        execFileSync(
            "flock",
            [`${dir}.lock`, "bash", "-c", 'test -e "$1" || { bash "$2" && touch "$1"; }', "build", complete, script],
            {
                stdio: ["ignore", process.stderr, process.stderr],
                env: { ...process.env, ...component.environment, OUT: join(dir, "bin"), WORK: join(dir, "work") },
            },
        );
        progress(
            `${component.name} ${component.version}: built in ${Math.round((Date.now() - buildStarted) / 1000)} s`,
        );
    }
    // Checked on every run, cached or not: a stale or damaged cache is refused, not used. Some print their version on
    // stderr (flanneld): both streams count.
    for (const check of component.versionChecks) {
        const binary = join(dir, "bin", check.binary);
        const [command, ...args] = check.runner ? [...check.runner, binary, ...check.args] : [binary, ...check.args];
        const run = spawnSync(command, args, { encoding: "utf8" });
        const printed = `${run.stdout ?? ""}${run.stderr ?? ""}`;
        if (run.error || run.status !== 0 || !printed.includes(check.expect)) {
            rmSync(complete, { force: true });
            throw new Error(
                `${check.binary} ${check.args.join(" ")} printed ${printed.trim()} ` +
                    `(exit ${run.status ?? run.error}), expected ${check.expect}`,
            );
        }
    }
    rmSync(join(dir, "work"), { recursive: true, force: true });
}

/**
 * A Kubernetes release to upgrade a lab cluster to: kubeadm, the control plane, kubectl, the node's binaries and the
 * CoreDNS its kubeadm deploys (`kubeadm config images list`: kubeadm upgrade apply moves CoreDNS to it).
 */
function kubernetesReleaseComponents(version: string): ToolchainComponent[] {
    const kubernetes = kubernetesComponent(`v${version}`);
    ensureBuilt(kubernetes);
    const images = execFileSync(
        join(componentDir(kubernetes), "bin", "kubeadm"),
        ["config", "images", "list", "--kubernetes-version", `v${version}`],
        { encoding: "utf8" },
    );
    const coredns = /\/coredns:v(\d+\.\d+\.\d+)$/m.exec(images);
    if (!coredns) throw new Error(`toolchain: kubeadm ${version} lists no CoreDNS image:\n${images}`);
    return [kubernetes, kubernetesNodeComponent(`v${version}`), corednsComponent(coredns[1])];
}

// Releases outside the default set, built on request: each option, the version it takes, its components.
const extraReleases: Record<
    string,
    { version: RegExp; example: string; components: (version: string) => ToolchainComponent[] }
> = {
    "--etcd": { version: /^3\.\d+\.\d+$/, example: "3.5.35", components: (version) => [etcdComponent(version)] },
    "--kubeadm": { version: /^1\.\d+\.\d+$/, example: "1.37.2", components: (version) => [kubeadmComponent(version)] },
    "--trivy": { version: /^0\.\d+\.\d+$/, example: "0.74.0", components: (version) => [trivyComponent(version)] },
    "--kubernetes-release": { version: /^1\.\d+\.\d+$/, example: "1.37.2", components: kubernetesReleaseComponents },
};

/**
 * One bin directory per set of components: links to each one's binaries, named by the set's versions. Made once per
 * set, in a scratch folder renamed into place, so a test running from it never sees it half made.
 */
function setBinDir(components: ToolchainComponent[]): string {
    const setName = createHash("sha256")
        .update(components.map((c) => `${c.name}-${c.version}`).join("\n"))
        .digest("hex")
        .slice(0, 16);
    const setDir = join(cacheDir, "sets", setName);
    const binDir = join(setDir, "bin");
    if (!existsSync(binDir)) {
        const scratch = `${setDir}.${process.pid}`;
        mkdirSync(join(scratch, "bin"), { recursive: true });
        for (const component of components) {
            const componentBin = join(componentDir(component), "bin");
            for (const binary of readdirSync(componentBin)) {
                symlinkSync(join(componentBin, binary), join(scratch, "bin", binary));
            }
        }
        writeFileSync(join(scratch, "versions.txt"), components.map((c) => `${c.name} ${c.version}\n`).join(""));
        try {
            renameSync(scratch, setDir);
        } catch (error) {
            // Another run made the same set meanwhile: use theirs.
            rmSync(scratch, { recursive: true, force: true });
            if (!existsSync(binDir)) throw error;
        }
    }
    return binDir;
}

const [option, extraVersion] = process.argv.slice(2);
let components: ToolchainComponent[];
if (option === undefined) {
    components = toolchainComponents();
} else {
    const extra = extraReleases[option];
    if (!extra) throw new Error(`toolchain: unknown option ${option} (only ${Object.keys(extraReleases).join(", ")})`);
    if (!extra.version.test(extraVersion ?? ""))
        throw new Error(`toolchain ${option}: an exact version like ${extra.example}, got ${extraVersion}`);
    components = extra.components(extraVersion);
}
components.forEach(ensureBuilt);
const binDir = setBinDir(components);
progress(`ready in ${binDir}`);
process.stdout.write(`${binDir}\n`);
