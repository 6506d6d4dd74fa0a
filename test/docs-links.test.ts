// The README is the front page: every page under docs/ is reachable from it, and no link in the README or the
// docs points at a file or a heading that does not exist (pages move; their links must follow).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const projectDir = path.resolve(__dirname, "..");
const docsDir = path.join(projectDir, "docs");
const pages = [
    path.join(projectDir, "README.md"),
    ...fs
        .readdirSync(docsDir)
        .filter((name) => name.endsWith(".md"))
        .map((name) => path.join(docsDir, name)),
];

/** Markdown without fenced code blocks and inline code, where a `[x](y)` is not a link. */
function prose(markdown: string): string {
    return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** Relative link targets of a page (external URLs and mail addresses left out). */
function relativeLinks(markdown: string): string[] {
    return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)]
        .map((match) => match[1])
        .filter((target) => !/^[a-z]+:/.test(target));
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    for (const match of markdown.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6} (.+)$/gm)) {
        const slug = match[1]
            .toLowerCase()
            .replace(/[^\p{L}\p{N}\- _]/gu, "")
            .replace(/ /g, "-");
        const count = seen.get(slug) ?? 0;
        anchors.add(count === 0 ? slug : `${slug}-${count}`);
        seen.set(slug, count + 1);
    }
    return anchors;
}

test("GitHub's anchors: punctuation and code marks dropped, repeated headings numbered", () => {
    const anchors = headingAnchors(
        "# Operations\n## A real `pulumi up` on the lab: `npm run test:up`\n## Operations\n",
    );
    assert.deepEqual([...anchors], ["operations", "a-real-pulumi-up-on-the-lab-npm-run-testup", "operations-1"]);
});

test("every relative link in the README and docs/ names an existing file and heading", () => {
    const broken: string[] = [];
    for (const page of pages) {
        const markdown = fs.readFileSync(page, "utf8");
        for (const target of relativeLinks(markdown)) {
            const [file, anchor] = target.split("#");
            const resolved = file === "" ? page : path.resolve(path.dirname(page), file);
            const where = `${path.relative(projectDir, page)}: ${target}`;
            if (!fs.existsSync(resolved)) {
                broken.push(`${where} (no such file)`);
                continue;
            }
            if (anchor === undefined) continue;
            if (!resolved.endsWith(".md") || !headingAnchors(fs.readFileSync(resolved, "utf8")).has(anchor)) {
                broken.push(`${where} (no such heading)`);
            }
        }
    }
    assert.deepEqual(broken, []);
});

test("the README links every page of docs/ and every permission policy", () => {
    const readme = fs.readFileSync(path.join(projectDir, "README.md"), "utf8");
    const linked = new Set(relativeLinks(readme).map((target) => path.normalize(target.split("#")[0])));
    const policies = fs.readdirSync(path.join(docsDir, "permissions")).map((name) => `permissions/${name}`);
    const docs = fs.readdirSync(docsDir).filter((name) => name.endsWith(".md"));
    const missing = [...docs, ...policies].map((name) => `docs/${name}`).filter((name) => !linked.has(name));
    assert.deepEqual(missing, []);
});
