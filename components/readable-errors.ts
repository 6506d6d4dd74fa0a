// Keeps an unexpected error printable. Pulumi's Node.js host reports an uncaught error with
// util.inspect(error, { colors: true }), and Node's inspect loops forever, allocating until the heap is
// exhausted, on a stack frame like `node_modules/@pulumi/output.ts:379:13`: a scoped package path with no
// separator after the file (nodejs/node#64011, fixed by nodejs/node#64022; Node 20.20.2 has the bug). Under
// ts-node every frame inside an Output's apply is source-mapped to exactly such a path, so any error thrown in
// an apply turned `pulumi up` and the offline plan into a process that spun until killed, message unprinted.
import { inspect } from "node:util";

/** The text an error is reported with: its stack (which starts with its message), or the value itself. */
export function errorText(error: unknown): string {
    if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
    return typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
}

/** Makes util.inspect print the error as its plain stack instead of the formatting that can loop. */
export function makeInspectable(error: unknown): void {
    if (!(error instanceof Error) || Object.prototype.hasOwnProperty.call(error, inspect.custom)) return;
    Object.defineProperty(error, inspect.custom, { value: () => errorText(error), enumerable: false });
}

let installed = false;

/**
 * Runs before every other handler of uncaught errors (Pulumi's included), so the error they inspect is one
 * whose inspection ends. Idempotent.
 */
export function keepUncaughtErrorsReadable(): void {
    if (installed) return;
    installed = true;
    process.prependListener("uncaughtException", makeInspectable);
    process.prependListener("unhandledRejection", makeInspectable);
}
