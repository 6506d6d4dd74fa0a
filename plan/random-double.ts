// Test double for @pulumi/random resources: values of the documented shape, derived from the resource
// name and inputs (keepers included), so two plans of the same program agree and a changed keeper
// visibly draws a new value.
import type * as pulumi from "@pulumi/pulumi";
import { stableBytes } from "./stable-keys";

type Inputs = Record<string, unknown>;

/** What the random provider reports for a new resource: its id and state (the inputs and the value drawn). */
export function randomState(args: Pick<pulumi.runtime.MockResourceArgs, "type" | "name" | "inputs">): {
    id: string;
    state: Inputs;
} {
    const make = resources[args.type];
    if (!make) throw new Error(`the random test double does not implement ${args.type}`);
    const bytes = (length: number) => stableBytes(`${args.type}\n${args.name}\n${JSON.stringify(args.inputs)}`, length);
    return { id: `${args.name}-id`, state: { ...args.inputs, ...make(args.inputs, bytes) } };
}

const resources: Record<string, (inputs: Inputs, bytes: (length: number) => Buffer) => Inputs> = {
    "random:index/randomString:RandomString": (inputs, bytes) => ({ result: randomText(inputs, bytes) }),
    "random:index/randomPassword:RandomPassword": (inputs, bytes) => ({ result: randomText(inputs, bytes) }),
    "random:index/randomBytes:RandomBytes": (inputs, bytes) => {
        const value = bytes(Number(inputs.length));
        return { base64: value.toString("base64"), hex: value.toString("hex") };
    },
};

/** The outputs the SDK declares secret (additionalSecretOutputs), by resource type. */
export const randomSecretOutputs: Record<string, readonly string[]> = {
    "random:index/randomPassword:RandomPassword": ["bcryptHash", "result"],
    "random:index/randomBytes:RandomBytes": ["base64", "hex"],
};

const lower = "abcdefghijklmnopqrstuvwxyz";
const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const digits = "0123456789";
const special = "!@#$%&*()-_=+[]{}<>:?";

/** length characters from the classes the inputs allow (lower, upper, numeric, special default to true). */
function randomText(inputs: Inputs, bytes: (length: number) => Buffer): string {
    const allowed = (key: string) => inputs[key] !== false;
    const alphabet =
        (allowed("lower") ? lower : "") +
        (allowed("upper") ? upper : "") +
        (allowed("numeric") ? digits : "") +
        (allowed("special") ? String(inputs.overrideSpecial ?? special) : "");
    if (alphabet.length === 0) throw new Error("random: every character class is disabled");
    return [...bytes(Number(inputs.length))].map((byte) => alphabet[byte % alphabet.length]).join("");
}
