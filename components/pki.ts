// The cluster's PKI, generated in the program with @pulumi/tls and kept as Pulumi secrets: the
// kubernetes, front-proxy and etcd CAs, the service-account key pair, every certificate kubeadm and
// etcd need (kubeadm reuses the ones it finds), the admin identity and kubeconfig, and the bootstrap
// token workers join with.
import { createHash, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { addressAt, parseCidr } from "../config/cidr";
import { apiProxyName, hostFqdn, PlannedHost } from "../config/layout";
import { ports } from "../config/ports";
import { ClusterConfig } from "../config/resolve";
import { HostFile } from "../render/host-file";
import { renderKubeconfig } from "../render/kubeconfig";
import { Credential, pkiFiles } from "../render/pki-files";

export interface ClusterPkiArgs {
    readonly config: ClusterConfig;
    /** Every host from the address plan (config/layout.ts). */
    readonly layout: readonly PlannedHost[];
    /** The API load balancer for clients outside the VPC, when there is one (components/hosts.ts). */
    readonly apiLoadBalancer?: {
        /** What the admin kubeconfig connects to. */
        readonly endpoint: pulumi.Input<string>;
        /** Every DNS name and address it answers on, for the apiserver certificate. */
        readonly names: pulumi.Input<string[]>;
    };
    /**
     * One stable value per host that runs `kubeadm join` (its instance id once the infra has one): when
     * the list changes, a host was added or replaced, and a fresh bootstrap token is drawn.
     */
    readonly joinIdentities: pulumi.Input<pulumi.Input<string>[]>;
}

/** One issued certificate as the stack outputs list it. */
export interface CertificateSummary {
    readonly name: string;
    readonly subject: string;
    /** RFC 3339. */
    readonly notAfter: string;
}

/**
 * How long a bootstrap token is valid once created on the cluster (kubeadm's default). The join steps
 * run minutes after the token is created; afterwards the token cleaner deletes it.
 */
export const bootstrapTokenTtl = "24h";

/** kubeadm's group for cluster admins since 1.29, bound to cluster-admin (revocable, unlike system:masters). */
export const clusterAdminsGroup = "kubeadm:cluster-admins";

/** ECDSA P-256 everywhere tls would otherwise default to P-224, which Go's TLS stack rejects. */
const ecdsaKey: tls.PrivateKeyArgs = { algorithm: "ECDSA", ecdsaCurve: "P256" };
/** The service-account signing key is RSA: RS256 is what every consumer of service-account tokens accepts. */
const serviceAccountKey: tls.PrivateKeyArgs = { algorithm: "RSA", rsaBits: 2048 };
const caUses = ["cert_signing", "crl_signing", "digital_signature"];

type ExtendedUsage = "server_auth" | "client_auth";

interface LeafSpec {
    /** Name in the outputs list; resources are `<name>-key`, `<name>-csr` and `<name>-cert`. */
    readonly name: string;
    readonly commonName: string;
    readonly organization?: string;
    readonly usages: ExtendedUsage[];
    readonly dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
    readonly ipAddresses?: pulumi.Input<pulumi.Input<string>[]>;
}

interface Issued {
    readonly name: string;
    readonly subject: string;
    readonly key: tls.PrivateKey;
    readonly certPem: pulumi.Output<string>;
    readonly validityStartTime: pulumi.Output<string>;
    readonly validityEndTime: pulumi.Output<string>;
}

export class ClusterPki extends pulumi.ComponentResource {
    /** Every certificate with its subject and expiry, CAs first. */
    readonly certificates: pulumi.Output<CertificateSummary[]>;
    /** The kubernetes CA certificate (ca.crt). */
    readonly caCertPem: pulumi.Output<string>;
    /** `sha256:<hex>` over the CA's DER SubjectPublicKeyInfo: kubeadm join's --discovery-token-ca-cert-hash. */
    readonly discoveryTokenCaCertHash: pulumi.Output<string>;
    /** `<id>.<secret>` (a secret), valid for bootstrapTokenTtl once created on the cluster. */
    readonly bootstrapToken: pulumi.Output<string>;
    /** Where clients outside the VPC reach the API: the load balancer, or the local proxy name without one. */
    readonly apiServerUrl: pulumi.Output<string>;
    /** Admin kubeconfig for apiServerUrl (a secret), identity in kubeadm:cluster-admins. */
    readonly adminKubeconfig: pulumi.Output<string>;

    private readonly layout: readonly PlannedHost[];
    private readonly credentials = new Map<string, Issued | tls.PrivateKey>();

    constructor(name: string, args: ClusterPkiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("kubeha:pki:ClusterPki", name, {}, opts);
        const { config, layout } = args;
        const { caValidityHours, certValidityHours, earlyRenewalHours } = config.pki;
        const domain = config.network.privateDomain;
        this.layout = layout;
        const now = Date.now();

        const ca = (caName: string, commonName: string): Issued => {
            const key = new tls.PrivateKey(`${caName}-key`, ecdsaKey, { parent: this });
            const cert = new tls.SelfSignedCert(
                `${caName}-cert`,
                {
                    privateKeyPem: key.privateKeyPem,
                    subject: { commonName },
                    isCaCertificate: true,
                    allowedUses: caUses,
                    validityPeriodHours: caValidityHours,
                    earlyRenewalHours,
                },
                { parent: this },
            );
            return issued(caName, { commonName }, key, cert);
        };

        const leaf = (signer: Issued, spec: LeafSpec): Issued => {
            const key = new tls.PrivateKey(`${spec.name}-key`, ecdsaKey, { parent: this });
            const subject = { commonName: spec.commonName, organization: spec.organization };
            const request = new tls.CertRequest(
                `${spec.name}-csr`,
                {
                    privateKeyPem: key.privateKeyPem,
                    subject,
                    dnsNames: spec.dnsNames,
                    ipAddresses: spec.ipAddresses,
                },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                `${spec.name}-cert`,
                {
                    certRequestPem: request.certRequestPem,
                    caCertPem: signer.certPem,
                    caPrivateKeyPem: signer.key.privateKeyPem,
                    allowedUses: ["digital_signature", ...spec.usages],
                    validityPeriodHours: certValidityHours,
                    earlyRenewalHours,
                },
                {
                    parent: this,
                    // Renewal that does not depend on the provider (pulumi-tls#39): see renewalRound.
                    replacementTrigger: signer.validityStartTime.apply((anchor) =>
                        renewalRound(now, anchor, certValidityHours - earlyRenewalHours),
                    ),
                },
            );
            return issued(spec.name, subject, key, cert);
        };

        const kubernetesCa = ca("kubernetes-ca", "kubernetes");
        const frontProxyCa = ca("front-proxy-ca", "front-proxy-ca");
        const etcdCa = ca("etcd-ca", "etcd-ca");
        const saKey = new tls.PrivateKey("service-account-key", serviceAccountKey, { parent: this });

        const lb = args.apiLoadBalancer;
        const lbNames = pulumi.output(lb?.names ?? []).apply((names) => names.map((item) => item.toLowerCase()));
        const masters = layout.filter((host) => host.role === "master");
        const etcdMembers = layout.filter((host) => host.etcdMember);
        const proxyName = apiProxyName(domain);
        const clusterDomain = config.network.clusterDomain;

        const apiserver = leaf(kubernetesCa, {
            name: "apiserver",
            commonName: "kube-apiserver",
            usages: ["server_auth"],
            dnsNames: lbNames.apply((names) => [
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                `kubernetes.default.svc.${clusterDomain}`,
                proxyName,
                ...masters.flatMap((host) => [host.name, hostFqdn(host.name, domain)]),
                ...names.filter((item) => isIP(item) === 0),
            ]),
            ipAddresses: lbNames.apply((names) => [
                firstServiceAddress(config.network.serviceCidr),
                "127.0.0.1",
                ...masters.map((host) => host.privateIp),
                ...names.filter((item) => isIP(item) !== 0),
            ]),
        });
        const kubeletClient = leaf(kubernetesCa, {
            name: "apiserver-kubelet-client",
            commonName: "kube-apiserver-kubelet-client",
            organization: clusterAdminsGroup,
            usages: ["client_auth"],
        });
        const admin = leaf(kubernetesCa, {
            name: "admin",
            commonName: "kubernetes-admin",
            organization: clusterAdminsGroup,
            usages: ["client_auth"],
        });
        const frontProxyClient = leaf(frontProxyCa, {
            name: "front-proxy-client",
            commonName: "front-proxy-client",
            usages: ["client_auth"],
        });
        const etcdClient = leaf(etcdCa, {
            name: "apiserver-etcd-client",
            commonName: "kube-apiserver-etcd-client",
            usages: ["client_auth"],
        });
        const healthcheckClient = leaf(etcdCa, {
            name: "etcd-healthcheck-client",
            commonName: "kube-etcd-healthcheck-client",
            usages: ["client_auth"],
        });
        // etcd checks the client certificate of peers too, hence server and client auth on both (as kubeadm).
        const memberCertificates = etcdMembers.flatMap((host) => {
            const fqdn = hostFqdn(host.name, domain);
            const server = leaf(etcdCa, {
                name: `${host.name}-etcd-server`,
                commonName: host.name,
                usages: ["server_auth", "client_auth"],
                dnsNames: [fqdn, host.name, "localhost"],
                ipAddresses: [host.privateIp, "127.0.0.1"],
            });
            const peer = leaf(etcdCa, {
                name: `${host.name}-etcd-peer`,
                commonName: host.name,
                usages: ["server_auth", "client_auth"],
                dnsNames: [fqdn, host.name],
                ipAddresses: [host.privateIp],
            });
            this.credentials.set(credentialKey("etcd-server", host.name), server);
            this.credentials.set(credentialKey("etcd-peer", host.name), peer);
            return [server, peer];
        });

        const shared: [Credential, Issued | tls.PrivateKey][] = [
            ["kubernetes-ca", kubernetesCa],
            ["front-proxy-ca", frontProxyCa],
            ["etcd-ca", etcdCa],
            ["service-account", saKey],
            ["apiserver", apiserver],
            ["apiserver-kubelet-client", kubeletClient],
            ["front-proxy-client", frontProxyClient],
            ["apiserver-etcd-client", etcdClient],
            ["etcd-healthcheck-client", healthcheckClient],
        ];
        shared.forEach(([credential, value]) => this.credentials.set(credentialKey(credential), value));

        const all = [
            kubernetesCa,
            frontProxyCa,
            etcdCa,
            apiserver,
            kubeletClient,
            frontProxyClient,
            admin,
            etcdClient,
            healthcheckClient,
            ...memberCertificates,
        ];
        this.certificates = pulumi.output(
            all.map((cert) => ({ name: cert.name, subject: cert.subject, notAfter: cert.validityEndTime })),
        );
        this.caCertPem = kubernetesCa.certPem;
        this.discoveryTokenCaCertHash = kubernetesCa.certPem.apply(discoveryTokenCaCertHash);

        // Only characters kubeadm accepts: [a-z0-9]{6}.[a-z0-9]{16}. Its keepers are the join identities,
        // so the value stays put between runs (no change planned) and is drawn anew exactly when a host is
        // added or replaced, i.e. when a join will run; bootstrapTokenTtl then bounds its life on the cluster.
        const token = new random.RandomPassword(
            "bootstrap-token",
            {
                length: 22,
                upper: false,
                special: false,
                keepers: { joinIdentities: pulumi.output(args.joinIdentities).apply((ids) => ids.join(" ")) },
            },
            { parent: this },
        );
        this.bootstrapToken = pulumi.secret(token.result.apply((value) => `${value.slice(0, 6)}.${value.slice(6)}`));

        // Without a load balancer the only endpoint is the per-node proxy, which resolves on cluster hosts.
        this.apiServerUrl = lb
            ? pulumi.output(lb.endpoint).apply((host) => `https://${host.toLowerCase()}:${ports.apiserver}`)
            : pulumi.output(`https://${proxyName}:${config.network.apiProxyPort}`);
        this.adminKubeconfig = pulumi.secret(
            pulumi
                .all([this.apiServerUrl, kubernetesCa.certPem, admin.certPem, admin.key.privateKeyPem])
                .apply(([server, caCertPem, clientCertPem, clientKeyPem]) =>
                    renderKubeconfig({
                        clusterName: `${pulumi.getProject()}-${pulumi.getStack()}`,
                        server,
                        caCertPem,
                        userName: "kubernetes-admin",
                        clientCertPem,
                        clientKeyPem,
                    }),
                ),
        );

        this.registerOutputs({
            certificates: this.certificates,
            discoveryTokenCaCertHash: this.discoveryTokenCaCertHash,
            apiServerUrl: this.apiServerUrl,
        });
    }

    /** The certificate and key files one host gets, at the paths kubeadm and etcd read; key contents are secrets. */
    hostFiles(hostName: string): HostFile<pulumi.Input<string>>[] {
        const host = this.layout.find((candidate) => candidate.name === hostName);
        if (!host) throw new Error(`no host ${hostName} in the layout`);
        return pkiFiles(host).map(({ path, mode, credential, part }) => {
            const value =
                this.credentials.get(credentialKey(credential, host.name)) ??
                this.credentials.get(credentialKey(credential));
            if (!value) throw new Error(`the PKI has no ${credential} for ${host.name}`);
            const key = value instanceof tls.PrivateKey ? value : value.key;
            const content =
                part === "key"
                    ? pulumi.secret(key.privateKeyPem)
                    : part === "publicKey"
                      ? key.publicKeyPem
                      : (value as Issued).certPem;
            return { path, mode, content };
        });
    }
}

function issued(
    name: string,
    subject: { commonName: string; organization?: string },
    key: tls.PrivateKey,
    cert: tls.SelfSignedCert | tls.LocallySignedCert,
): Issued {
    return {
        name,
        subject: [`CN=${subject.commonName}`, ...(subject.organization ? [`O=${subject.organization}`] : [])].join(
            ", ",
        ),
        key,
        certPem: cert.certPem,
        validityStartTime: cert.validityStartTime,
        validityEndTime: cert.validityEndTime,
    };
}

/** Host-specific credentials (an etcd member's own certificates) are keyed by host too. */
function credentialKey(credential: Credential, hostName?: string): string {
    return hostName && (credential === "etcd-server" || credential === "etcd-peer")
        ? `${hostName}/${credential}`
        : credential;
}

/** The Service IP of `kubernetes.default`: the first address of the service range. */
function firstServiceAddress(serviceCidr: string): string {
    return addressAt(parseCidr(serviceCidr), 1);
}

/** `sha256:<hex>` of the certificate's DER SubjectPublicKeyInfo, the form kubeadm join expects. */
export function discoveryTokenCaCertHash(caCertPem: string): string {
    const spki = new X509Certificate(caCertPem).publicKey.export({ type: "spki", format: "der" });
    return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

/**
 * Which renewal round a leaf certificate is in: whole periods of (validity - early renewal) since its
 * CA was issued. It is the leaf's replacement trigger, so `pulumi up` re-issues a leaf exactly when
 * the round changes (pulumi-tls does not act on earlyRenewalHours by itself). A leaf issued at time t
 * is in a round that ends by t + validity - earlyRenewal, so the round changes at least earlyRenewal
 * hours before the leaf expires; between round changes, the trigger is constant and `pulumi up` plans
 * no change. Leaves issued with their CA (a new cluster) are renewed exactly earlyRenewal before expiry.
 */
export function renewalRound(now: number, anchor: string, periodHours: number): number {
    return Math.max(0, Math.floor((now - Date.parse(anchor)) / (periodHours * 3600_000)));
}
