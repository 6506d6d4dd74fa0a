// The policies in docs/permissions/ (what the identity that runs `pulumi up` needs) against what the program
// really creates: every resource type and provider function in the offline plans, and every one the code can
// create, has its row of API actions (test/support/cloud-actions.ts); each policy grants exactly the actions of
// the rows its cloud uses; the names its scoped statements allow are the names the program gives; and
// docs/permissions.md shows the policies as they are.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { actionTables, Cloud } from "./support/cloud-actions";
import { plan, projectDir } from "./support/plan";

/** Plans that between them create every kind of resource: dedicated etcd (its own backup role), Alibaba Cloud DNS. */
const variants: Record<Cloud, { stack: string; config: Record<string, unknown> }> = {
    aliyun: {
        stack: "dev",
        config: { "kubeha:apiDns": { domain: "example.com" }, "kubeha:etcd": { dedicated: true } },
    },
    aws: {
        stack: "aws-dev",
        config: { "kubeha:etcd": { dedicated: true }, "kubeha:network": { natGateways: "per-zone" } },
    },
};
const packageOf: Record<Cloud, string> = { aws: "aws", aliyun: "alicloud" };

interface Statement {
    Effect: string;
    Action: string | string[];
    Resource: string | string[];
}
interface Policy {
    Version: string;
    Statement: Statement[];
}

function policyText(cloud: Cloud): string {
    return fs.readFileSync(path.join(projectDir, "docs", "permissions", `${cloud}.json`), "utf8");
}
function policy(cloud: Cloud): Policy {
    return JSON.parse(policyText(cloud)) as Policy;
}
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

/** Tokens of the resources and provider functions a plan of the cloud's variant records. */
function plannedTokens(cloud: Cloud): Set<string> {
    const result = plan(variants[cloud]);
    const prefix = `${packageOf[cloud]}:`;
    return new Set(
        [...result.resources.map((resource) => resource.type), ...result.invokes.map((invoke) => invoke.token)].filter(
            (token) => token.startsWith(prefix),
        ),
    );
}

/** The program's own source files (not the tests, the plan's mocks, the lab or the toolchain). */
function programSources(dir = projectDir): string[] {
    const skipped = new Set(["node_modules", "test", "plan", "lab", "toolchain", "bench", "out", ".git"]);
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) return skipped.has(entry.name) ? [] : programSources(full);
        return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
    });
}

const lowerFirst = (name: string) => name[0].toLowerCase() + name.slice(1);

/**
 * Tokens of every `new <package>.<module>.<Resource>(` and `<package>[.<module>].get<X>[Output](` in the code, line
 * breaks allowed around the dots (as prettier writes long chains).
 */
function codeTokens(cloud: Cloud): Set<string> {
    const pkg = packageOf[cloud];
    const tokens = new Set<string>();
    for (const file of programSources()) {
        const code = fs.readFileSync(file, "utf8");
        for (const [, mod, name] of code.matchAll(
            new RegExp(`\\bnew\\s+${pkg}\\s*\\.\\s*([a-z0-9]+)\\s*\\.\\s*([A-Z][A-Za-z0-9]*)\\s*\\(`, "g"),
        )) {
            tokens.add(`${pkg}:${mod}/${lowerFirst(name)}:${name}`);
        }
        const invoke = new RegExp(
            `\\b${pkg}\\s*\\.\\s*(?:([a-z0-9]+)\\s*\\.\\s*)?(get[A-Z][A-Za-z0-9]*?)(?:Output)?\\s*\\(`,
            "g",
        );
        for (const [, mod, name] of code.matchAll(invoke)) tokens.add(`${pkg}:${mod ?? "index"}/${name}:${name}`);
    }
    return tokens;
}

