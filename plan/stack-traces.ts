// The Pulumi SDK parses a stack trace (with no frame limit) for every resource's source position (resource.js). Under
// ts-node every such stack is formatted by source-map-support, which maps each frame back to TypeScript: in a CPU
// profile of a 100-worker plan, formatting them (and, before plan/promise-bookkeeping.ts, the stacks the SDK kept on
// its internal promises) took about a third of the time. The mock monitor drops source positions, so in the plan such
// a stack is formatted as V8 does by default (frames of the transpiled code, unmapped). Every other error, the
// program's and the SDK's own failures (they carry a message), keeps its mapped stack; so does everything when
// PULUMI_DEBUG_PROMISE_LEAKS is set.
import * as path from "node:path";

type PrepareStackTrace = (error: Error, callSites: NodeJS.CallSite[]) => unknown;

const sdkDir = `${path.sep}node_modules${path.sep}@pulumi${path.sep}pulumi${path.sep}`;
let installed = false;

/** Installs the cheaper formatting for the SDK's bookkeeping stacks, over whatever formats stacks now. Idempotent. */
export function formatBookkeepingStacksUnmapped(): void {
    if (installed || process.env.PULUMI_DEBUG_PROMISE_LEAKS) return;
    installed = true;
    const mapped = Error.prepareStackTrace as PrepareStackTrace | undefined;
    if (!mapped) return;
    Error.prepareStackTrace = (error, callSites) =>
        isBookkeeping(error, callSites) ? unmapped(error, callSites) : mapped(error, callSites);
}

/** A plain Error with no message, made by the SDK's own code: a stack taken for bookkeeping, not a failure. */
function isBookkeeping(error: Error, callSites: NodeJS.CallSite[]): boolean {
    return (
        Object.getPrototypeOf(error) === Error.prototype &&
        error.message === "" &&
        (callSites[0]?.getFileName()?.includes(sdkDir) ?? false)
    );
}

/** V8's own format: the error's first line, then `    at <call site>` per frame. */
function unmapped(error: Error, callSites: NodeJS.CallSite[]): string {
    return [String(error), ...callSites.map((site) => `    at ${String(site)}`)].join("\n");
}
