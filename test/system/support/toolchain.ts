// Where tests find the real binaries (etcd 3.6, kubeadm, kube-apiserver, ...): the bin directory
// `npm run -s toolchain` prints as its last line (it builds them on first use, then reuses its cache), or
// $KUBEHA_TOOLCHAIN_BIN when set (the same directory, saved once: `export KUBEHA_TOOLCHAIN_BIN=$(npm run -s
// toolchain | tail -n 1)`). Nothing here knows a version or a build path.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { projectDir } from "../../support/plan";

let binDir: string | undefined;

/** The toolchain's bin directory (asks `npm run -s toolchain` once per process). */
export function toolchainBin(): string {
    if (binDir) return binDir;
    const fromEnvironment = process.env.KUBEHA_TOOLCHAIN_BIN;
    if (fromEnvironment) {
        binDir = fromEnvironment;
    } else {
        // Its progress (a cold build takes tens of minutes) goes to our stderr as it happens.
        const result = spawnSync("npm", ["run", "-s", "toolchain"], {
            cwd: projectDir,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
        });
        if (result.status !== 0) throw new Error(`npm run -s toolchain failed (exit ${result.status})`);
        binDir = result.stdout.trim().split("\n").pop() ?? "";
    }
    if (!path.isAbsolute(binDir) || !fs.statSync(binDir, { throwIfNoEntry: false })?.isDirectory()) {
        throw new Error(`the toolchain's bin directory ${JSON.stringify(binDir)} is not an absolute directory`);
    }
    return binDir;
}

/**
 * The real file of one of the toolchain's binaries. Resolved through the bin directory's link, so a concurrent
 * `npm run toolchain` that rebuilds the directory of links cannot pull it away from a running test.
 */
export function toolchainBinary(name: string): string {
    const link = path.join(toolchainBin(), name);
    if (!fs.existsSync(link)) throw new Error(`the toolchain has no ${name} in ${toolchainBin()}`);
    return fs.realpathSync(link);
}

/**
 * The bin directory of a release outside the default set (`npm run -s toolchain -- --etcd <version>`, `--kubeadm
 * <version>` or `--trivy <version>`): built on first use (minutes on 2 cores), then cached.
 */
export function toolchainRelease(binary: "etcd" | "kubeadm" | "trivy", version: string): string {
    const args = ["run", "-s", "toolchain", "--", `--${binary}`, version];
    const result = spawnSync("npm", args, { cwd: projectDir, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (result.status !== 0) throw new Error(`npm ${args.join(" ")} failed (exit ${result.status})`);
    const dir = result.stdout.trim().split("\n").pop() ?? "";
    if (!path.isAbsolute(dir) || !fs.existsSync(path.join(dir, binary))) {
        throw new Error(`the toolchain printed ${JSON.stringify(dir)}, not a directory holding ${binary} ${version}`);
    }
    return dir;
}
