// The cloud-neutral description every component after the cloud infrastructure works on.
import * as pulumi from "@pulumi/pulumi";
import { PlannedHost } from "../config/layout";
import { BackupTarget, StaticCredentials } from "../render/backup";

/** A cluster host (master, worker or dedicated etcd host) once its cloud instance exists. */
export interface ClusterHost extends PlannedHost {
    /** master-1.k8s.internal: the name every other host and certificate uses for it. */
    readonly fqdn: string;
    /** The cloud instance; remote steps on this host are deleted with it. */
    readonly instance: pulumi.CustomResource;
    /**
     * With kubeha:cloudIntegration: the instance as the cloud controller manager names it (the kubelet's
     * --provider-id), from the instance resource in the cloud's own format.
     */
    readonly providerId?: pulumi.Output<string>;
}

/** How remote steps reach private hosts: SSH through the bastion, with the generated key. */
export interface SshRoute {
    /** Absent where there is no jump host (cloud machines without kubeha:bastion): steps connect directly. */
    readonly bastionAddress?: pulumi.Output<string>;
    readonly bastionUser: string;
    /** The jump host's SSH port, where it is not 22. */
    readonly bastionPort?: number;
    /** User on masters, workers and etcd hosts. */
    readonly hostUser: string;
    /** Per host name, where a host's login user or SSH port differs from hostUser and 22 (cloud machines). */
    readonly perHost?: Readonly<Record<string, { readonly user: string; readonly port: number }>>;
    readonly privateKey: pulumi.Output<string>;
}

/** The route, and the host key every host (bastion included) must present: connections pin it. */
export interface SshAccess extends SshRoute {
    /** Per host name (`bastion` too): `ssh-ed25519 <base64>`. */
    readonly hostKeys: Readonly<Record<string, pulumi.Output<string>>>;
}

/** What a cloud's infrastructure component hands to the rest of the program. */
export interface ClusterInfra {
    /** Zones the hosts are spread over, in layout order. */
    readonly zones: string[];
    /** Every host but the bastion, in layout order: masters, etcd hosts, workers. */
    readonly hosts: ClusterHost[];
    readonly ssh: SshRoute;
    /** After these, private hosts reach the internet (NAT routes): the boot preparation needs them. */
    readonly egress: pulumi.Resource[];
    /** The API load balancer for clients outside the VPC. */
    readonly apiLoadBalancer: ApiLoadBalancer;
    /**
     * Each host's `instance` is the step that prepared it over SSH (cloud machines: what cloud-init's boot does on
     * the clouds): there is no boot to wait for, and its files go on as soon as it is done.
     */
    readonly preparedOverSsh?: boolean;
}

/** How clients outside the VPC reach the API. */
export interface ApiLoadBalancer {
    /** What the kubeconfig and the api-ready check connect to: a lower-case DNS name or an address. */
    readonly endpoint: pulumi.Output<string>;
    /** Every lower-case DNS name and address it answers on: the apiserver certificate covers all of them. */
    readonly names: pulumi.Output<string[]>;
    /**
     * What the apiserver certificate (and kubeadm's certSANs) names for it, where `names` exist only once the load
     * balancer does: names known before that cover them, so that the certificate, and with it the first master's
     * files, do not wait for the load balancer. Default: `names`.
     */
    readonly certificateNames?: pulumi.Output<string[]>;
}

/** The load balancer's names as the apiserver certificate gives them. */
export function certificateNames(apiLoadBalancer: ApiLoadBalancer): pulumi.Output<string[]> {
    return apiLoadBalancer.certificateNames ?? apiLoadBalancer.names;
}

/** What a cloud's backup store hands to the rest of the program. */
export interface BackupStore {
    /** How the etcd members reach the bucket (their env file, render/backup.ts). */
    readonly target: pulumi.Output<BackupTarget>;
    /** Where in the bucket the snapshots go. */
    readonly prefix: string;
    /** The key pair the members upload with, a secret: where there is no instance role (cloud machines). */
    readonly credentials?: pulumi.Output<StaticCredentials>;
}
