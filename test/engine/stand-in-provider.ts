// A provider plugin of the project's own, for a package whose real plugin cannot be built here (test code, never
// shipped). It serves Pulumi's provider protocol through @pulumi/pulumi's own provider host, under the package's name
// and the plugin version its installed SDK requests, and answers with the offline plan's mocks (plan/mocks.ts), so the
// real engine runs the real program against the cloud the plan describes. The command package does the real work
// (command-stand-in.ts). With KUBEHA_LAB_CLOUD (a socket) set, the clouds' stand-ins also tell the lab cloud
// (lab/cloud.ts) what they create, update and delete, and the lab does what the cloud would: machines boot.
// Usage: pulumi-resource-<package> (a link to ./pulumi-resource-stand-in), started by the engine.
import * as grpc from "@grpc/grpc-js";
import * as provider from "@pulumi/pulumi/provider";
import { CloudEvent, tellLabCloud } from "../../lab/cloud";
import { invokeAnswer, MockContext, providerAnswer } from "../../plan/mocks";
import { revealed } from "../../plan/secret-outputs";
import { commandStandIn, urnName, urnType } from "./command-stand-in";

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
    kubernetes: { replaceOnAnyChange: false, previewOnly: true },
};

type State = Record<string, unknown>;

function standIn(pkg: string): provider.Provider {
    if (pkg === "command") return commandStandIn(sdkPluginVersion(pkg));
    const behaviour = behaviours[pkg];
    if (!behaviour)
        throw new Error(`no stand-in for the ${pkg} provider: one of ${Object.keys(behaviours).join(", ")}`);
    const version = sdkPluginVersion(pkg);
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
    const labCloud = process.env.KUBEHA_LAB_CLOUD;
    const tell = async (op: CloudEvent["op"], urn: string, id: string, state: State) => {
        if (labCloud && (pkg === "aws" || pkg === "alicloud")) {
            const event = { op, type: urnType(urn), name: urnName(urn), id, state: revealed(state) as State };
            await tellLabCloud(labCloud, event);
        }
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
            await tell("create", urn, id ?? urnName(urn), state);
            return { id: id ?? urnName(urn), outs: state };
        },
        read: async (id, _urn, props: State) => ({ id, props }),
        update: async (id, urn, _olds, news: State) => {
            const { state } = await answer(urn, news);
            await tell("update", urn, id, state);
            return { outs: state };
        },
        delete: async (id, urn, props: State) => tell("delete", urn, id, props),
        invoke: async (token, inputs: State) => ({ outputs: invokeAnswer(token, inputs, context) }),
    };
}

/** The plugin version the installed SDK of a package requests. */
function sdkPluginVersion(pkg: string): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`@pulumi/${pkg}/package.json`) as { pulumi: { version: string } }).pulumi.version;
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
