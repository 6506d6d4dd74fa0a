// The Pulumi SDK takes a stack trace for its own bookkeeping on every resource and on most of its internal promises:
// runtime/debuggable.js keeps `new Error().stack` on each promise (tens per resource) for its report of promises
// leaked at exit, and resource.js parses one (with no frame limit) for the resource's source position. Under ts-node
// every such stack is formatted by source-map-support, which maps each frame back to TypeScript: in a CPU profile of
// a 100-worker plan, formatting them took about a third of the time, and at the plan's peak the promises' stack
// strings held a tenth of the heap (a heap snapshot: 78,000 strings, 32 MB). The SDK reads a promise's stack only when
// PULUMI_DEBUG_PROMISE_LEAKS is set, and the mock monitor drops source positions; so, in the plan, a promise's stack
// is one shared line saying where to get it, and a source position's stack is formatted as V8 does by default
// (frames of the transpiled code, unmapped). Every other error, the program's and the SDK's own failures (they carry
// a message), keeps its mapped stack; so does everything when PULUMI_DEBUG_PROMISE_LEAKS is set.
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
    Error.prepareStackTrace = (error, callSites) => {
        if (!isBookkeeping(error, callSites)) return mapped(error, callSites);
        return callSites[0]?.getFunctionName() === "debuggablePromise" ? promiseStack : unmapped(error, callSites);
    };
}

const promiseStack = "Error: (the offline plan keeps no stack for this promise: set PULUMI_DEBUG_PROMISE_LEAKS)";

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
