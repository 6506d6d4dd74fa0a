// After each full collection V8 lets the heap grow to a multiple of what survived it (up to four times) before the
// next one. The plan's live heap peaks when the program has constructed every resource (every registration then
// pending) and falls from there as registrations complete, while they allocate fast: after that collection the heap
// grew to three times the live heap without another (a 3 + 200 dev plan: 256 MB live then, 0.83 GB peak resident
// memory). Growing by a fifth between collections keeps the heap near what is live (0.48 GB peak for that plan,
// 0.85 GB instead of 1.27 GB for 3 + 500), for more time collecting. V8 reads the flag at every collection, so it
// applies when set here, at run time.
import * as v8 from "node:v8";

/** Makes V8 grow the heap by at most a fifth of the live heap between full collections, for the rest of the process. */
export function growHeapByAFifth(): void {
    v8.setFlagsFromString("--heap-growing-percent=20");
}
