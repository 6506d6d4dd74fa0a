// Runs the real program offline: the stack config as the Pulumi CLI would pass it, index.ts loaded
// by Pulumi's own Node.js entry point (ts-node with the project's TypeScript), providers mocked.
import * as fs from "node:fs";
import Module from "node:module";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml, stringify as stringifyYaml, YAMLParseError } from "yaml";
import { errorText } from "../components/readable-errors";
import { regionKeys } from "../config/resolve";
import { bundleInStdin, carriesBundle, decodeBundle } from "../render/file-bundle";
import { HostFile } from "../render/host-file";
import { KubehaMocks } from "./mocks";
import { plain, RecordedInvoke, RecordedResource, Recorder, secretPlaceholder } from "./recorder";
import { redactedConnection, redactedFile } from "./redact";
import { growHeapByAFifth } from "./heap-growth";
import { createOutputPropertiesOnRead } from "./output-properties";
import { skipPromiseBookkeeping } from "./promise-bookkeeping";
import { formatBookkeepingStacksUnmapped } from "./stack-traces";

export const remoteCommand = "command:remote:Command";

export interface PlanOptions {
    readonly projectDir: string;
    readonly stack: string;
    /** A stack file in the Pulumi.<stack>.yaml format to use instead of the stack's own. */
    readonly configFile?: string;
    readonly showSecrets: boolean;
    /** Outputs of the stack's last deployment (`pulumi stack output --json`): the plan is for a change to it. */
    readonly deployedOutputs?: Record<string, unknown>;
}

/** One resource as the plan reports it (the resources.json contract). */
export interface PlannedResource {
    readonly type: string;
    readonly name: string;
    readonly parent: string | null;
    readonly dependencies: string[];
    /** Present when set: the dependencies no input carries (the dependsOn option; a component stands for its children). */
    readonly dependsOn?: string[];
    readonly deletedWith?: string;
    /** Present when set: the provider resource it is created with (the provider option); `pulumi up` creates that first. */
    readonly provider?: string;
    /** Present when set: input properties whose changes never update or replace the resource. */
    readonly ignoreChanges?: string[];
    /** Present when set: input properties whose changes replace the resource rather than update it. */
    readonly replaceOnChanges?: string[];
    /** Present when set: a value whose change replaces the resource (the replacementTrigger option). */
    readonly replacementTrigger?: unknown;
    /** Present when set: a replacement deletes the old resource before creating the new one. */
    readonly deleteBeforeReplace?: true;
    /** Present when set: `pulumi up` refuses to delete the resource. */
    readonly protect?: true;
    /** Present when set: deleting the resource only forgets it; the cloud object stays. */
    readonly retainOnDelete?: true;
    /** Present when set: output properties stored as secrets. */
    readonly additionalSecretOutputs?: string[];
    readonly inputs: Record<string, unknown>;
}

/** One provider function call the program made (the invokes.json contract), identical calls once. */
export interface PlannedInvoke {
    readonly token: string;
    readonly args: Record<string, unknown>;
}

export interface PlanResult {
    readonly project: string;
    readonly stack: string;
    readonly resources: PlannedResource[];
    readonly invokes: PlannedInvoke[];
    readonly outputs: Record<string, unknown>;
    readonly warnings: string[];
    /** The admin kubeconfig output, credentials redacted unless secrets are shown. */
    readonly kubeconfig?: string;
    /**
     * Without --show-secrets, per remote step whose stdin is a secret bundle: its configuration files with
     * only their secret values redacted (key files left out). Empty when secrets are shown.
     */
    readonly redactedFiles: Readonly<Record<string, HostFile[]>>;
    /**
     * Per host: the cloud-init document its instance receives, decoded. User-data is a secret input (it carries the
     * host's SSH host key); unless secrets are shown, the document is given with that private key redacted.
     */
    readonly userData: Record<string, string>;
}

/** The program refused to run: its message lists every problem. */
export class ProgramError extends Error {}

