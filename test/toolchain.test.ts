// The toolchain's build scripts (toolchain/*.sh) are shellcheck-clean like the host scripts; whether they build
// what they claim is checked by the toolchain itself (each binary must report its version) every time it builds.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { labHostVersions } from "../config/versions";
import { toolchainComponents } from "../toolchain/components";

const toolchainDir = path.join(__dirname, "..", "toolchain");

test("every toolchain build script exists and is shellcheck-clean", () => {
    const scripts = [...new Set(toolchainComponents().map((component) => component.script))];
    assert.ok(scripts.length > 0);
    const result = spawnSync("shellcheck", ["--format=gcc", ...scripts], { cwd: toolchainDir, encoding: "utf8" });
    assert.equal(result.error, undefined, "shellcheck must be installed");
    assert.equal(result.stdout + result.stderr, "");
    assert.equal(result.status, 0);
});

test("no two components share a cache folder", () => {
    const folders = toolchainComponents().map((component) => `${component.name}-${component.version}`);
    assert.equal(new Set(folders).size, folders.length);
});

test("no two components make a binary of the same name: all are linked into one bin directory", () => {
    const binaries = toolchainComponents().flatMap((component) => [
        ...new Set(component.versionChecks.map((check) => check.binary)),
    ]);
    assert.deepEqual(
        binaries.filter((binary, i) => binaries.indexOf(binary) !== i),
        [],
    );
});

test("the toolchain builds every version the lab's machines run", () => {
    const versions = toolchainComponents().map((component) => component.version);
    for (const [what, version] of Object.entries(labHostVersions)) {
        assert.ok(versions.includes(`v${version}`), `${what} ${version}`);
    }
});

test("the kubernetes provider plugin built is the one the SDK requests, and package.json pins that SDK exactly", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const manifest = require("../package.json") as { dependencies: Record<string, string> };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdk = require("@pulumi/kubernetes/package.json") as { version: string; pulumi: { version: string } };
    const plugin = toolchainComponents().find((component) => component.name === "pulumi-resource-kubernetes");
    assert.equal(plugin?.version, sdk.pulumi.version);
    // A range would let `npm install` move the SDK to a release whose plugin the Go module proxy does not serve.
    assert.equal(manifest.dependencies["@pulumi/kubernetes"], sdk.version);
});
