// `pulumi up` loads index.ts with ts-node and the project's own TypeScript. A TypeScript that
// ts-node cannot drive (7.x has no JS compiler API) would break every user's first run.
import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";

const projectDir = path.resolve(__dirname, "..");

test("the project's TypeScript is inside the range Pulumi's Node.js SDK supports", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const semver = require(require.resolve("semver", { paths: [require.resolve("@pulumi/pulumi")] }));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumiPackage = require("@pulumi/pulumi/package.json");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const typescript = require("typescript");
    const range = pulumiPackage.peerDependencies.typescript;
    assert.ok(semver.satisfies(typescript.version, range), `typescript ${typescript.version} outside ${range}`);
});

test("Pulumi resolves the project's TypeScript and ts-node, not its vendored fallbacks", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tsutils = require("@pulumi/pulumi/tsutils");
    const { typescriptRequire, tsnodeRequire } = tsutils.typeScriptRequireStrings();
    assert.equal(typescriptRequire, "typescript");
    assert.equal(tsnodeRequire, "ts-node");
    assert.equal(require.resolve(typescriptRequire), require.resolve("typescript", { paths: [projectDir] }));
});

test("ts-node, configured as Pulumi configures it, compiles index.ts", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tsutils = require("@pulumi/pulumi/tsutils");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { create } = require("ts-node");
    const tsconfig = path.join(projectDir, "tsconfig.json");
    const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsconfig);
    const service = create({
        compiler: "typescript",
        transpileOnly: compilerOptions.noCheck,
        project: tsconfig,
        compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", ...compilerOptions },
    });
    const indexPath = path.join(projectDir, "index.ts");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const output: string = service.compile(require("node:fs").readFileSync(indexPath, "utf8"), indexPath);
    assert.match(output, /KubernetesCluster/);
});
