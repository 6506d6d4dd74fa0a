// The Pulumi SDK passes most of its internal promises through runtime/debuggable.js debuggablePromise, only so that it
// can list the promises still pending when the process exits (a program that leaked one). Per promise that costs two
// more promises with their callbacks, three properties (one a label string, one a stack) and an entry in a set of
// pending promises, and the SDK makes four such promises for every output property of every resource (an Aliyun
// instance declares about a hundred). The program constructs every resource before any registration completes, so
// at the plan's peak they are all pending at once: in a heap snapshot of a 200-worker plan at that point, promises,
// their reactions, closures and contexts held about 150 MB of 312 MB, and the labels 17 MB. The plan waits for every
// registration itself (runPlan) and exits on its own, so it has no use for that list: each promise is passed
// through as it is (the largest live heap sampled during that plan fell from 309 to 255 MB; docs/development.md has
// the plan's figures). With PULUMI_DEBUG_PROMISE_LEAKS set the SDK's bookkeeping stays (and reports the leaks).

let installed = false;

/** Makes the SDK's promise bookkeeping a pass-through for the rest of the process. Idempotent. */
export function skipPromiseBookkeeping(): void {
    if (installed || process.env.PULUMI_DEBUG_PROMISE_LEAKS) return;
    installed = true;
    // Every SDK module calls it through this module's exports (`debuggable_1.debuggablePromise(...)`).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
        debuggablePromise: <T>(promise: Promise<T>, label: string) => Promise<T>;
    };
    debuggable.debuggablePromise = (promise) => promise;
}
