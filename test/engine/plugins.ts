// Which provider plugins the real engine runs: the real one where the toolchain built it or the Pulumi CLI finds it
// installed (`pulumi plugin install` on a machine with internet access), the project's stand-in otherwise.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..", "..");

/** Provider packages the program uses, with the plugin version each SDK requests. */
export function providerPackages(): { name: string; version: string }[] {
    const scope = path.join(repo, "node_modules", "@pulumi");
    return fs
        .readdirSync(scope)
        .map(
            (dir) =>
                JSON.parse(fs.readFileSync(path.join(scope, dir, "package.json"), "utf8")) as {
                    pulumi?: { resource?: boolean; name: string; version: string };
                },
        )
        .filter((manifest) => manifest.pulumi?.resource)
        .map((manifest) => ({ name: manifest.pulumi!.name, version: manifest.pulumi!.version }));
}

/** Plugins installed in a Pulumi home (`<home>/plugins/resource-<name>-v<version>`), as the CLI finds them. */
function installedPlugin(pulumiHome: string | undefined, name: string, version: string): boolean {
    const home = pulumiHome ?? path.join(process.env.HOME ?? "/root", ".pulumi");
    return fs.existsSync(path.join(home, "plugins", `resource-${name}-v${version}`));
}

export interface PluginChoice {
    /** `<package> <version>` of each real plugin, and where it comes from. */
    readonly real: string[];
    readonly standIns: string[];
}

/**
 * Links a stand-in into pluginDir (put it first on PATH) for every package with no real plugin in binDir or in the
 * Pulumi home the CLI will use, and says which ran for each package.
 */
export function choosePlugins(binDir: string, pluginDir: string, pulumiHome?: string): PluginChoice {
    const real: string[] = [];
    const standIns: string[] = [];
    for (const { name, version } of providerPackages()) {
        const plugin = `pulumi-resource-${name}`;
        if (fs.existsSync(path.join(binDir, plugin))) real.push(`${name} ${version} (built by the toolchain)`);
        else if (installedPlugin(pulumiHome, name, version)) real.push(`${name} ${version} (installed)`);
        else {
            fs.symlinkSync(path.join(__dirname, "pulumi-resource-stand-in"), path.join(pluginDir, plugin));
            standIns.push(`${name} ${version}`);
        }
    }
    return { real, standIns };
}

/** The toolchain's bin directory (built or reused): the last line `npm run -s toolchain` prints. */
export function toolchainBin(): string {
    const printed = execFileSync("npm", ["run", "-s", "toolchain"], {
        cwd: repo,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    return printed.trim().split("\n").pop()!;
}
