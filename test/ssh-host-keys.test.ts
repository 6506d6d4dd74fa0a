// SSH host keys: every host gets its own key from the program through user-data, and every remote step pins it on
// both hops (the bastion, then the host behind it). Read from the offline plan with secrets shown.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { plan } from "./support/plan";

interface Connection {
    host: string;
    hostKey?: string;
    proxy?: { host: string; hostKey?: string };
}

for (const stack of ["dev", "aws-dev"]) {
    describe(`${stack}: SSH host keys`, () => {
        const shown = () => plan({ stack, showSecrets: true });
        const hosts = () => Object.keys(shown().outputs.hosts as Record<string, unknown>);
        /** The key pair each host's user-data installs, checked to be a pair by ssh-keygen. */
        const keyOf = (host: string) => {
            const document = parseYaml(shown().file(`hosts/${host}/user-data`)) as {
                ssh_keys: { ed25519_private: string; ed25519_public: string };
                ssh_deletekeys: boolean;
            };
            assert.equal(document.ssh_deletekeys, true);
            return document.ssh_keys;
        };
        const address = (host: string) =>
            (shown().outputs.hosts as Record<string, { privateIp: string }>)[host].privateIp;

        test("every host has a key of its own, and its user-data holds both halves of it", () => {
            const publicKeys = hosts().map((host) => keyOf(host).ed25519_public);
            assert.equal(new Set(publicKeys).size, hosts().length, "no two hosts share a key");
            for (const host of hosts()) {
                const file = path.join(shown().dir, `${host}.key`);
                fs.writeFileSync(file, keyOf(host).ed25519_private, { mode: 0o600 });
                const derived = spawnSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" });
                assert.equal(derived.status, 0, derived.stderr);
                assert.equal(derived.stdout.trim(), keyOf(host).ed25519_public, host);
                assert.match(keyOf(host).ed25519_public, /^ssh-ed25519 \S+$/);
            }
        });

        test("every remote step pins the bastion's key and its host's key", () => {
            const byAddress = new Map(hosts().map((host) => [address(host), host]));
            const steps = shown().ofType("command:remote:Command");
            assert.ok(steps.length > 10);
            for (const step of steps) {
                const connection = step.inputs.connection as Connection;
                if (connection.proxy) {
                    const target = byAddress.get(connection.host);
                    assert.ok(target, `${step.name} connects to ${connection.host}`);
                    assert.equal(connection.hostKey, keyOf(target).ed25519_public, `${step.name}: ${target}'s key`);
                    assert.equal(
                        connection.proxy.hostKey,
                        keyOf("bastion").ed25519_public,
                        `${step.name}: bastion's key`,
                    );
                } else {
                    assert.equal(connection.hostKey, keyOf("bastion").ed25519_public, `${step.name}: bastion's key`);
                }
            }
        });

        test("without --show-secrets the plan shows no private key: user-data is a secret input", () => {
            const hidden = plan({ stack });
            for (const host of hosts()) {
                const document = hidden.file(`hosts/${host}/user-data`);
                assert.doesNotMatch(document, /PRIVATE KEY/, host);
                assert.match(document, /ed25519_private: \|\n\s+\[secret\]/, host);
                const instance = hidden.named(host);
                assert.equal(instance.inputs.userData ?? instance.inputs.userDataBase64, "[secret]", host);
            }
        });
    });
}