for (const cloud of ["aws", "aliyun"] as const) {
    describe(`${cloud}: docs/permissions/${cloud}.json`, () => {
        const table = actionTables[cloud];
        const rows = new Set(table.map((row) => row.token));

        test("the code scan finds every resource type and function the plan records (it reads the code right)", () => {
            const code = codeTokens(cloud);
            assert.deepEqual(
                [...plannedTokens(cloud)].filter((token) => !code.has(token)),
                [],
            );
        });

        test("every resource type and provider function the program uses has a row of actions", () => {
            const used = new Set([...plannedTokens(cloud), ...codeTokens(cloud)]);
            assert.deepEqual(
                [...used].filter((token) => !rows.has(token)).sort(),
                [],
                "add a row to test/support/cloud-actions.ts, then its actions to the policy",
            );
        });

        test("every row is for a resource type or function the program uses", () => {
            const used = new Set([...plannedTokens(cloud), ...codeTokens(cloud)]);
            assert.deepEqual(
                table.filter((row) => !used.has(row.token)).map((row) => row.token),
                [],
            );
            assert.equal(rows.size, table.length, "a token has two rows");
            for (const row of table) {
                assert.ok(row.actions.length > 0 && row.sources.length > 0, `${row.token}: actions and sources`);
                for (const action of row.actions) assert.match(action, /^[a-z0-9]+:[A-Z][A-Za-z0-9]+$/, row.token);
            }
        });

        test("the policy grants every action the rows need, and nothing else", () => {
            const needed = new Set(table.flatMap((row) => row.actions));
            const granted = new Set(policy(cloud).Statement.flatMap((statement) => list(statement.Action)));
            assert.deepEqual(
                [...needed].filter((action) => !granted.has(action)).sort(),
                [],
                "actions the program needs that the policy lacks",
            );
            assert.deepEqual(
                [...granted].filter((action) => !needed.has(action)).sort(),
                [],
                "actions the policy grants for nothing the program creates",
            );
            for (const statement of policy(cloud).Statement) {
                assert.equal(statement.Effect, "Allow");
                assert.ok(!list(statement.Action).some((action) => action.includes("*")), "no wildcard actions");
            }
        });

        test("the policy is one document the cloud accepts (version, and at most 6,144 characters)", () => {
            const document = policy(cloud);
            assert.equal(document.Version, cloud === "aws" ? "2012-10-17" : "1");
            // AWS managed policies and Aliyun custom policies both stop at 6,144 characters.
            assert.ok(JSON.stringify(document).length <= 6144, `${JSON.stringify(document).length} characters`);
        });

        test("the names the scoped statements allow are the names the program gives its roles and buckets", () => {
            const project = (
                parseYaml(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as { name: string }
            ).name;
            const scoped = policy(cloud)
                .Statement.flatMap((statement) => list(statement.Resource))
                .filter((resource) => resource !== "*" && !resource.includes("aws-service-role"));
            assert.ok(scoped.length > 0);
            for (const resource of scoped) assert.match(resource, new RegExp(`[:/]${project}-\\*$`), resource);
            const named = plan(variants[cloud]).resources.flatMap((resource) => {
                const inputs = resource.inputs as Record<string, unknown>;
                if (/:(iam\/role:Role|iam\/instanceProfile:InstanceProfile)$/.test(resource.type)) return [inputs.name];
                if (/:(s3|oss)\/bucket:Bucket$/.test(resource.type)) return [inputs.bucket];
                if (resource.type === "alicloud:ram/role:Role") return [inputs.roleName];
                if (resource.type === "alicloud:ram/policy:Policy") return [inputs.policyName];
                return [];
            });
            assert.ok(named.length >= 3, "roles, profiles or policies, and a bucket");
            for (const name of named) assert.ok(String(name).startsWith(`${project}-`), String(name));
        });

        test("docs/permissions.md shows the policy as the file holds it", () => {
            const page = fs.readFileSync(path.join(projectDir, "docs", "permissions.md"), "utf8");
            const blocks = [...page.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
            assert.ok(blocks.includes(policyText(cloud)), `the page has no json block equal to ${cloud}.json`);
        });
    });
}
