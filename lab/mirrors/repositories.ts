// The per-lab document root of the https mirror: the cached content linked in (symlinks, nothing copied), then each
// repository's Release written by apt-ftparchive and signed with the lab's apt key (Release.gpg, InRelease), and
// the key published where the hosts fetch it (`<kubernetesApt>/v<minor>/deb/Release.key`, `<containerdApt>/gpg`).
//
//   labDocumentRoot(content, key, dir) → the folder nginx serves
import * as fs from "node:fs";
import * as path from "node:path";
import { MirrorContent } from "./content";
import { AptKey, signRelease } from "./pki";
import { run } from "../command";

export function labDocumentRoot(content: MirrorContent, key: AptKey, dir: string): string {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    // Real folders, a symlink per file: the Release files and signatures below land in the lab's copy only.
    run("cp", ["-as", content.www, dir]);
    // Indexes as real files: apt-ftparchive names a symlinked index by its target's path in the Release file.
    const indexes = run("find", [dir, "-type", "l", "(", "-name", "Packages*", "-o", "-name", "Sources*", ")"]);
    for (const link of indexes.split("\n").filter(Boolean)) {
        const target = fs.readlinkSync(link);
        fs.rmSync(link);
        fs.copyFileSync(target, link);
    }
    for (const release of content.releases) {
        const folder = path.join(dir, release.dir);
        const options = Object.entries(release.fields).flatMap(([field, value]) => [
            "-o",
            `APT::FTPArchive::Release::${field}=${value}`,
        ]);
        const text = run("apt-ftparchive", [...options, "release", "."], { cwd: folder });
        const file = path.join(folder, "Release");
        fs.writeFileSync(file, text);
        signRelease(key, file);
        if (release.keyFile) fs.copyFileSync(key.publicKeyFile, path.join(dir, release.keyFile));
    }
    return dir;
}
