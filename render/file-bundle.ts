// The bundle that carries a host's files over SSH (stdin of the files step, read by
// scripts/install-files.sh): one line per file, `<mode> <absolute path> <base64 content>`.
import { FileMode, HostFile } from "./host-file";

const modes: readonly FileMode[] = ["0600", "0640", "0644", "0755"];
/** Paths the install script can take safely: absolute, no spaces, no `..`. */
const safePath = /^\/(?!.*\/\.\.?(\/|$))[A-Za-z0-9._/@+-]+$/;

export function encodeBundle(files: readonly HostFile[]): string {
    const seen = new Set<string>();
    return files
        .map((file) => {
            if (!safePath.test(file.path)) throw new Error(`host file path not allowed: ${JSON.stringify(file.path)}`);
            if (seen.has(file.path)) throw new Error(`host file listed twice: ${file.path}`);
            seen.add(file.path);
            return `${file.mode} ${file.path} ${Buffer.from(file.content, "utf8").toString("base64")}\n`;
        })
        .join("");
}

export function decodeBundle(bundle: string): HostFile[] {
    return bundle
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => {
            const [mode, path, content = ""] = line.split(" ");
            if (!modes.includes(mode as FileMode) || !safePath.test(path)) {
                throw new Error(`malformed bundle line: ${line.slice(0, 80)}`);
            }
            return { mode: mode as FileMode, path, content: Buffer.from(content, "base64").toString("utf8") };
        });
}

/**
 * The bundle in a files step's stdin, which carries scripts/install-files.sh first (run by `bash -s`):
 * everything after the script's last line, the call of its function.
 */
export function bundleInStdin(stdin: string): string {
    const at = stdin.lastIndexOf(installerCall);
    if (at < 0) throw new Error("a files step's stdin starts with scripts/install-files.sh");
    return stdin.slice(at + installerCall.length);
}

/** Whether a step's stdin is install-files.sh followed by a bundle. */
export function carriesBundle(stdin: string): boolean {
    return stdin.startsWith("#!") && stdin.includes(installerCall);
}

const installerCall = "\ninstall_files\n";
