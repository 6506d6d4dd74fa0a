// Versions kubeha installs. One place, so an upgrade is a one-line change reviewed with its notes.

/**
 * The exact patch kubeha deploys for each supported minor (each gets patches for about 14 months): the newest
 * release of each on 2026-11-25. A configured minor means its patch here, so hosts built at different times, or
 * behind a firewall that blocks kubeadm's online `stable-1.xx` lookup, all run the same version. Packages, kubeadm
 * configs, image pre-pulls and the test toolchain follow this table; an exact patch in the config wins over it.
 */
export const kubernetesPatches = { "1.35": "1.35.4", "1.36": "1.36.3", "1.37": "1.37.2" } as const;
export type KubernetesMinor = keyof typeof kubernetesPatches;
export const supportedKubernetesMinors = Object.keys(kubernetesPatches) as KubernetesMinor[];
export const defaultKubernetesVersion: KubernetesMinor = "1.36";

/** etcd release run on the etcd hosts (the maintained 3.6 line). */
export const etcdVersion = "3.6.16";

/**
 * SHA-256 of etcd-v<etcdVersion>-linux-amd64.tar.gz as the release's SHA256SUMS lists it; update it with the version.
 * Set, hosts check the download against it, which also guards against a compromised mirror. Undefined, they check it
 * against the SHA256SUMS the mirror serves beside it: that catches corruption only. Not pinned yet: the digest of
 * 3.6.16 could not be looked up from where this was written, and a guessed one would stop every etcd host.
 */
export const etcdReleaseSha256: string | undefined = undefined;

/** Image tags of the addons (components/addons.ts); the repositories come from the mirror preset. */
export const addonImageTags = {
    /** flannel v0.28.9 and the CNI plugin its release manifest pins. */
    flannel: "v0.28.9",
    flannelCniPlugin: "v1.9.1-flannel3",
    /** Kubernetes Dashboard's last plain-manifest release (the project was archived in January 2026). */
    dashboard: "v2.7.0",
    dashboardMetricsScraper: "v1.0.8",
    /** Headlamp, the dashboard's successor under kubernetes-sigs. */
    headlamp: "v0.45.0",
} as const;

/** Ubuntu release of every host image. */
export const ubuntuRelease = { version: "24.04", codename: "noble" } as const;

/** The minor ("1.36") of a configured version ("1.36" or "1.36.4"). */
export function kubernetesMinor(version: string): string {
    return version.split(".").slice(0, 2).join(".");
}

/** The exact patch ("1.36.3") of a configured version: a supported minor's pinned patch, or the patch given. */
export function exactKubernetesVersion(version: string): string {
    if (/^\d+\.\d+\.\d+$/.test(version)) return version;
    const patch = (kubernetesPatches as Record<string, string>)[version];
    if (!patch)
        throw new Error(`Kubernetes ${version} is not a supported minor (${supportedKubernetesMinors.join(", ")})`);
    return patch;
}

/** The exact version a stack deploys when it configures none ("1.36.3"). */
export const defaultKubernetesPatch = exactKubernetesVersion(defaultKubernetesVersion);

/**
 * Tag of the pod sandbox image containerd pins (kubeadm names pause 3.10.1 for Kubernetes 1.34 and 1.35).
 * Any pause image works; scripts/host-boot.sh logs a note when the installed kubeadm names another tag.
 */
export const pauseImageTag = "3.10.1";
