// Asks a Pulumi resource provider plugin for its version the way the engine does, since a plugin has no --version
// flag: starts it (without an engine address it serves alone and prints its port), then calls GetPluginInfo, which
// the engine checks against the version the SDK requests, and GetSchema, whose version the plugin embeds at build
// time. Prints `plugin <version> schema <version>`; exits non-zero if the plugin does not answer.
// Usage: plugin-version.ts <plugin binary>
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { ResourceProviderClient } from "@pulumi/pulumi/proto/provider_grpc_pb";
import { GetSchemaRequest } from "@pulumi/pulumi/proto/provider_pb";

const timeoutMs = 60_000;

async function pluginVersions(binary: string): Promise<{ plugin: string; schema: string }> {
    const child = spawn(binary, [], { stdio: ["ignore", "pipe", "inherit"] });
    try {
        const port = await new Promise<string>((resolve, reject) => {
            const lines = createInterface({ input: child.stdout });
            lines.once("line", (line) => resolve(line.trim()));
            child.once("error", reject);
            child.once("exit", (code) => reject(new Error(`${binary} exited (${code}) before printing its port`)));
            setTimeout(() => reject(new Error(`${binary} printed no port within ${timeoutMs / 1000} s`)), timeoutMs);
        });
        if (!/^\d+$/.test(port)) throw new Error(`${binary} printed ${JSON.stringify(port)}, not a port`);
        // The Kubernetes provider's schema is several MB: above gRPC's default message limit.
        const client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
            "grpc.max_receive_message_length": -1,
        });
        const deadline = () => ({ deadline: Date.now() + timeoutMs });
        try {
            const plugin = await new Promise<string>((resolve, reject) =>
                client.getPluginInfo(new Empty(), new grpc.Metadata(), deadline(), (error, info) =>
                    error ? reject(error) : resolve(info!.getVersion()),
                ),
            );
            const schema = await new Promise<string>((resolve, reject) =>
                client.getSchema(new GetSchemaRequest(), new grpc.Metadata(), deadline(), (error, response) =>
                    error
                        ? reject(error)
                        : resolve((JSON.parse(response!.getSchema()) as { version?: string }).version ?? "none"),
                ),
            );
            return { plugin: plugin || "none", schema };
        } finally {
            client.close();
        }
    } finally {
        child.kill();
    }
}

const binary = process.argv[2];
if (!binary) throw new Error("usage: plugin-version.ts <plugin binary>");
pluginVersions(binary).then(
    ({ plugin, schema }) => {
        process.stdout.write(`plugin ${plugin} schema ${schema}\n`);
        process.exit(0);
    },
    (error: Error) => {
        process.stderr.write(`plugin-version: ${error.message}\n`);
        process.exit(1);
    },
);
