// Reads what the offline plan wrote (plan/write.ts): its resources, provider calls and outputs. Shared by the tests
// and the lab, which builds its machines and runs its steps from a plan.
import * as fs from "node:fs";
import * as path from "node:path";
import type { PlannedInvoke, PlannedResource } from "./run";

export class Plan {
    readonly resources: PlannedResource[];
    readonly invokes: PlannedInvoke[];
    readonly outputs: Record<string, unknown>;

    constructor(readonly dir: string) {
        this.resources = JSON.parse(fs.readFileSync(path.join(dir, "resources.json"), "utf8"));
        this.invokes = JSON.parse(fs.readFileSync(path.join(dir, "invokes.json"), "utf8"));
        this.outputs = JSON.parse(fs.readFileSync(path.join(dir, "outputs.json"), "utf8"));
    }

    /** Every resource `name` depends on, directly or not. */
    ancestors(name: string): Set<string> {
        const byName = new Map(this.resources.map((resource) => [resource.name, resource]));
        const seen = new Set<string>();
        const visit = (current: string) => {
            for (const dependency of byName.get(current)?.dependencies ?? []) {
                if (!seen.has(dependency)) {
                    seen.add(dependency);
                    visit(dependency);
                }
            }
        };
        visit(name);
        return seen;
    }

    ofType(type: string): PlannedResource[] {
        return this.resources.filter((resource) => resource.type === type);
    }

    named(name: string): PlannedResource {
        const found = this.resources.find((resource) => resource.name === name);
        if (!found) throw new Error(`no resource named ${name} in the plan`);
        return found;
    }

    /** The arguments of every call of a provider function. */
    invoked(token: string): Record<string, unknown>[] {
        return this.invokes.filter((invoke) => invoke.token === token).map((invoke) => invoke.args);
    }

    file(relative: string): string {
        return fs.readFileSync(path.join(this.dir, relative), "utf8");
    }

    exists(relative: string): boolean {
        return fs.existsSync(path.join(this.dir, relative));
    }
}
