// The client certificates kubeadm makes itself, renewed on the masters without hands. kubeha issues every other
// certificate on a host (components/pki.ts; renewed by pulumi up), and the kubelets rotate their own client
// certificates (rotateCertificates) and ask for their serving ones (the approver, render/kubelet-serving.ts). What
// is left are the certificates kubeadm embeds in the kubeconfigs it writes on a master (admin.conf,
// super-admin.conf on the first master, controller-manager.conf, scheduler.conf): a year by default
// (certificateValidityPeriod), and upgrades pass --certificate-renewal=false. A daily timer on every master runs
// scripts/renew-kubeconfigs.sh, which renews each one once it is within kubeha:pki.earlyRenewalHours of expiry.
import { stringify } from "yaml";
import { PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import { etcdClientUrls } from "./etcd";
import { HostFile } from "./host-file";
import { kubeadmApiVersion } from "./kubeadm";
import { kubernetesPki } from "./pki-files";
import { installedScript } from "./steps";

export const kubeconfigRenewal = {
    /** What kubeadm certs renew reads: the key algorithm and validity of the certificates it makes. */
    kubeadmConfig: "/etc/kubernetes/kubeadm/renewal.yaml",
    /** The kubeconfigs whose embedded client certificates kubeadm made, as `kubeadm certs renew` names them. */
    kubeconfigs: ["admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"],
    service: "kubeha-renew-kubeconfigs.service",
    timer: "kubeha-renew-kubeconfigs.timer",
} as const;

const unitDir = "/etc/systemd/system";

/**
 * The settings of kubeadm's ClusterConfiguration that `kubeadm certs renew` uses for a kubeconfig's certificate (the
 * same as in the first master's init configuration, render/kubeadm.ts) and the external etcd (without it `kubeadm
 * certs check-expiration` looks for etcd certificates of its own): no secret. Without a file kubeadm would read the
 * ClusterConfiguration from the cluster, through the very admin.conf it may be renewing, and fall back to its
 * defaults (RSA, one year) when that fails. No version: scripts/renew-kubeconfigs.sh adds the installed kubeadm's, so
 * a new kubernetesVersion does not rewrite a master's files ahead of its upgrade.
 */
export function renewalClusterConfiguration(
    config: ClusterConfig,
    layout: readonly PlannedHost[],
): Record<string, unknown> {
    return {
        apiVersion: kubeadmApiVersion,
        kind: "ClusterConfiguration",
        encryptionAlgorithm: "ECDSA-P256",
        certificateValidityPeriod: `${config.pki.certValidityHours}h`,
        caCertificateValidityPeriod: `${config.pki.caValidityHours}h`,
        etcd: {
            external: {
                endpoints: etcdClientUrls(config, layout),
                caFile: kubernetesPki.etcdCaCert,
                certFile: kubernetesPki.apiserverEtcdClientCert,
                keyFile: kubernetesPki.apiserverEtcdClientKey,
            },
        },
    };
}

/** The kubeadm settings file, the service and the timer, for every master. */
export function renderKubeconfigRenewal(config: ClusterConfig, layout: readonly PlannedHost[]): HostFile[] {
    const { kubeadmConfig, service, timer } = kubeconfigRenewal;
    const script = installedScript("kubeconfig-renewal");
    return [
        {
            path: kubeadmConfig,
            mode: "0644",
            content:
                "# Rendered by kubeha: what kubeadm certs renew reads (scripts/renew-kubeconfigs.sh).\n" +
                stringify(renewalClusterConfiguration(config, layout)),
        },
        {
            path: `${unitDir}/${service}`,
            mode: "0644",
            content: `# Rendered by kubeha; started by ${timer}. What it renewed: journalctl -u ${service}
[Unit]
Description=Renew the client certificates in the kubeconfigs kubeadm wrote, before they expire
Documentation=file://${script}
ConditionPathExists=/etc/kubernetes/pki/ca.key

[Service]
Type=oneshot
Environment=KUBEHA_RENEW_BEFORE_HOURS=${config.pki.earlyRenewalHours}
Environment=KUBEHA_KUBEADM_CONFIG=${kubeadmConfig}
ExecStart=${script}
`,
        },
        {
            path: `${unitDir}/${timer}`,
            mode: "0644",
            content: `# Rendered by kubeha; enabled by the <master>-renewal-timer step.
[Unit]
Description=Renew kubeadm's kubeconfig certificates daily, ${config.pki.earlyRenewalHours}h before they expire

[Timer]
OnBootSec=10min
OnCalendar=daily
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target
`,
        },
    ];
}
