// Cloud machines' SSH keys (clouds/cloud.ts sshKeys): the machines have theirs already, so all come from the config.
import * as pulumi from "@pulumi/pulumi";
import { bastionName } from "../../config/layout";
import { ClusterConfig } from "../../config/resolve";
import { SshKeys } from "../cloud";

export function configuredSshKeys(config: ClusterConfig): SshKeys {
    const hostKeys: Record<string, pulumi.Output<string>> = {};
    for (const machine of config.machines ?? []) hostKeys[machine.name] = pulumi.output(knownHostsKey(machine.hostKey));
    if (config.bastion.address && config.bastion.hostKey) {
        hostKeys[bastionName] = pulumi.output(knownHostsKey(config.bastion.hostKey));
    }
    return {
        // The machines have the login key installed already: its public half is not needed.
        publicKey: pulumi.output(""),
        privateKey: pulumi.secret(config.sshPrivateKey ?? ""),
        hostKeys,
    };
}

/** `ssh-ed25519 <base64>` of a known_hosts-style key (the config checked it), without its comment. */
export function knownHostsKey(line: string): string {
    const [type, blob] = line.trim().split(/\s+/);
    return `${type} ${blob}`;
}
