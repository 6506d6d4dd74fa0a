// What a plan without --show-secrets may still show of a secret input: the configuration files in a secret
// bundle with only their secret values replaced (so kube-proxy mode, subnets and versions can be reviewed), and
// a connection without its key. Private keys are left out whole.
import { isScalar, parseAllDocuments, visit } from "yaml";
import { apiserverFiles } from "../render/apiserver-files";
import { etcdBackup } from "../render/backup";
import { HostFile } from "../render/host-file";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { secretPlaceholder } from "./recorder";

/** Secret configuration files, and the keys that hold their secret values (anywhere in the document). */
const redactedKeys: Readonly<Record<string, readonly string[]>> = {
    // InitConfiguration.bootstrapTokens[].token, JoinConfiguration.discovery.bootstrapToken.token and
    // discovery.tlsBootstrapToken, and the certificate key of a control-plane join (none is used today).
    [kubeadmConfigPaths.init]: ["token", "tlsBootstrapToken", "certificateKey"],
    [kubeadmConfigPaths.join]: ["token", "tlsBootstrapToken", "certificateKey"],
    // EncryptionConfiguration.resources[].providers[].<provider>.keys[].secret
    [apiserverFiles.encryptionConfig]: ["secret"],
    // Cloud machines' key pair of the backup bucket (JSON, which YAML reads).
    [etcdBackup.credentialsFile]: ["AccessKeyId", "SecretAccessKey"],
};

/**
 * A file of a secret bundle as the plan may show it: a known configuration file with its secret values
 * replaced by "[secret]", or nothing (key files, and any file this module does not know how to redact).
 */
export function redactedFile(file: HostFile): HostFile | undefined {
    const keys = redactedKeys[file.path];
    if (!keys) return undefined;
    const content = parseAllDocuments(file.content)
        .map((document) => {
            if (document.errors.length > 0) throw new Error(`${file.path}: ${document.errors[0].message}`);
            visit(document, {
                Pair(_, pair) {
                    if (isScalar(pair.key) && keys.includes(String(pair.key.value)) && isScalar(pair.value)) {
                        pair.value.value = secretPlaceholder;
                    }
                },
            });
            return document.toString({ lineWidth: 0 });
        })
        .join("");
    return { ...file, content };
}

interface Connection {
    readonly privateKey?: unknown;
    readonly password?: unknown;
    readonly proxy?: Connection;
    readonly [key: string]: unknown;
}

/** An SSH connection with its credentials replaced: where a step runs is no secret. */
export function redactedConnection(connection: Connection): Connection {
    const { privateKey, password, proxy, ...rest } = connection;
    return {
        ...rest,
        ...(privateKey === undefined ? {} : { privateKey: secretPlaceholder }),
        ...(password === undefined ? {} : { password: secretPlaceholder }),
        ...(proxy ? { proxy: redactedConnection(proxy) } : {}),
    };
}
