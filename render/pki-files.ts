// Which certificate and key files land on which host, at the paths kubeadm and etcd read them from.
// Pure: the PKI component fills in the contents.
import { PlannedHost } from "../config/layout";
import { etcdPki } from "./etcd";
import { FileMode } from "./host-file";

/** A credential the cluster PKI issues; etcd-server and etcd-peer are the host's own. */
export type Credential =
    | "kubernetes-ca"
    | "front-proxy-ca"
    | "etcd-ca"
    | "service-account"
    | "apiserver"
    | "apiserver-kubelet-client"
    | "front-proxy-client"
    | "apiserver-etcd-client"
    | "etcd-healthcheck-client"
    | "etcd-server"
    | "etcd-peer";

/** The certificate, the private key, or (service-account signing key only) the public key. */
export type CredentialPart = "cert" | "key" | "publicKey";

export interface PkiFile {
    readonly path: string;
    readonly mode: FileMode;
    readonly credential: Credential;
    readonly part: CredentialPart;
}

const kubernetesPkiDir = "/etc/kubernetes/pki";

/**
 * kubeadm's file names under /etc/kubernetes/pki. With ca.key, front-proxy-ca.key and sa.key present,
 * kubeadm signs what it still needs itself (kubeconfigs, kubelet client); the leaves here it reuses,
 * as they are signed by those CAs and carry every SAN it wants.
 */
export const kubernetesPki = {
    caCert: `${kubernetesPkiDir}/ca.crt`,
    caKey: `${kubernetesPkiDir}/ca.key`,
    serviceAccountKey: `${kubernetesPkiDir}/sa.key`,
    serviceAccountPublicKey: `${kubernetesPkiDir}/sa.pub`,
    frontProxyCaCert: `${kubernetesPkiDir}/front-proxy-ca.crt`,
    frontProxyCaKey: `${kubernetesPkiDir}/front-proxy-ca.key`,
    frontProxyClientCert: `${kubernetesPkiDir}/front-proxy-client.crt`,
    frontProxyClientKey: `${kubernetesPkiDir}/front-proxy-client.key`,
    apiserverCert: `${kubernetesPkiDir}/apiserver.crt`,
    apiserverKey: `${kubernetesPkiDir}/apiserver.key`,
    apiserverKubeletClientCert: `${kubernetesPkiDir}/apiserver-kubelet-client.crt`,
    apiserverKubeletClientKey: `${kubernetesPkiDir}/apiserver-kubelet-client.key`,
    /** kubeadm's `etcd.external` files: the apiserver's identity towards the external etcd. */
    etcdCaCert: `${kubernetesPkiDir}/etcd/ca.crt`,
    apiserverEtcdClientCert: `${kubernetesPkiDir}/apiserver-etcd-client.crt`,
    apiserverEtcdClientKey: `${kubernetesPkiDir}/apiserver-etcd-client.key`,
} as const;

/**
 * The certificates the kube-apiserver reads: its own and the CAs it trusts. It reads its client
 * certificates (towards etcd, the kubelets, the front proxy) only when it starts: a change of any of these
 * restarts it (the apiserver-restart step). Keys are left out: a renewal keeps them, and a new key comes
 * with a new certificate.
 */
export const apiserverCertificates = [
    kubernetesPki.caCert,
    kubernetesPki.frontProxyCaCert,
    kubernetesPki.etcdCaCert,
    kubernetesPki.apiserverCert,
    kubernetesPki.apiserverKubeletClientCert,
    kubernetesPki.frontProxyClientCert,
    kubernetesPki.apiserverEtcdClientCert,
] as const;

type Entry = [path: string, credential: Credential, part: CredentialPart];

const masterFiles: Entry[] = [
    [kubernetesPki.caCert, "kubernetes-ca", "cert"],
    [kubernetesPki.caKey, "kubernetes-ca", "key"],
    [kubernetesPki.serviceAccountKey, "service-account", "key"],
    [kubernetesPki.serviceAccountPublicKey, "service-account", "publicKey"],
    [kubernetesPki.frontProxyCaCert, "front-proxy-ca", "cert"],
    [kubernetesPki.frontProxyCaKey, "front-proxy-ca", "key"],
    [kubernetesPki.frontProxyClientCert, "front-proxy-client", "cert"],
    [kubernetesPki.frontProxyClientKey, "front-proxy-client", "key"],
    [kubernetesPki.apiserverCert, "apiserver", "cert"],
    [kubernetesPki.apiserverKey, "apiserver", "key"],
    [kubernetesPki.apiserverKubeletClientCert, "apiserver-kubelet-client", "cert"],
    [kubernetesPki.apiserverKubeletClientKey, "apiserver-kubelet-client", "key"],
    [kubernetesPki.etcdCaCert, "etcd-ca", "cert"],
    [kubernetesPki.apiserverEtcdClientCert, "apiserver-etcd-client", "cert"],
    [kubernetesPki.apiserverEtcdClientKey, "apiserver-etcd-client", "key"],
];

/** Workers need only the CA that their kubelet and kubeadm join trust. */
const workerFiles: Entry[] = [[kubernetesPki.caCert, "kubernetes-ca", "cert"]];

/** etcd members: no CA key anywhere; every etcd certificate is issued by the program. */
const etcdMemberFiles: Entry[] = [
    [etcdPki.ca, "etcd-ca", "cert"],
    [etcdPki.serverCert, "etcd-server", "cert"],
    [etcdPki.serverKey, "etcd-server", "key"],
    [etcdPki.peerCert, "etcd-peer", "cert"],
    [etcdPki.peerKey, "etcd-peer", "key"],
    [etcdPki.healthcheckClientCert, "etcd-healthcheck-client", "cert"],
    [etcdPki.healthcheckClientKey, "etcd-healthcheck-client", "key"],
];

/** Every PKI file one host gets (none for the bastion); keys 0600, certificates and public keys 0644. */
export function pkiFiles(host: PlannedHost): PkiFile[] {
    const entries = [
        ...(host.role === "master" ? masterFiles : []),
        ...(host.role === "worker" ? workerFiles : []),
        ...(host.etcdMember ? etcdMemberFiles : []),
    ];
    return entries.map(([path, credential, part]) => ({
        path,
        mode: part === "key" ? "0600" : "0644",
        credential,
        part,
    }));
}
