// plan/output-properties.ts: a resource's output properties become Outputs when read, with the registration's values.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { createOutputPropertiesOnRead } from "../plan/output-properties";

class Thing extends pulumi.CustomResource {
    declare readonly size: pulumi.Output<number>;
    declare readonly colour: pulumi.Output<string>;

    constructor(name: string, size: pulumi.Input<number>) {
        super("test:index:Thing", name, { size, colour: undefined });
    }
}

const valueOf = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

before(async () => {
    delete process.env.PULUMI_DEBUG_PROMISE_LEAKS;
    createOutputPropertiesOnRead();
    await pulumi.runtime.setMocks(
        {
            newResource: ({ name, inputs }) => ({ id: `${name}-id`, state: { ...inputs, colour: `${name}-blue` } }),
            call: () => ({}),
        },
        "project",
        "stack",
        false,
    );
});

describe("output properties under the plan", () => {
    test("a property the program never reads is no Output", () => {
        const thing = new Thing("unread", 1);
        const property = Object.getOwnPropertyDescriptor(thing, "colour");
        assert.equal(typeof property?.get, "function");
        assert.equal(property?.value, undefined);
        assert.deepEqual(
            Object.keys(thing).filter((key) => key === "size" || key === "colour"),
            ["size", "colour"],
        );
    });

    test("read before the registration completes, a property settles with the registration's value", async () => {
        const thing = new Thing("early", 3);
        const colour = thing.colour;
        assert.ok(pulumi.Output.isInstance(colour));
        assert.equal(thing.colour, colour, "one Output per property, kept once read");
        assert.equal(await valueOf(colour), "early-blue");
        assert.equal(await valueOf(thing.size), 3);
    });

    test("read after the registration completed, a property holds the registration's value", async () => {
        const thing = new Thing("late", 5);
        await valueOf(thing.urn);
        assert.equal(typeof Object.getOwnPropertyDescriptor(thing, "colour")?.get, "function");
        assert.equal(await valueOf(thing.colour), "late-blue");
        assert.equal(await valueOf(thing.size), 5);
    });

    test("a property's Output carries its resource, which a resource taking it as input depends on", async () => {
        const owner = new Thing("owner", 7);
        const size = owner.size as unknown as { allResources(): Promise<Set<pulumi.Resource>> };
        assert.deepEqual([...(await size.allResources())], [owner]);
        assert.equal(await valueOf(new Thing("reader", owner.size).size), 7);
    });
});
