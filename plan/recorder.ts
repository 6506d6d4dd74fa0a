// Records every resource registration the program makes under the mock runtime, as the engine
// would see it: type, name, parent, dependencies, inputs and every option that changes what
// `pulumi up` does, secrets still marked; and every provider function call (invoke) with its arguments.
import * as pulumi from "@pulumi/pulumi";

// Signatures of Pulumi's wire format (sdk/nodejs/runtime/rpc.ts).
const sigKey = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";
const resourceSig = "5cf8f73096256a8f31e491e813e4eb8e";
const assetSig = "c44067f5952c0a294b673a41bacd8c17";
const archiveSig = "0def7320c3a5731c473e5ecbe6d01bc7";

export const secretPlaceholder = "[secret]";

export interface RecordedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly parentUrn?: string;
    /** URNs this resource depends on: explicit dependsOn and every resource its inputs came from. */
    readonly dependencyUrns: string[];
    /** The dependencies no input carries: the dependsOn option (a component stands for its children). */
    readonly dependsOnUrns: string[];
    readonly deletedWithUrn?: string;
    /** The explicit provider it is created with (the provider option): the engine creates that provider first. */
    readonly providerUrn?: string;
    /** Input properties whose changes the engine ignores (the ignoreChanges option). */
    readonly ignoreChanges: string[];
    /** Input properties whose changes replace the resource (the replaceOnChanges option). */
    readonly replaceOnChanges: string[];
    /** The replacementTrigger option in wire form: a change of this value replaces the resource. */
    readonly replacementTrigger?: unknown;
    readonly deleteBeforeReplace: boolean;
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    /** Output properties the engine stores as secrets (the additionalSecretOutputs option). */
    readonly additionalSecretOutputs: string[];
    /** Inputs in wire form: secrets, assets and resource references still carry their signatures. */
    readonly wireInputs: unknown;
}

/** One provider function call: its token and arguments in wire form. */
export interface RecordedInvoke {
    readonly token: string;
    readonly wireArgs: unknown;
}

interface ProtoStruct {
    toJavaScript(): unknown;
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getObject(): ProtoStruct | undefined;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(cb: (deps: { getUrnsList(): string[] }, key: string) => void): void };
    getDeletedwith(): string;
    getProvider(): string;
    getIgnorechangesList(): string[];
    getReplaceonchangesList(): string[];
    getReplacementTrigger(): ProtoStruct | undefined;
    getDeletebeforereplace(): boolean;
    getProtect(): boolean;
    getRetainondelete(): boolean;
    getAdditionalsecretoutputsList(): string[];
}

interface InvokeRequest {
    getTok(): string;
    getArgs(): ProtoStruct | undefined;
}

interface OutputsRequest {
    getUrn(): string;
    getOutputs(): ProtoStruct | undefined;
}

type Callback = (error: unknown, response: unknown) => void;

interface Monitor {
    registerResource(request: RegisterRequest, callback: Callback): void;
    registerResourceOutputs(request: OutputsRequest, callback: Callback): void;
    invoke(request: InvokeRequest, callback: Callback): void;
    newUrn(parent: string, type: string, name: string): string;
}

export class Recorder {
    readonly resources: RecordedResource[] = [];
    readonly invokes: RecordedInvoke[] = [];
    readonly stackOutputs = new Map<string, unknown>();
    readonly warnings: string[] = [];

    /** Wraps the mock monitor installed by setMocks so that every registration is recorded too. */
    attach(): void {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor(): Monitor };
        const monitor = settings.getMonitor();
        const registerResource = monitor.registerResource.bind(monitor);
        const registerResourceOutputs = monitor.registerResourceOutputs.bind(monitor);
        const invoke = monitor.invoke.bind(monitor);
        monitor.registerResource = (request, callback) => {
            this.record(monitor, request);
            registerResource(request, callback);
        };
        monitor.registerResourceOutputs = (request, callback) => {
            if (request.getUrn().includes("::pulumi:pulumi:Stack::")) {
                const outputs = (request.getOutputs()?.toJavaScript() ?? {}) as Record<string, unknown>;
                for (const [key, value] of Object.entries(outputs)) this.stackOutputs.set(key, value);
            }
            registerResourceOutputs(request, callback);
        };
        monitor.invoke = (request, callback) => {
            this.invokes.push({ token: request.getTok(), wireArgs: request.getArgs()?.toJavaScript() ?? {} });
            invoke(request, callback);
        };
        // The program's warnings (pulumi.log.warn) go to the plan's summary as well as to stderr.
        const warn = pulumi.log.warn;
        pulumi.log.warn = (message, resource, streamId, ephemeral) => {
            this.warnings.push(message);
            return warn(message, resource, streamId, ephemeral);
        };
    }

    private record(monitor: Monitor, request: RegisterRequest): void {
        const fromInputs = new Set<string>();
        request
            .getPropertydependenciesMap()
            .forEach((deps) => deps.getUrnsList().forEach((urn) => fromInputs.add(urn)));
        const dependencies = new Set([...request.getDependenciesList(), ...fromInputs]);
        const trigger = request.getReplacementTrigger();
        // `<provider URN>::<provider id>`, the id once the provider exists.
        const provider = request.getProvider();
        this.resources.push({
            urn: monitor.newUrn(request.getParent(), request.getType(), request.getName()),
            type: request.getType(),
            name: request.getName(),
            custom: request.getCustom(),
            parentUrn: request.getParent() || undefined,
            dependencyUrns: [...dependencies],
            dependsOnUrns: request.getDependenciesList().filter((urn) => !fromInputs.has(urn)),
            deletedWithUrn: request.getDeletedwith() || undefined,
            providerUrn: provider ? provider.slice(0, provider.lastIndexOf("::")) : undefined,
            ignoreChanges: request.getIgnorechangesList(),
            replaceOnChanges: request.getReplaceonchangesList(),
            replacementTrigger: trigger ? trigger.toJavaScript() : undefined,
            deleteBeforeReplace: request.getDeletebeforereplace(),
            protect: request.getProtect(),
            retainOnDelete: request.getRetainondelete(),
            additionalSecretOutputs: request.getAdditionalsecretoutputsList(),
            wireInputs: request.getObject()?.toJavaScript() ?? {},
        });
    }
}

export interface PlainOptions {
    /** Keep secret values (true) or replace them with "[secret]" (false). */
    readonly showSecrets: boolean;
    /** Name of the resource a URN refers to. */
    readonly nameOf: (urn: string) => string;
}

/** Wire form to plain JSON: secrets revealed or redacted, resource references as names, assets as their text or path. */
export function plain(value: unknown, options: PlainOptions): unknown {
    if (Array.isArray(value)) return value.map((item) => plain(item, options));
    if (value === null || typeof value !== "object") return value;
    const object = value as Record<string, unknown>;
    switch (object[sigKey]) {
        case secretSig:
            return options.showSecrets ? plain(object.value, options) : secretPlaceholder;
        case resourceSig:
            return { resource: options.nameOf(String(object.urn)) };
        case assetSig:
        case archiveSig: {
            const { [sigKey]: _sig, ...rest } = object;
            return plain(rest, options);
        }
    }
    return Object.fromEntries(Object.entries(object).map(([key, item]) => [key, plain(item, options)]));
}