export async function runPlan(options: PlanOptions): Promise<PlanResult> {
    const projectDir = path.resolve(options.projectDir);
    const { project, config } = readStackConfig(projectDir, options.stack, options.configFile);
    const cloud = config[`${project}:cloud`] as keyof typeof regionKeys;
    const region = (regionKeys[cloud] && config[regionKeys[cloud]]) ?? "unknown-region";

    // What the Pulumi CLI and the Node.js language host set up before loading a TypeScript program.
    pulumi.runtime.setAllConfig(config);
    process.env.PULUMI_NODEJS_TYPESCRIPT = "true";
    skipPromiseBookkeeping();
    createOutputPropertiesOnRead();
    growHeapByAFifth();
    // "organization": the name the self-managed (diy) backends give every stack's organization.
    await pulumi.runtime.setMocks(
        new KubehaMocks({ region, deployedOutputs: options.deployedOutputs }),
        project,
        options.stack,
        false,
        "organization",
    );
    const recorder = new Recorder();
    recorder.attach();
    let names: Map<string, string> | undefined;

    const { run } = languageHostRun();
    formatBookkeepingStacksUnmapped();
    // The language host keeps a program running after an uncaught error (it only sets the exit code), and what
    // depends on the failed value may never settle: the plan ends at the first such error instead, with its text.
    let uncaught: { error: unknown } | undefined;
    let failed: (error: unknown) => void = noop;
    const firstUncaughtError = new Promise<never>((_resolve, reject) => (failed = reject));
    const reported = (error: unknown): boolean => {
        uncaught ??= { error };
        failed(error);
        // Reported here, so the host neither prints it nor formats it (see components/readable-errors.ts).
        return true;
    };
    try {
        await Promise.race([
            (async () => {
                await run({ _: [projectDir] }, noop, noop, reported);
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
                // A registration that failed is reported as an unhandled rejection after its RPC is done: one
                // turn of the event loop lets Node report it before the plan is taken as complete.
                await new Promise((resolve) => setImmediate(resolve));
                if (uncaught) throw uncaught.error;
            })(),
            firstUncaughtError,
        ]);
    } catch (error) {
        throw new ProgramError(programErrorText(error));
    }
    return {
        project,
        stack: options.stack,
        resources: plannedResources(recorder.resources, options.showSecrets),
        invokes: plannedInvokes(recorder.invokes, options.showSecrets),
        outputs: Object.fromEntries(
            [...recorder.stackOutputs].map(([key, value]) => [
                key,
                plain(value, { showSecrets: options.showSecrets, nameOf }),
            ]),
        ),
        warnings: recorder.warnings,
        kubeconfig: kubeconfigOutput(recorder.stackOutputs.get("kubeconfig"), options.showSecrets),
        redactedFiles: options.showSecrets ? {} : redactedBundles(recorder.resources, nameOf),
        userData: userDataDocuments(recorder.resources, options.showSecrets),
    };

    function nameOf(urn: string): string {
        if (!names) {
            // The first resource of each URN, as a search from the start would find it.
            names = new Map();
            for (const resource of recorder.resources)
                if (!names.has(resource.urn)) names.set(resource.urn, resource.name);
        }
        return names.get(urn) ?? urn;
    }
}

function userDataDocuments(recorded: RecordedResource[], showSecrets: boolean): Record<string, string> {
    const documents: Record<string, string> = {};
    for (const resource of recorded.filter((candidate) => candidate.type.endsWith(":Instance"))) {
        const inputs = plain(resource.wireInputs, { showSecrets: true, nameOf: (urn) => urn }) as Record<
            string,
            unknown
        >;
        const packed = inputs.userData ?? inputs.userDataBase64;
        if (typeof packed !== "string") continue;
        const document = decodeUserData(packed);
        documents[resource.name] = showSecrets
            ? document
            : document.replace(
                  /-----BEGIN OPENSSH PRIVATE KEY-----[\s\S]*?-----END OPENSSH PRIVATE KEY-----/g,
                  secretPlaceholder,
              );
    }
    return documents;
}

/** Clouds take user-data as text or base64, possibly gzip-compressed; the plan shows the document, decoded. */
function decodeUserData(value: string): string {
    if (value.startsWith("#")) return value;
    const bytes = Buffer.from(value, "base64");
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    return (gzip ? gunzipSync(bytes) : bytes).toString("utf8");
}

/** The kubeconfig with its credentials replaced by "[secret]" unless secrets are shown. */
function kubeconfigOutput(wire: unknown, showSecrets: boolean): string | undefined {
    const text = plain(wire, { showSecrets: true, nameOf: (urn) => urn });
    if (typeof text !== "string") return undefined;
    if (showSecrets) return text;
    const kubeconfig = parseYaml(text) as { users?: { user?: Record<string, unknown> }[] };
    for (const { user } of kubeconfig.users ?? []) {
        for (const key of ["client-key-data", "token", "password"]) if (user?.[key]) user[key] = secretPlaceholder;
    }
    return stringifyYaml(kubeconfig);
}

