// Secrets as the engine keeps them: the SDKs ask for some outputs to be secret (additionalSecretOutputs), and
// secret inputs reach a provider wrapped in Pulumi's signature object. The real engine does the marking; the
// mock monitor does not, so the mocks do it with these helpers.
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";

/** A value with every secret wrapper (as inputs arrive at a provider) taken off. */
export function revealed(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(revealed);
    if (value === null || typeof value !== "object") return value;
    const object = value as Record<string, unknown>;
    if (object[specialSigKey] === specialSecretSig) return revealed(object.value);
    return Object.fromEntries(Object.entries(object).map(([key, item]) => [key, revealed(item)]));
}

/** The state with the given outputs made secret, as the engine does for additionalSecretOutputs. */
export function withSecretOutputs(state: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
    const marked = { ...state };
    for (const key of keys) {
        if (marked[key] !== undefined) marked[key] = pulumi.secret(revealed(marked[key]));
    }
    return marked;
}
