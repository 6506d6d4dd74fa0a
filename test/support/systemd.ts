// Checks a rendered systemd unit with systemd's own parser (`systemd-analyze verify`), offline.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HostFile } from "../../render/host-file";

/**
 * What systemd-analyze reports about the unit (unknown keys, bad values, missing dependencies), one line
 * each. absentBinaries: programs the unit runs that are installed on the cluster's hosts but not here;
 * systemd's "is not executable" report for them is expected and left out. companions: units it refers to
 * (a timer's service), checked alongside.
 */
export function unitProblems(
    unit: HostFile,
    absentBinaries: readonly string[] = [],
    companions: readonly HostFile[] = [],
): string[] {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-unit-"));
    try {
        for (const companion of companions) {
            fs.writeFileSync(path.join(dir, path.basename(companion.path)), companion.content);
        }
        const file = path.join(dir, path.basename(unit.path));
        fs.writeFileSync(file, unit.content);
        const result = spawnSync("systemd-analyze", ["verify", "--man=no", file], {
            encoding: "utf8",
            timeout: 30_000,
        });
        if (result.error) throw result.error;
        const expected = absentBinaries
            .filter((binary) => !fs.existsSync(binary))
            .map((binary) => `Command ${binary} is not executable: No such file or directory`);
        return `${result.stdout}${result.stderr}`
            .split("\n")
            .filter((line) => line.trim() !== "" && !expected.some((message) => line.endsWith(message)));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
