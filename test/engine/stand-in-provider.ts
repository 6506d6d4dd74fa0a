// A provider plugin of the project's own, for a package whose real plugin cannot be built here (test code, never
// shipped). It serves Pulumi's provider protocol through @pulumi/pulumi's own provider host, under the package's name
// and the plugin version its installed SDK requests, and answers with the offline plan's mocks (plan/mocks.ts), so the
// real engine runs the real program against the cloud the plan describes.
// Usage: pulumi-resource-<package> (a link to ./pulumi-resource-stand-in), started by the engine.
import * as grpc from "@grpc/grpc-js";
import * as provider from "@pulumi/pulumi/provider";
import { invokeAnswer, MockContext, providerAnswer } from "../../plan/mocks";

/** How each stood-in package behaves beyond the mocks' answers. */
interface Behaviour {
    /** Any change of inputs replaces (every argument of every tls and random resource forces a new one). */
    readonly replaceOnAnyChange: boolean;
    /** Only preview: the stand-in would have to fake running commands or applying Kubernetes objects. */
    readonly previewOnly: boolean;
}

const behaviours: Record<string, Behaviour> = {
    aws: { replaceOnAnyChange: false, previewOnly: false },
    alicloud: { replaceOnAnyChange: false, previewOnly: false },
    tls: { replaceOnAnyChange: true, previewOnly: false },
    random: { replaceOnAnyChange: true, previewOnly: false },
    command: { replaceOnAnyChange: false, previewOnly: true },
    kubernetes: { replaceOnAnyChange: false, previewOnly: true },
};

type State = Record<string, unknown>;

function standIn(pkg: string): provider.Provider {
    const behaviour = behaviours[pkg];
    if (!behaviour)
        throw new Error(`no stand-in for the ${pkg} provider: one of ${Object.keys(behaviours).join(", ")}`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const version = (require(`@pulumi/${pkg}/package.json`) as { pulumi: { version: string } }).pulumi.version;
    const context: { region: string } = { region: "unconfigured-region" };
    onConfigure((variables, args) => {
        context.region = String(args.region ?? variables.get(`${pkg}:config:region`) ?? context.region);
    });

    const answer = async (urn: string, inputs: State) => {
        if (behaviour.previewOnly) {
            throw new Error(`the ${pkg} stand-in only previews: leave ${urn} out of pulumi up (--exclude)`);
        }
        return providerAnswer({ type: urnType(urn), name: urnName(urn), inputs, custom: true }, context as MockContext);
    };
    return {
        version,
        diff: async (_id, _urn, olds: State, news: State) =>
            // Changes left to the engine (it compares old and new inputs); what a change replaces is ours to say.
            behaviour.replaceOnAnyChange
                ? { replaces: [...new Set([...Object.keys(olds), ...Object.keys(news)])] }
                : {},
        create: async (urn, inputs: State) => {
            const { id, state } = await answer(urn, inputs);
            return { id: id ?? urnName(urn), outs: state };
        },
        read: async (id, _urn, props: State) => ({ id, props }),
        update: async (_id, urn, _olds, news: State) => ({ outs: (await answer(urn, news)).state }),
        delete: async () => {},
        invoke: async (token, inputs: State) => ({ outputs: invokeAnswer(token, inputs, context) }),
    };
}

/** `urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>` */
function urnType(urn: string): string {
    return urn.split("::")[2].split("$").pop()!;
}

function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

/**
 * The provider's configuration (the region) as the engine sends it. @pulumi/pulumi's provider host answers Configure
 * without passing it on, so the stand-in looks at the request as the host's gRPC service receives it.
 */
function onConfigure(listener: (variables: Map<string, string>, args: Record<string, unknown>) => void): void {
    const addService = grpc.Server.prototype.addService;
    grpc.Server.prototype.addService = function (service, implementation) {
        const configure = implementation.configure as grpc.handleUnaryCall<ConfigureRequest, unknown>;
        implementation.configure = (
            call: grpc.ServerUnaryCall<ConfigureRequest, unknown>,
            callback: grpc.sendUnaryData<unknown>,
        ) => {
            const request = call.request;
            listener(new Map(request.getVariablesMap().entries()), request.getArgs()?.toJavaScript() ?? {});
            configure.call(implementation, call, callback);
        };
        addService.call(this, service, implementation);
    };
}

interface ConfigureRequest {
    getVariablesMap(): { entries(): Iterable<[string, string]> };
    getArgs(): { toJavaScript(): Record<string, unknown> } | undefined;
}

const [pkg, ...engineArgs] = process.argv.slice(2);
void provider.main(standIn(pkg), engineArgs);
