// test:up's `beside` scope: the first stack's checks (cluster.test.ts, on its lab's operator machine) ask run.ts, which
// is the cloud, for a second stack of the same project while the first keeps running, and wait for its result.
import * as path from "node:path";

/** The second stack: `<first>-2`, with the first's settings, in its project directory and state backend. */
export interface SecondStack {
    readonly stack: string;
    readonly configOf: string;
    readonly project: string;
    readonly backend: string;
}

export function secondStackName(first: string): string {
    return `${first}-2`;
}

/** In the first lab's run directory: the request (a JSON SecondStack) and, once it is done, its exit status. */
export function secondStackFiles(run: string): { request: string; status: string } {
    return { request: path.join(run, "second-stack.request"), status: path.join(run, "second-stack.status") };
}
