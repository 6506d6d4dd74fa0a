// Pulumi.yaml's config block and the configuration reference (docs/configuration.md) stay in step with the schema.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configSchema } from "../config/schema";

const projectDir = path.resolve(__dirname, "..");
const declared = (
    parseYaml(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as {
        config: Record<string, { type?: string; description?: string; default?: unknown; items?: { type: string } }>;
    }
).config;
/** What the schema fills in when only the cloud is set (cloud-specific defaults stay unset). */
const schemaDefaults = configSchema.parse({ cloud: "aws" }) as Record<string, unknown>;

type Introspectable = z.ZodType & {
    def: { type: string; innerType?: Introspectable; shape?: Record<string, Introspectable> };
};

function unwrap(schema: Introspectable): Introspectable {
    return schema.def.innerType ? unwrap(schema.def.innerType) : schema;
}

/** Every configurable key path, nested objects flattened with dots. */
function leafPaths(schema: Introspectable, prefix = ""): string[] {
    const shape = unwrap(schema).def.shape;
    if (!shape || (prefix !== "" && unwrap(schema).def.type !== "object")) return [prefix];
    return Object.entries(shape).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

test("Pulumi.yaml declares exactly the schema's keys that are required or have a default", () => {
    // The CLI refuses a stack that lacks a declared key with no default ("missing configuration value"), so an
    // optional key without a default (zones) must stay undeclared.
    const required = (key: string) => key === "cloud" || schemaDefaults[key] !== undefined;
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(configSchema.shape).filter(required).sort());
});

test("every declared key has a description, and its default is the schema's", () => {
    for (const [key, declaration] of Object.entries(declared)) {
        assert.ok(declaration.description, `${key} has no description`);
        // The cloud is required: neither the schema nor Pulumi.yaml may pick one.
        const expected = key === "cloud" ? undefined : schemaDefaults[key];
        assert.deepEqual(declaration.default, expected, `default of ${key}`);
    }
});

test("declared types match the values the schema takes", () => {
    for (const [key, declaration] of Object.entries(declared)) {
        const kind = unwrap((configSchema.shape as Record<string, Introspectable>)[key]).def.type;
        const types: Record<string, string> = {
            string: "string",
            enum: "string",
            number: "integer",
            boolean: "boolean",
            array: "array",
        };
        const expected = types[kind];
        assert.equal(declaration.type, expected, `type of ${key} (schema: ${kind})`);
        if (expected === "array") assert.equal(declaration.items?.type, "string", `items of ${key}`);
    }
});

/** The keys named in the first column of the reference's table (the table whose header is `| key | ...`). */
function documentedKeys(page: string): string[] {
    const start = page.search(/^\| key\s*\|/m);
    assert.ok(start >= 0, "docs/configuration.md has no table with a key column");
    const rest = page.slice(start);
    const end = rest.search(/\n(?!\|)/);
    const table = end < 0 ? rest : rest.slice(0, end);
    return [...table.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((match) => match[1]);
}

test("the configuration reference (docs/configuration.md) has a row for every key, and only for real keys", () => {
    const page = fs.readFileSync(path.join(projectDir, "docs", "configuration.md"), "utf8");
    const documented = documentedKeys(page);
    const keys = leafPaths(configSchema as unknown as Introspectable);
    assert.deepEqual(
        documented.filter((key) => !keys.includes(key)),
        [],
        "rows that name no key of config/schema.ts",
    );
    assert.deepEqual(
        keys.filter((key) => !documented.includes(key)),
        [],
        "keys of config/schema.ts without a row",
    );
    assert.equal(new Set(documented).size, documented.length, "a key has two rows");
});
