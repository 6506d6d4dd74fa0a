// Which files land on which host: the step scripts, etcd's files, the apiserver's encryption, audit and
// admission files, the kubelet serving certificate approver, kubeadm's configuration and the PKI, each from its own
// render function. Key files and files that hold a token or key are secret (mode 0600) and travel in the
// host's keys bundle.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { PlannedHost } from "../config/layout";
import { ClusterConfig } from "../config/resolve";
import {
    apiserverFiles,
    renderAdmissionConfig,
    renderAuditPolicy,
    renderEncryptionConfig,
} from "../render/apiserver-files";
import {
    BackupSchedule,
    BackupTarget,
    etcdBackup,
    etcdBackupPaths,
    renderEtcdBackupCredentials,
    renderEtcdBackupFiles,
    StaticCredentials,
} from "../render/backup";
import { renderEtcdFiles } from "../render/etcd";
import { encodeBundle } from "../render/file-bundle";
import { HostFile } from "../render/host-file";
import { kubeadmConfigPaths, renderKubeadmInit, renderKubeadmJoin, renderSchedulerConfig } from "../render/kubeadm";
import { renderKubeconfigRenewal } from "../render/kubeconfig-renewal";
import { renderKubeletServingApprover } from "../render/kubelet-serving";
import { installedScriptFiles, scriptInstallDir } from "../render/steps";
import { ClusterHost } from "./hosts";
import { bootstrapTokenTtl, ClusterPki } from "./pki";
import { scriptText } from "./remote";

export type LazyFile = HostFile<pulumi.Input<string>>;

export interface HostFileInputs {
    readonly config: ClusterConfig;
    readonly layout: readonly PlannedHost[];
    readonly pki: ClusterPki;
    /** 32 random bytes, base64: the secretbox key for secrets at rest (a secret). */
    readonly encryptionKey: pulumi.Input<string>;
    /** Lower-case names of the API load balancer, for the apiserver certificate kubeadm checks. */
    readonly apiLoadBalancerNames: pulumi.Input<string[]>;
    /** Where etcd members put their snapshots; absent when backups are off. */
    readonly backup?: pulumi.Output<BackupTarget>;
    /** The key pair they upload with (a secret), where there is no instance role. */
    readonly backupCredentials?: pulumi.Output<StaticCredentials>;
}

/** Every file one host gets, by the component that owns its content. */
export function filesForHost(host: PlannedHost, inputs: HostFileInputs): LazyFile[] {
    const { config, layout, pki } = inputs;
    const scripts: LazyFile[] = installedScriptFiles().map((file) => ({
        path: `${scriptInstallDir}/${file}`,
        mode: "0755",
        content: scriptText(file),
    }));
    const etcd = host.etcdMember ? renderEtcdFiles(config, layout, host) : [];
    const backup = host.etcdMember && inputs.backup ? etcdBackupFiles(inputs.backup, config.backup) : [];
    const credentials: LazyFile[] =
        host.etcdMember && inputs.backup && inputs.backupCredentials
            ? [
                  {
                      path: etcdBackup.credentialsFile,
                      mode: "0600",
                      content: pulumi.secret(
                          inputs.backupCredentials.apply((keys) => renderEtcdBackupCredentials(keys).content),
                      ),
                  },
              ]
            : [];
    const apiserver: LazyFile[] =
        host.role === "master"
            ? [
                  renderAuditPolicy(),
                  renderAdmissionConfig(config.podSecurity.enforce),
                  ...renderKubeletServingApprover(config, layout),
                  ...renderKubeconfigRenewal(config, layout),
                  renderSchedulerConfig(),
                  {
                      path: apiserverFiles.encryptionConfig,
                      mode: "0600",
                      content: pulumi.secret(
                          pulumi.output(inputs.encryptionKey).apply((key) => renderEncryptionConfig(key).content),
                      ),
                  },
              ]
            : [];
    return [...scripts, ...etcd, ...backup, ...credentials, ...apiserver, ...pki.hostFiles(host.name)];
}

/** The backup timer's files, once the bucket is known. */
function etcdBackupFiles(target: pulumi.Output<BackupTarget>, timing: BackupSchedule): LazyFile[] {
    const rendered = target.apply((values) => renderEtcdBackupFiles(values, timing));
    return etcdBackupPaths.map((path) => ({
        path,
        mode: "0644",
        content: rendered.apply((files) => files.find((file) => file.path === path)?.content ?? ""),
    }));
}

/**
 * The host's kubeadm configuration: init on the first master, join elsewhere. It holds the bootstrap token,
 * so it is a secret file, and it travels in a step of its own: a newly drawn token must not touch every host.
 */
export function kubeadmConfigForHost(
    host: PlannedHost & Pick<ClusterHost, "providerId">,
    inputs: HostFileInputs,
): LazyFile | undefined {
    const { config, layout, pki } = inputs;
    const firstMaster = layout.find((candidate) => candidate.role === "master");
    const providerId = pulumi.output(host.providerId);
    if (host.name === firstMaster?.name) {
        const init = pulumi
            .all([pki.bootstrapToken, inputs.apiLoadBalancerNames, providerId])
            .apply(([token, names, id]) =>
                renderKubeadmInit(
                    config,
                    layout,
                    { ...host, providerId: id },
                    { token, ttl: bootstrapTokenTtl },
                    names,
                ),
            );
        return { path: kubeadmConfigPaths.init, mode: "0600", content: pulumi.secret(init.content) };
    }
    if (host.role !== "master" && host.role !== "worker") return undefined;
    const join = pulumi
        .all([pki.bootstrapToken, pki.discoveryTokenCaCertHash, providerId])
        .apply(([token, caCertHash, id]) =>
            renderKubeadmJoin(config, { ...host, providerId: id }, { token, caCertHash }),
        );
    return { path: kubeadmConfigPaths.join, mode: "0600", content: pulumi.secret(join.content) };
}

/** The host's two bundles: public files (plain) and 0600 files (a secret). */
export function bundles(files: readonly LazyFile[]): { plain: pulumi.Output<string>; secret: pulumi.Output<string> } {
    // Contents as they are: pulumi.all wraps each Output again, and a plain text (a script) needs no Output at all.
    const encode = (selected: readonly LazyFile[]) =>
        pulumi
            .all(selected.map((file) => file.content))
            .apply((contents) => encodeBundle(selected.map((file, i) => ({ ...file, content: contents[i] }))));
    return {
        plain: encode(files.filter((file) => file.mode !== "0600")),
        secret: pulumi.secret(encode(files.filter((file) => file.mode === "0600"))),
    };
}

/** The files in the order filesDigest takes them: by path. */
export function inDigestOrder(files: readonly LazyFile[]): LazyFile[] {
    return [...files].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * sha256 over the given files' paths and contents, in path order: a step's trigger when it must re-run
 * as soon as one of them changes (and only then).
 */
export function filesDigest(files: readonly LazyFile[]): pulumi.Output<string> {
    const sorted = inDigestOrder(files);
    return pulumi
        .all(sorted.map((file) => pulumi.output(file.content)))
        .apply((contents) => digestOf(sorted.map((file, i) => ({ path: file.path, content: contents[i] }))));
}

/** The digest filesDigest computes, over plain files (also what tests recompute from the plan). */
export function digestOf(files: readonly { path: string; content: string }[]): string {
    const hash = createHash("sha256");
    for (const file of files) hash.update(`${file.path}\0${file.content}\0`);
    return hash.digest("hex");
}
