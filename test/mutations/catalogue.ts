// Plausible bugs, each of which a named test file must catch: `npm run test:mutations` applies them one
// at a time to a scratch copy of the project (test/mutations/run.ts). A change that moves a line a
// mutation names makes that mutation "stale": update its text here with the change.

export interface Mutation {
    /** Short name, unique. */
    readonly id: string;
    /** What a user would suffer from the bug. */
    readonly harm: string;
    /** The file the mutation edits, relative to the project. */
    readonly file: string;
    /** Exact text replacements, each of whose `from` occurs exactly once in the file. */
    readonly edits: readonly { readonly from: string; readonly to: string }[];
    /** The test file expected to fail. */
    readonly test: string;
    /** Only the tests whose name matches (node --test-name-pattern), to keep a run short. */
    readonly testNamePattern?: string;
}

export const mutations: readonly Mutation[] = [
    // The address plan.
    {
        id: "masters-shifted",
        harm: "every master of every existing stack gets a new address: replaced",
        file: "config/layout.ts",
        edits: [{ from: "master: 10,", to: "master: 11," }],
        test: "test/layout.test.ts",
        testNamePattern: "Aliyun \\(dev stack\\)|AWS \\(aws-dev stack\\)",
    },
    {
        id: "bastion-on-reserved-address",
        harm: "the bastion asks AWS for an address AWS keeps for its DNS resolver: the instance is refused",
        file: "config/layout.ts",
        edits: [{ from: "bastion: 4,", to: "bastion: 3," }],
        test: "test/layout.test.ts",
        testNamePattern: "AWS \\(aws-dev stack\\)",
    },

    // Hardening inputs.
    {
        id: "aws-imds-two-hops",
        harm: "pods reach the instance metadata service and the host's credentials",
        file: "clouds/aws/infra.ts",
        edits: [{ from: "httpPutResponseHopLimit: 1", to: "httpPutResponseHopLimit: 2" }],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "IMDSv2",
    },
    {
        id: "aliyun-imds-two-hops",
        harm: "pods reach the instance metadata service",
        file: "clouds/aliyun/infra.ts",
        edits: [
            {
                from: 'httpTokens: "required",',
                to: 'httpTokens: "required",\n                httpPutResponseHopLimit: 2,',
            },
        ],
        test: "test/clouds/aliyun/infra.test.ts",
        testNamePattern: "metadata",
    },
    {
        id: "aws-image-any-owner",
        harm: "any account's image named like Ubuntu's boots the cluster",
        file: "clouds/aws/infra.ts",
        edits: [{ from: "owners: [canonicalOwner],", to: 'owners: ["self", canonicalOwner],' }],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "IMDSv2",
    },
    {
        id: "aws-image-any-architecture",
        harm: "an arm64 image may be picked for x86 instance types: hosts do not boot",
        file: "clouds/aws/infra.ts",
        edits: [{ from: '{ name: "architecture", values: ["x86_64"] },', to: "" }],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "IMDSv2",
    },
    {
        id: "aliyun-marketplace-image",
        harm: "a marketplace image of a matching name boots the cluster",
        file: "clouds/aliyun/infra.ts",
        edits: [{ from: 'owners: "system"', to: 'owners: "marketplace"' }],
        test: "test/clouds/aliyun/infra.test.ts",
        testNamePattern: "metadata",
    },
    {
        id: "aws-root-volume-unencrypted",
        harm: "the root volumes (kubelet credentials, logs) are stored unencrypted",
        file: "clouds/aws/infra.ts",
        edits: [
            {
                from: "encrypted: true,\n                        deleteOnTermination",
                to: "encrypted: false,\n                        deleteOnTermination",
            },
        ],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "IMDSv2",
    },
    {
        id: "aliyun-system-disk-unencrypted",
        harm: "the system disks are stored unencrypted",
        file: "clouds/aliyun/infra.ts",
        edits: [{ from: "systemDiskEncrypted: true,", to: "systemDiskEncrypted: false," }],
        test: "test/clouds/aliyun/infra.test.ts",
        testNamePattern: "disks",
    },
    {
        id: "dashboard-writable-root",
        harm: "a compromised dashboard can write to its root filesystem",
        file: "components/addons.ts",
        edits: [{ from: "readOnlyRootFilesystem: true,", to: "readOnlyRootFilesystem: false," }],
        test: "test/addons.test.ts",
        testNamePattern: "RuntimeDefault seccomp",
    },
    {
        id: "dashboard-no-seccomp",
        harm: "the dashboard runs without the runtime's seccomp profile",
        file: "components/addons.ts",
        edits: [{ from: 'securityContext: { seccompProfile: { type: "RuntimeDefault" } },', to: "" }],
        test: "test/addons.test.ts",
        testNamePattern: "RuntimeDefault seccomp",
    },
    {
        id: "flannel-privileged",
        harm: "flanneld runs privileged: every host device and capability",
        file: "components/addons.ts",
        edits: [{ from: "privileged: false,", to: "privileged: true," }],
        test: "test/addons.test.ts",
        testNamePattern: "RuntimeDefault seccomp",
    },
    {
        id: "apiserver-flag-dropped",
        harm: "the apiserver waits a minute (its default) for a stuck kubelet",
        file: "render/kubeadm.ts",
        edits: [{ from: '"kubelet-timeout": "10s",', to: "" }],
        test: "test/render-kubeadm.test.ts",
    },
    {
        id: "apiserver-flag-added",
        harm: "admission control is bypassed by a flag nobody decided on",
        file: "render/kubeadm.ts",
        edits: [
            {
                from: '"delete-collection-workers": "2",',
                to: '"delete-collection-workers": "2",\n                "enable-admission-plugins": "AlwaysAdmit",',
            },
        ],
        test: "test/render-kubeadm.test.ts",
    },
    {
        id: "scheduler-profiling-on",
        harm: "the scheduler serves pprof profiles to anyone who reaches it",
        file: "render/kubeadm.ts",
        edits: [{ from: "enableProfiling: false,", to: "enableProfiling: true," }],
        test: "test/render-kubeadm.test.ts",
    },

    // Resource options.
    {
        id: "certificates-never-renewed",
        harm: "certificates expire in place: the cluster stops after a year",
        file: "components/pki.ts",
        edits: [
            { from: "replacementTrigger: signer.validityStartTime", to: "droppedTrigger: signer.validityStartTime" },
        ],
        test: "test/pki-renewal.test.ts",
    },
    {
        id: "renewal-counted-from-now",
        harm: "each run counts renewal rounds from the current time: no certificate is ever due, all expire",
        file: "components/pki.ts",
        edits: [{ from: "renewalRound(now, anchor,", to: "renewalRound(now, new Date(now).toISOString()," }],
        test: "test/pki-renewal.test.ts",
    },
    {
        id: "newer-ami-replaces-hosts",
        harm: "a newer Ubuntu image replaces every running host at the next `pulumi up`",
        file: "clouds/aws/infra.ts",
        edits: [{ from: 'ignoreChanges: ["ami", "userDataBase64"],', to: 'ignoreChanges: ["userDataBase64"],' }],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "IMDSv2",
    },
    {
        id: "joined-master-gets-new-token",
        harm: "a newly drawn token re-runs the kubeadm-config step of every joined master",
        file: "components/control-plane.ts",
        edits: [{ from: "keepOnceInstalled: master !== first,", to: "keepOnceInstalled: false," }],
        test: "test/bootstrap.test.ts",
        testNamePattern: "kubeadm configuration it joined with",
    },
    {
        id: "drain-deleted-with-worker",
        harm: "removing a worker deletes its instance without draining it",
        file: "components/workers.ts",
        edits: [
            {
                from: "runOn: firstMaster,\n                    deletedWith: firstMaster.instance,",
                to: "runOn: firstMaster,\n                    deletedWith: worker.instance,",
            },
        ],
        test: "test/bootstrap.test.ts",
        testNamePattern: "deleted with that host",
    },
    {
        id: "secret-step-output-plain",
        harm: "a step that handles keys and tokens stores its output in the state unencrypted",
        file: "components/remote.ts",
        edits: [{ from: '{ additionalSecretOutputs: ["stdout", "stderr"] }', to: "{}" }],
        test: "test/plan.test.ts",
        testNamePattern: "additionalSecretOutputs",
    },

    // Orchestration shape.
    {
        id: "masters-join-one-by-one",
        harm: "each further master adds a whole join to the time to a ready cluster",
        file: "components/control-plane.ts",
        edits: [
            {
                from: "const joined = others.map((master) =>",
                to: "const joined: pulumi.Resource[] = [];\n        for (const master of others) joined.push(",
            },
            {
                from: "on(master, [...this.joinable, configs[master.name]]),",
                to: "on(master, [...this.joinable, configs[master.name], ...joined.slice(-1)]),",
            },
        ],
        test: "test/bootstrap.test.ts",
        testNamePattern: "no master's join waits",
    },
    {
        id: "workers-wait-for-every-master",
        harm: "workers join only after every master has joined: a longer bootstrap",
        file: "components/workers.ts",
        edits: [{ from: "config, ...args.controlPlane.joinable],", to: "config, ...args.controlPlane.complete]," }],
        test: "test/bootstrap.test.ts",
        testNamePattern: "no master's join waits",
    },

    // Network, logins and supply chain (issue 18).
    {
        id: "flannel-open-to-vpc",
        harm: "the bastion and the load balancer subnets can inject packets into the pod network",
        file: "clouds/aws/infra.ts",
        edits: [
            {
                from: 'nodes.map((peer) => rule(group, "flannel", flannelPort(config.addons.cni.backend), from(peer))),',
                to: '[rule(group, "flannel", flannelPort(config.addons.cni.backend), vpc)],',
            },
        ],
        test: "test/clouds/aws/infra.test.ts",
        testNamePattern: "security-group rules are exactly",
    },
    {
        id: "nodeports-open-to-vpc",
        harm: "every Service NodePort answers the bastion and the load balancer subnets",
        file: "clouds/aliyun/infra.ts",
        edits: [
            {
                from: 'source: { group },\n                    description: "Service NodePorts between nodes",',
                to: 'source: vpcSource,\n                    description: "Service NodePorts between nodes",',
            },
        ],
        test: "test/clouds/aliyun/infra.test.ts",
        testNamePattern: "security-group rules are exactly",
    },
    {
        id: "ui-token-never-expires",
        harm: "a cluster-admin token that never expires sits in the cluster and the stack outputs of every stack",
        file: "components/addons.ts",
        edits: [{ from: "const longLived = config.addons.longLivedDashboardToken;", to: "const longLived = true;" }],
        test: "test/addons.test.ts",
        testNamePattern: "short-lived",
    },
    {
        id: "addon-images-by-tag",
        harm: "whoever controls a registry or mirror can swap the pod network's image under the same tag",
        file: "config/versions.ts",
        edits: [{ from: "${image.name}:${image.tag}@${image.digest}", to: "${image.name}:${image.tag}" }],
        test: "test/addons.test.ts",
        testNamePattern: "pinned",
    },
    {
        id: "apt-key-not-checked",
        harm: "a mirror, or whoever answers for it, installs its own signing key and then any package it likes",
        file: "scripts/host-boot.sh",
        edits: [{ from: 'if [[ ${found} != "${fingerprint}" ]]; then', to: "if [[ -z ${found} ]]; then" }],
        test: "test/boot-apt-keys.test.ts",
    },
    {
        id: "downloads-follow-http",
        harm: "a redirect sends a host's downloads over plain http, open to anyone on the path",
        file: "scripts/host-boot.sh",
        edits: [{ from: " --proto =https --proto-redir =https", to: "" }],
        test: "test/boot-apt-keys.test.ts",
    },
    {
        id: "etcd-upgrade-over-http",
        harm: "an etcd upgrade fetches the release over plain http, where anyone on the path can swap it",
        file: "scripts/upgrade-etcd.sh",
        edits: [{ from: " --proto =https --proto-redir =https", to: "" }],
        test: "test/system/etcd-upgrade.test.ts",
    },

    // Time bounds.
    {
        id: "wait-for-ssh-overstays",
        harm: "a host that never answers holds `pulumi up` three times as long as its budget",
        file: "scripts/wait-for-ssh.sh",
        edits: [
            { from: "if ((SECONDS + delay > KUBEHA_TIMEOUT)); then", to: "if ((SECONDS > 3 * KUBEHA_TIMEOUT)); then" },
        ],
        test: "test/scripts.test.ts",
    },
    {
        id: "retries-overstay",
        harm: "every retried step outlives its budget by up to a minute",
        file: "scripts/lib.sh",
        edits: [{ from: "if ((SECONDS + delay > deadline)); then", to: "if ((SECONDS > deadline + 30)); then" }],
        test: "test/scripts.test.ts",
    },
    {
        id: "retries-give-up-at-once",
        harm: "a step fails at the first transient error instead of retrying",
        file: "scripts/lib.sh",
        edits: [{ from: "if ((SECONDS + delay > deadline)); then", to: "if true; then" }],
        test: "test/scripts.test.ts",
    },
];
