// The Pulumi SDK gives every property a resource type declares an Output as soon as the resource is constructed
// (runtime/rpc.js transferProperties): an Aliyun instance declares about a hundred, a remote command eleven, and each
// Output is a chain of about twenty promises, closures and contexts that stays pending until the registration
// completes. The program constructs every resource before any registration completes, so they are all pending at
// the plan's peak, and the program reads about one in a hundred of them (524 of 51,610 in a 3 + 200 dev plan). In the
// plan, a property becomes an Output when the program first reads it, with the value its registration gave it (or
// pending until then): in that plan the live heap at the end of construction fell from 558 to 394 MB, and the plan's
// files stayed the same. With PULUMI_DEBUG_PROMISE_LEAKS set every property is an Output from the start, as the SDK
// makes it.
import * as pulumi from "@pulumi/pulumi";

/** How the SDK settles an output property once the registration completed (or failed). */
type Resolver = (value: unknown, isKnown: boolean, isSecret: boolean, deps?: pulumi.Resource[], error?: Error) => void;

type TransferProperties = (
    onto: pulumi.Resource,
    label: string,
    props: Record<string, unknown>,
) => Record<string, Resolver>;

interface Settlement {
    readonly value: unknown;
    readonly isKnown: boolean;
    readonly isSecret: boolean;
    readonly deps: pulumi.Resource[];
    readonly error?: Error;
}

/** The four promises an Output is made of, settled together. */
interface PendingOutput {
    settle(settlement: Settlement): void;
}

/** One output property of one resource: no Output until read. */
class OutputProperty {
    private settlement?: Settlement;
    private pending?: PendingOutput;

    constructor(private readonly resource: pulumi.Resource) {}

    settle(settlement: Settlement): void {
        this.settlement = settlement;
        this.pending?.settle(settlement);
        this.pending = undefined;
    }

    /** The Output the SDK would have made: settled as the registration settled it, else settled when it does. */
    output(): pulumi.Output<unknown> {
        const settled = this.settlement;
        if (settled) {
            const from = (value: unknown) => (settled.error ? Promise.reject(settled.error) : Promise.resolve(value));
            return outputOf(
                this.resource,
                from(settled.value),
                from(settled.isKnown),
                from(settled.isSecret),
                from(settled.deps),
            );
        }
        const parts = [0, 1, 2, 3].map(() => {
            let resolve!: (value: unknown) => void;
            let reject!: (error: Error) => void;
            const promise = new Promise<unknown>((onValue, onError) => ((resolve = onValue), (reject = onError)));
            return { promise, resolve, reject };
        });
        this.pending = {
            settle: ({ value, isKnown, isSecret, deps, error }) =>
                [value, isKnown, isSecret, deps].forEach((part, i) =>
                    error ? parts[i].reject(error) : parts[i].resolve(part),
                ),
        };
        const [value, isKnown, isSecret, deps] = parts.map((part) => part.promise);
        return outputOf(this.resource, value, isKnown, isSecret, deps);
    }
}

/** The SDK's Output constructor (internal: resources, value, isKnown, isSecret, all resources). */
function outputOf(resource: pulumi.Resource, ...promises: Promise<unknown>[]): pulumi.Output<unknown> {
    const Output = pulumi.Output as unknown as new (
        resources: pulumi.Resource,
        ...parts: Promise<unknown>[]
    ) => pulumi.Output<unknown>;
    return new Output(resource, ...promises);
}

let installed = false;

/** Makes every resource's output properties Outputs only once read, for the rest of the process. Idempotent. */
export function createOutputPropertiesOnRead(): void {
    if (installed || process.env.PULUMI_DEBUG_PROMISE_LEAKS) return;
    installed = true;
    // resource.js calls it through this module's exports (`rpc_1.transferProperties(...)`).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rpc = require("@pulumi/pulumi/runtime/rpc") as { transferProperties: TransferProperties };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { isGrpcError } = require("@pulumi/pulumi/errors") as { isGrpcError(error: Error): boolean };
    rpc.transferProperties = (onto, label, props) => {
        const resolvers: Record<string, Resolver> = {};
        for (const key of Object.keys(props)) {
            // The SDK makes these two itself.
            if (key === "id" || key === "urn") continue;
            if (Object.prototype.hasOwnProperty.call(onto, key)) {
                throw new Error(`Property '${key}' is already initialized on target '${label}`);
            }
            const property = new OutputProperty(onto);
            resolvers[key] = (value, isKnown, isSecret, deps = [], error) => {
                // As the SDK does: an engine that went away leaves the property pending.
                if (error && isGrpcError(error)) return;
                property.settle({ value, isKnown, isSecret, deps, error });
            };
            const own = (value: unknown) =>
                Object.defineProperty(onto, key, { value, writable: true, enumerable: true, configurable: true });
            Object.defineProperty(onto, key, {
                enumerable: true,
                configurable: true,
                get: () => {
                    const output = property.output();
                    own(output);
                    return output;
                },
                set: own,
            });
        }
        return resolvers;
    };
}