export function plannedResources(recorded: RecordedResource[], showSecrets: boolean): PlannedResource[] {
    const byUrn = new Map(recorded.map((resource) => [resource.urn, resource]));
    // Every use of a name after its first (a Set, not a search per resource: quadratic in a 500-worker plan).
    const seen = new Set<string>();
    const duplicates = recorded.filter((resource) => seen.has(resource.name) || !seen.add(resource.name));
    if (duplicates.length > 0) {
        // The plan and operators refer to resources by name alone, so names must be unique.
        throw new ProgramError(
            `resource names used twice: ${duplicates.map((r) => `${r.name} (${r.type})`).join(", ")}`,
        );
    }
    const nameOf = (urn: string) => byUrn.get(urn)?.name ?? urn;
    return recorded
        .map((resource) => ({
            type: resource.type,
            name: resource.name,
            parent: resource.parentUrn ? nameOf(resource.parentUrn) : null,
            dependencies: [...new Set(resource.dependencyUrns.map(nameOf))].sort(),
            ...(resource.dependsOnUrns.length > 0
                ? { dependsOn: [...new Set(resource.dependsOnUrns.map(nameOf))].sort() }
                : {}),
            ...(resource.deletedWithUrn ? { deletedWith: nameOf(resource.deletedWithUrn) } : {}),
            ...(resource.providerUrn ? { provider: nameOf(resource.providerUrn) } : {}),
            ...(resource.ignoreChanges.length > 0 ? { ignoreChanges: resource.ignoreChanges } : {}),
            ...(resource.replaceOnChanges.length > 0 ? { replaceOnChanges: resource.replaceOnChanges } : {}),
            ...(resource.replacementTrigger !== undefined
                ? { replacementTrigger: plain(resource.replacementTrigger, { showSecrets, nameOf }) }
                : {}),
            ...(resource.deleteBeforeReplace ? { deleteBeforeReplace: true as const } : {}),
            ...(resource.protect ? { protect: true as const } : {}),
            ...(resource.retainOnDelete ? { retainOnDelete: true as const } : {}),
            ...(resource.additionalSecretOutputs.length > 0
                ? { additionalSecretOutputs: resource.additionalSecretOutputs }
                : {}),
            inputs: auditable(resource, plain(resource.wireInputs, { showSecrets, nameOf }), nameOf),
        }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
}

/** The program's provider function calls, identical calls once, in a stable order (token, then arguments). */
export function plannedInvokes(recorded: RecordedInvoke[], showSecrets: boolean): PlannedInvoke[] {
    const unique = new Map<string, PlannedInvoke>();
    for (const invoke of recorded) {
        const args = plain(invoke.wireArgs, { showSecrets, nameOf: (urn) => urn }) as Record<string, unknown>;
        const planned = { token: invoke.token, args };
        unique.set(JSON.stringify(planned), planned);
    }
    return [...unique].sort(([a], [b]) => a.localeCompare(b)).map(([, planned]) => planned);
}

/**
 * A remote command's connection is a secret as a whole (it holds the SSH key); where the step runs is not,
 * so a plan without secrets still shows the hosts and users, with the key redacted.
 */
function auditable(resource: RecordedResource, inputs: unknown, nameOf: (urn: string) => string) {
    const shown = inputs as Record<string, unknown>;
    if (resource.type !== remoteCommand || shown.connection !== secretPlaceholder) return shown;
    const connection = plain((resource.wireInputs as Record<string, unknown>).connection, {
        showSecrets: true,
        nameOf,
    });
    return { ...shown, connection: redactedConnection(connection as Parameters<typeof redactedConnection>[0]) };
}

/** The files of every secret bundle a remote step carries, as a plan without secrets may show them. */
function redactedBundles(recorded: RecordedResource[], nameOf: (urn: string) => string): Record<string, HostFile[]> {
    const files: Record<string, HostFile[]> = {};
    for (const resource of recorded) {
        const stdin = (resource.wireInputs as Record<string, unknown>).stdin;
        if (resource.type !== remoteCommand || plain(stdin, { showSecrets: false, nameOf }) !== secretPlaceholder) {
            continue;
        }
        const revealed = plain(stdin, { showSecrets: true, nameOf });
        if (typeof revealed !== "string" || !carriesBundle(revealed)) continue;
        files[resource.name] = decodeBundle(bundleInStdin(revealed)).flatMap((file) => redactedFile(file) ?? []);
    }
    return files;
}

/**
 * The configuration `pulumi up -s <stack>` would pass: the stack file's `config:` over the
 * project defaults declared in Pulumi.yaml, every value a string (objects as JSON), keys namespaced.
 */
export function readStackConfig(
    projectDir: string,
    stack: string,
    configFile?: string,
): { project: string; config: Record<string, string> } {
    const projectFile = readYaml(path.join(projectDir, "Pulumi.yaml")) as {
        name: string;
        config?: Record<string, { default?: unknown } | unknown>;
    };
    const project = projectFile.name;
    const stackPath = configFile ?? path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackPath)) throw new ProgramError(`no stack file ${stackPath}`);
    const stackFile = (readYaml(stackPath) ?? {}) as { config?: Record<string, unknown> };

    const namespaced = (key: string) => (key.includes(":") ? key : `${project}:${key}`);
    const config: Record<string, string> = {};
    for (const [key, declaration] of Object.entries(projectFile.config ?? {})) {
        const value =
            declaration && typeof declaration === "object" && "default" in declaration
                ? declaration.default
                : undefined;
        if (value !== undefined) config[namespaced(key)] = asConfigString(value);
    }
    const encrypted: string[] = [];
    for (const [key, value] of Object.entries(stackFile.config ?? {})) {
        // `pulumi config set --secret` stores {secure: <ciphertext>} (with --path, inside the key's object, as
        // kubeha:backup.s3.secretAccessKey); only the CLI, with the stack's passphrase or secrets provider, can
        // decrypt it.
        const secure = encryptedPaths(value, namespaced(key));
        if (secure.length > 0) {
            encrypted.push(...secure);
            continue;
        }
        config[namespaced(key)] = asConfigString(value);
    }
    if (encrypted.length > 0) {
        throw new ProgramError(
            `The stack file has ${encrypted.length} value(s) the plan cannot use:\n` +
                encrypted
                    .map(
                        (key) =>
                            `  ${key}: secret values cannot be read offline; plan a copy of the stack file with ` +
                            "a stand-in plain value (--config <file>)",
                    )
                    .join("\n"),
        );
    }
    return { project, config };
}

