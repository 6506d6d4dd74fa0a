// A kubeconfig with one cluster, one client-certificate user and one context, credentials embedded.
import { stringify } from "yaml";

export interface KubeconfigInput {
    /** Cluster and context name as kubectl shows it. */
    readonly clusterName: string;
    /** https://host:port of the API server. */
    readonly server: string;
    readonly caCertPem: string;
    /** The user's name in the file; the API server takes the identity from the certificate. */
    readonly userName: string;
    readonly clientCertPem: string;
    readonly clientKeyPem: string;
}

export function renderKubeconfig(input: KubeconfigInput): string {
    const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
    const context = `${input.userName}@${input.clusterName}`;
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
            {
                name: input.clusterName,
                cluster: { server: input.server, "certificate-authority-data": base64(input.caCertPem) },
            },
        ],
        users: [
            {
                name: input.userName,
                user: {
                    "client-certificate-data": base64(input.clientCertPem),
                    "client-key-data": base64(input.clientKeyPem),
                },
            },
        ],
        contexts: [{ name: context, context: { cluster: input.clusterName, user: input.userName } }],
        "current-context": context,
        preferences: {},
    });
}
