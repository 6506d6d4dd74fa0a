// Where hosts fetch packages and images. The china preset avoids the Great Firewall for
// Aliyun stacks; every item can be overridden one by one in `kubeha:mirrors`.

export type MirrorPreset = "china" | "global";

export interface Mirrors {
    /** Ubuntu archive; undefined keeps the image's own sources (already a regional mirror on AWS). */
    readonly ubuntuApt?: string;
    /** Base of the per-minor Kubernetes apt repositories (`<base>/v1.36/deb/`). */
    readonly kubernetesApt: string;
    /** Docker's apt repository, the source of containerd 2.x (`containerd.io`). */
    readonly containerdApt: string;
    /** Image repository for kube-* images, pause and coredns (kubeadm `imageRepository`). */
    readonly kubernetesImages: string;
    /** Repository holding the flannel and flannel-cni-plugin images. */
    readonly flannelImages: string;
    /** Repository holding the Kubernetes Dashboard images (dashboard, metrics-scraper). */
    readonly dashboardImages: string;
    /** Repository holding the Headlamp image. */
    readonly headlampImages: string;
    /**
     * One repository holding every cloud integration image under its own name (`<repo>/csi-provisioner:<tag>`, as
     * kubeadm's imageRepository does); undefined pulls each image from where its project publishes it
     * (config/versions.ts cloudIntegrationImages).
     */
    readonly cloudImages?: string;
    /** Base of etcd's release downloads: `<base>/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz`, SHA256SUMS beside it. */
    readonly etcdReleases: string;
}

export type MirrorOverrides = Partial<Mirrors> & { readonly preset?: MirrorPreset };

export const mirrorPresets: Record<MirrorPreset, Mirrors> = {
    global: {
        kubernetesApt: "https://pkgs.k8s.io/core:/stable:",
        containerdApt: "https://download.docker.com/linux/ubuntu",
        kubernetesImages: "registry.k8s.io",
        flannelImages: "ghcr.io/flannel-io",
        dashboardImages: "docker.io/kubernetesui",
        headlampImages: "ghcr.io/headlamp-k8s",
        etcdReleases: "https://github.com/etcd-io/etcd/releases/download",
    },
    china: {
        ubuntuApt: "https://mirrors.aliyun.com/ubuntu",
        kubernetesApt: "https://mirrors.aliyun.com/kubernetes-new/core/stable",
        containerdApt: "https://mirrors.aliyun.com/docker-ce/linux/ubuntu",
        kubernetesImages: "registry.aliyuncs.com/google_containers",
        // No maintained China mirror exists for ghcr.io or the dashboard images: override these where needed.
        flannelImages: "ghcr.io/flannel-io",
        dashboardImages: "docker.io/kubernetesui",
        headlampImages: "ghcr.io/headlamp-k8s",
        // Huawei Cloud's copy of the GitHub release assets, same layout and file names.
        etcdReleases: "https://mirrors.huaweicloud.com/etcd",
    },
};

/**
 * Fingerprints of the keys that sign the apt repositories; hosts install a repository's key only if the file the
 * mirror serves holds exactly this key. Every preset's mirror (Aliyun's included) is a copy of the publisher's
 * repository with its signed Release files, so it serves the publisher's key: one fingerprint per repository, whatever
 * the preset. A mirror of your own must be such a copy too; one that re-signs with its own key is refused.
 */
export const aptSigningKeys = {
    /**
     * "isv:kubernetes OBS Project", the openSUSE Build Service key that signs every pkgs.k8s.io core:/stable:
     * repository (the same key for each minor): the fingerprint `gpg --show-keys` gives for its Release.key, which
     * independent installers pin alike (public Salt, Puppet and cloud-init configurations; kubernetes/website#42718
     * asks the install guide to check it). OBS extends the key's expiry in place: the fingerprint stays.
     */
    kubernetes: "DE15B14486CD377B9E876E1A234654DA9A296436",
    /** "Docker Release (CE deb)", the key Docker's install guide names for download.docker.com/linux/ubuntu/gpg. */
    docker: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
} as const;

/** The preset's mirrors with the user's per-item overrides applied. */
export function resolveMirrors(preset: MirrorPreset, overrides: MirrorOverrides): Mirrors {
    const { preset: _ignored, ...items } = overrides;
    return { ...mirrorPresets[preset], ...items };
}

/** An image by its upstream reference, or by its last path element in the given repository. */
export function mirroredImage(upstream: string, repository: string | undefined): string {
    if (!repository) return upstream;
    return `${repository.replace(/\/+$/, "")}/${upstream.slice(upstream.lastIndexOf("/") + 1)}`;
}