/** Where a stack value holds `{secure: <ciphertext>}`: the key itself, or its paths inside the key's object or list. */
function encryptedPaths(value: unknown, at: string): string[] {
    if (!value || typeof value !== "object") return [];
    if (!Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value) return [at];
    return Object.entries(value).flatMap(([inner, item]) =>
        encryptedPaths(item, Array.isArray(value) ? `${at}[${inner}]` : `${at}.${inner}`),
    );
}

/** A YAML file's content; a syntax error is one line naming the file, line and column. */
function readYaml(file: string): unknown {
    try {
        return parseYaml(fs.readFileSync(file, "utf8"));
    } catch (error) {
        if (!(error instanceof YAMLParseError)) throw error;
        const [start] = error.linePos ?? [];
        const where = start ? `${file}:${start.line}:${start.col}` : file;
        throw new ProgramError(`${where}: not valid YAML: ${error.message.split(" at line ")[0].split("\n")[0]}`);
    }
}

function asConfigString(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

type RunProgram = (
    argv: { _: string[] },
    started: () => void,
    logged: (error: Error) => void,
    reported: (error: Error) => boolean,
) => Promise<unknown>;

/**
 * `run` from @pulumi/pulumi/cmd/run/run.js: the function the Node.js language host uses to register
 * ts-node and load the program. Its sibling index.js starts a gRPC language host as soon as it is
 * loaded, so the plan gives run.js the one constant it reads from there instead.
 */
function languageHostRun(): { run: RunProgram } {
    const entry = require.resolve("@pulumi/pulumi/cmd/run/index.js");
    if (!require.cache[entry]) {
        const shim = new Module(entry);
        shim.filename = entry;
        shim.loaded = true;
        shim.exports = { nodeJSProcessExitedAfterLoggingUserActionableMessage: 32 };
        require.cache[entry] = shim;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@pulumi/pulumi/cmd/run/run.js") as { run: RunProgram };
}

function noop(): void {}

/**
 * What a failed program prints: the message of an error meant for the user (a RunError, like a config problem),
 * else the whole stack, which points at the failing line. Never util.inspect: see components/readable-errors.ts.
 */
function programErrorText(error: unknown): string {
    if (pulumi.RunError.isInstance(error as Error)) return (error as Error).message;
    return `the program failed: ${errorText(error)}`;
}
