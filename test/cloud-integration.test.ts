// kubeha:cloudIntegration as the plans of both clouds show it, on (the default) and off: the kubelet's external
// cloud provider and provider id, taken from each node's instance resource.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { kubeadmConfigPaths } from "../render/kubeadm";
import { Plan, plan } from "./support/plan";

type Cloud = "aliyun" | "aws";
const stacks: Record<Cloud, string> = { aliyun: "dev", aws: "aws-dev" };
const nodes = ["master-1", "master-2", "master-3", "worker-1", "worker-2", "worker-3"];

function planOf(cloud: Cloud, integration: boolean, config: Record<string, unknown> = {}): Plan {
    return plan({
        stack: stacks[cloud],
        config: integration ? (Object.keys(config).length ? config : undefined) : { "kubeha:cloudIntegration": false },
        showSecrets: true,
    });
}

type Inputs = Record<string, unknown>;
const inputs = (p: Plan, name: string) => p.named(name).inputs as Inputs;

/**
 * The policies as their projects publish them: kubernetes/cloud-provider-aws docs/prerequisites.md (control plane
 * policy), kubernetes-sigs/aws-ebs-csi-driver docs/example-iam-policy.json, kubernetes/cloud-provider-alibaba-cloud
 * docs/examples/master.policy (its statements for ALB Ingress left out), kubernetes-sigs/alibaba-cloud-csi-driver
 * docs/ram-policies/disk/{controller,node}.json.
 */
function upstream(file: string): { Statement: { Action: string[] }[] } {
    return JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures/upstream-policies", file), "utf8"));
}
const actionsOf = (document: { Statement: { Action: string | string[] }[] }) =>
    new Set(document.Statement.flatMap((statement) => statement.Action));
const parsed = (text: unknown) => JSON.parse(String(text));

type Statement = { Action: string[]; Resource: string | string[]; Condition?: Record<string, Record<string, unknown>> };
const statementsOf = (document: unknown) => (document as { Statement: Statement[] }).Statement;
/** An action upstream's policy grants, wildcards (`slb:*`, `ecs:Describe*`) included. */
const grantedBy = (upstreamActions: Set<string>, action: string) =>
    [...upstreamActions].some((granted) => new RegExp(`^${granted.replaceAll("*", ".*")}$`).test(action));
/** Reads: AWS evaluates them on every resource, with no tag condition. */
const awsRead = (action: string) => /^[a-z0-9]+:(Describe|List|Get)/.test(action);
const awsClusterKey = "kubernetes.io/cluster/kubeha-aws-dev";
/** Every condition of a statement names the cluster's tag, as on the resource or as set by the request. */
const scopedToCluster = (statement: Statement) =>
    Object.values(statement.Condition ?? {}).some((test) =>
        Object.keys(test).some(
            (key) => key === `aws:ResourceTag/${awsClusterKey}` || key === `aws:RequestTag/${awsClusterKey}`,
        ),
    );

/** The kubelet flags kubeadm gives a node, from the kubeadm configuration the plan writes for it. */
function kubeletFlags(p: Plan, node: string): Record<string, string> {
    const file = Object.values(kubeadmConfigPaths)
        .map((path) => `hosts/${node}/files${path}`)
        .find((relative) => p.exists(relative));
    assert.ok(file, `${node} has a kubeadm configuration`);
    const registration = parseAllDocuments(p.file(file))
        .map(
            (doc) =>
                doc.toJS() as {
                    kind: string;
                    nodeRegistration?: { kubeletExtraArgs: { name: string; value: string }[] };
                },
        )
        .find((doc) => doc.kind === "InitConfiguration" || doc.kind === "JoinConfiguration")?.nodeRegistration;
    assert.ok(registration, `${file} registers the node`);
    return Object.fromEntries(registration.kubeletExtraArgs.map(({ name, value }) => [name, value]));
}

describe("the kubelet and the external cloud provider", () => {
    test("AWS: every node's provider id is aws:///<its instance's zone>/<its instance id>", () => {
        const p = planOf("aws", true);
        for (const node of nodes) {
            const instance = p.named(node);
            const subnet = p.named(String((instance.inputs as { subnetId: string }).subnetId).replace(/-id$/, ""));
            const zone = (subnet.inputs as { availabilityZone: string }).availabilityZone;
            // The mock runtime's instance id is `<name>-id` (plan/mocks.ts).
            assert.deepEqual(kubeletFlags(p, node), {
                "node-ip": (instance.inputs as { privateIp: string }).privateIp,
                "cloud-provider": "external",
                "provider-id": `aws:///${zone}/${node}-id`,
            });
        }
    });

    test("Aliyun: every node's provider id is <region>.<its instance id>", () => {
        const p = planOf("aliyun", true);
        for (const node of nodes) {
            const flags = kubeletFlags(p, node);
            assert.equal(flags["cloud-provider"], "external", node);
            assert.equal(flags["provider-id"], `cn-hangzhou.${node}-id`, node);
        }
    });

    for (const cloud of ["aliyun", "aws"] as const) {
        test(`${cloud} with cloudIntegration false: no cloud provider on any kubelet`, () => {
            const p = planOf(cloud, false);
            for (const node of nodes) assert.deepEqual(Object.keys(kubeletFlags(p, node)), ["node-ip"], node);
        });
    }
});

describe("AWS: the masters' instance role", () => {
    const p = planOf("aws", true);
    const policyOn = (name: string) => ({ role: inputs(p, name).role, document: parsed(inputs(p, name).policy) });

    for (const [policy, file] of [
        ["controller-role-cloud-controller-manager", "aws-cloud-provider-control-plane.json"],
        ["controller-role-ebs-csi-controller", "aws-ebs-csi-driver.json"],
    ]) {
        test(`${policy}: upstream's actions only, every change scoped to the cluster's tag (kops' scoping)`, () => {
            const statements = statementsOf(policyOn(policy).document);
            const upstreamActions = actionsOf(upstream(file));
            for (const statement of statements) {
                for (const action of statement.Action)
                    assert.ok(upstreamActions.has(action), `${action} is upstream's`);
                const changes = statement.Action.filter((action) => !awsRead(action));
                if (changes.length === 0) continue;
                // iam:CreateServiceLinkedRole is scoped by the service it is for instead.
                if (changes.join() === "iam:CreateServiceLinkedRole") {
                    assert.deepEqual(statement.Condition, {
                        StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" },
                    });
                    continue;
                }
                assert.ok(scopedToCluster(statement), `${changes.join(", ")}: ${JSON.stringify(statement)}`);
            }
        });
    }

    test("tags are added on create only with the create they belong to; the cluster tag is never retagged", () => {
        for (const policy of ["controller-role-cloud-controller-manager", "controller-role-ebs-csi-controller"]) {
            for (const statement of statementsOf(policyOn(policy).document)) {
                if (!statement.Action.some((action) => /:(CreateTags|AddTags|DeleteTags)$/.test(action))) continue;
                const equals = statement.Condition?.StringEquals ?? {};
                const createAction = equals["ec2:CreateAction"] ?? equals["elasticloadbalancing:CreateAction"];
                if (createAction) {
                    assert.equal(equals[`aws:RequestTag/${awsClusterKey}`], "owned", JSON.stringify(statement));
                } else {
                    assert.equal(equals[`aws:ResourceTag/${awsClusterKey}`], "owned", JSON.stringify(statement));
                    if (statement.Action.some((action) => action.startsWith("ec2:"))) {
                        assert.deepEqual(statement.Condition?.["ForAllValues:StringNotEquals"], {
                            "aws:TagKeys": [awsClusterKey],
                        });
                    }
                }
            }
        }
    });

    test("each controller gets only what kubeha runs: no routes, no volumes for the CCM, no snapshots or copies", () => {
        const ccm = actionsOf(policyOn("controller-role-cloud-controller-manager").document);
        for (const action of ["ec2:CreateRoute", "ec2:DeleteRoute", "ec2:CreateVolume", "ec2:DeleteVolume"]) {
            assert.ok(!ccm.has(action), action);
        }
        const csi = actionsOf(policyOn("controller-role-ebs-csi-controller").document);
        for (const action of csi) assert.doesNotMatch(action, /Snapshot|CopyVolumes/);
    });

    test("the nodes' instances and the VPC carry the cluster tag (the CCM reads its own instance's); etcd and bastion do not", () => {
        const dedicated = planOf("aws", true, { "kubeha:etcd": { dedicated: true } });
        const tagged = (plan: Plan, name: string) =>
            ((inputs(plan, name).tags ?? {}) as Record<string, string>)[awsClusterKey];
        for (const node of nodes) assert.equal(tagged(dedicated, node), "owned", node);
        for (const host of ["etcd-1", "bastion"]) assert.equal(tagged(dedicated, host), undefined, host);
        assert.equal(tagged(p, "vpc"), "owned");
    });

    test("masters that run etcd hold one role: the backup role carries both policies; workers have none", () => {
        const backupRole = inputs(p, "backup-store-role").name;
        for (const policy of ["controller-role-cloud-controller-manager", "controller-role-ebs-csi-controller"]) {
            assert.equal(policyOn(policy).role, backupRole, policy);
        }
        const backupProfile = inputs(p, "backup-store-profile").name;
        for (const node of nodes) {
            const expected = node.startsWith("master") ? backupProfile : undefined;
            assert.equal(inputs(p, node).iamInstanceProfile, expected, node);
        }
        assert.equal(p.ofType("aws:iam/role:Role").length, 1, "no role besides the backup role");
    });

    test("with dedicated etcd hosts the masters get a role of their own", () => {
        const dedicated = planOf("aws", true, { "kubeha:etcd": { dedicated: true } });
        const role = dedicated.named("controller-role-role");
        const profile = inputs(dedicated, "controller-role-profile");
        assert.equal(profile.role, (role.inputs as Inputs).name);
        assert.equal(inputs(dedicated, "controller-role-ebs-csi-controller").role, (role.inputs as Inputs).name);
        assert.equal(inputs(dedicated, "master-1").iamInstanceProfile, profile.name);
        assert.equal(inputs(dedicated, "etcd-1").iamInstanceProfile, inputs(dedicated, "backup-store-profile").name);
        assert.equal(inputs(dedicated, "worker-1").iamInstanceProfile, undefined);
    });

    test("the cloud controller manager finds the cluster's subnets and each node's one security group by tag", () => {
        const tag = "kubernetes.io/cluster/kubeha-aws-dev";
        const tagsOf = (name: string) => (inputs(p, name).tags ?? {}) as Record<string, string>;
        for (const subnet of p.ofType("aws:ec2/subnet:Subnet")) {
            const tags = tagsOf(subnet.name);
            assert.equal(tags[tag], "owned", subnet.name);
            const role = subnet.name.startsWith("public")
                ? "kubernetes.io/role/elb"
                : "kubernetes.io/role/internal-elb";
            assert.equal(tags[role], "1", subnet.name);
        }
        const tagged = p
            .ofType("aws:ec2/securityGroup:SecurityGroup")
            .filter((group) => tagsOf(group.name)[tag] === "owned")
            .map((group) => group.name);
        assert.deepEqual(tagged.sort(), ["master-sg", "worker-sg"]);
        for (const node of nodes) {
            const groups = (inputs(p, node).vpcSecurityGroupIds as string[]).map((id) => id.replace(/-id$/, ""));
            assert.equal(groups.filter((group) => tagged.includes(group)).length, 1, node);
        }
    });

    test("with cloudIntegration false: no controller policies, no cluster tags", () => {
        const off = planOf("aws", false);
        assert.deepEqual(
            off.resources.filter((resource) => resource.name.startsWith("controller-role")),
            [],
        );
        for (const resource of [
            ...off.ofType("aws:ec2/subnet:Subnet"),
            ...off.ofType("aws:ec2/securityGroup:SecurityGroup"),
            ...off.ofType("aws:ec2/vpc:Vpc"),
            ...off.ofType("aws:ec2/instance:Instance"),
        ]) {
            const tags = Object.keys(((resource.inputs as Inputs).tags ?? {}) as object);
            assert.deepEqual(tags, ["Name"], resource.name);
        }
    });
});

describe("Aliyun: the RAM roles", () => {
    const p = planOf("aliyun", true);
    const attachedTo = (plan: Plan, purpose: string) => {
        const attachment = inputs(plan, `controller-roles-${purpose}-attachment`);
        const policy = inputs(plan, `controller-roles-${purpose}`);
        assert.equal(attachment.policyName, policy.policyName);
        return { role: attachment.roleName, document: parsed(policy.policyDocument) };
    };

    test("the cloud controller manager: upstream's master actions it calls, named one by one, in the cluster's region", () => {
        const document = attachedTo(p, "cloud-controller-manager").document;
        const master = actionsOf(upstream("aliyun-cloud-provider-master.json"));
        for (const action of actionsOf(document)) {
            assert.ok(grantedBy(master, action), `${action} is in upstream's master policy`);
            assert.doesNotMatch(action, /\*/, "no wildcard");
        }
        const granted = actionsOf(document);
        for (const action of ["ecs:DescribeUserData", "ecs:DescribeInstanceAttribute", "vpc:CreateRouteEntry"]) {
            assert.ok(!granted.has(action), action);
        }
        assert.ok(granted.has("slb:CreateLoadBalancer") && granted.has("ecs:DescribeInstances"));
    });

    test("every Aliyun grant is limited to the cluster's region", () => {
        for (const purpose of ["cloud-controller-manager", "csi-disk-controller", "csi-disk-node"]) {
            for (const statement of statementsOf(attachedTo(p, purpose).document)) {
                for (const resource of [statement.Resource].flat()) {
                    assert.match(resource, /^acs:(ecs|slb|vpc):cn-hangzhou:\*:\*$/, purpose);
                }
            }
        }
    });

    test("the CSI disk controller and plugin: upstream's actions without snapshots; workers cannot delete snapshots", () => {
        const controller = actionsOf(attachedTo(p, "csi-disk-controller").document);
        const node = actionsOf(attachedTo(p, "csi-disk-node").document);
        const withoutSnapshots = (file: string) =>
            new Set(
                [...actionsOf(upstream(file))].filter(
                    (action) => !/:(Create|Delete)Snapshot|SnapshotGroup/.test(action),
                ),
            );
        assert.deepEqual(controller, withoutSnapshots("aliyun-csi-disk-controller.json"));
        assert.deepEqual(node, withoutSnapshots("aliyun-csi-disk-node.json"));
        assert.ok(!node.has("ecs:DeleteSnapshot"));
    });

    test("masters hold the backup role with the controllers' policies; workers a role with the plugin's only", () => {
        const backupRole = inputs(p, "backup-store-role").roleName;
        assert.equal(attachedTo(p, "cloud-controller-manager").role, backupRole);
        assert.equal(attachedTo(p, "csi-disk-controller").role, backupRole);
        const workersRole = inputs(p, "controller-roles-workers").roleName;
        assert.equal(attachedTo(p, "csi-disk-node").role, workersRole);
        for (const node of nodes) {
            const attachments = p
                .ofType("alicloud:ecs/ramRoleAttachment:RamRoleAttachment")
                .filter((attachment) => (attachment.inputs as Inputs).instanceId === `${node}-id`);
            assert.equal(attachments.length, 1, `${node} holds one role`);
            const expected = node.startsWith("master") ? backupRole : workersRole;
            assert.equal((attachments[0].inputs as Inputs).ramRoleName, expected, node);
        }
    });

    test("without backups the masters get a role of their own", () => {
        const noBackup = planOf("aliyun", true, { "kubeha:backup": { enabled: false } });
        const mastersRole = inputs(noBackup, "controller-roles-masters").roleName;
        assert.equal(inputs(noBackup, "controller-roles-cloud-controller-manager-attachment").roleName, mastersRole);
        assert.equal(inputs(noBackup, "master-2-controller-role").ramRoleName, mastersRole);
    });

    test("with cloudIntegration false: no controller roles", () => {
        const off = planOf("aliyun", false);
        assert.deepEqual(
            off.resources.filter((resource) => resource.name.includes("controller-role")),
            [],
        );
    });
});

describe("the addons: cloud controller manager, CSI driver, default StorageClass", () => {
    type Manifest = {
        kind: string;
        metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
        [field: string]: unknown;
    };
    const manifests = (p: Plan): Manifest[] =>
        fs
            .readdirSync(path.join(p.dir, "manifests"))
            .map((file) => parseAllDocuments(p.file(path.join("manifests", file)))[0].toJS() as Manifest);
    const named = (objects: Manifest[], kind: string, name: string) => {
        const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
        assert.ok(found, `${kind}/${name}`);
        return found as Manifest & { spec: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const cases = [
        {
            cloud: "aws" as const,
            ccm: "aws-cloud-controller-manager",
            driver: "ebs.csi.aws.com",
            storageClass: "ebs-gp3-encrypted",
            parameters: { type: "gp3", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4" },
            zoneLabel: "topology.kubernetes.io/zone",
            zones: ["eu-central-1a", "eu-central-1b", "eu-central-1c"],
        },
        {
            cloud: "aliyun" as const,
            ccm: "cloud-controller-manager",
            driver: "diskplugin.csi.alibabacloud.com",
            storageClass: "alicloud-disk-essd-encrypted",
            parameters: { type: "cloud_essd", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4" },
            zoneLabel: "topology.diskplugin.csi.alibabacloud.com/zone",
            zones: undefined,
        },
    ];
    for (const cloud of ["aws", "aliyun"] as const) {
        test(`${cloud}: the cloud controller manager's ClusterRole reads no Secret and mints no ServiceAccount token`, () => {
            const role = named(manifests(planOf(cloud, true)), "ClusterRole", "system:cloud-controller-manager");
            const rules = role.rules as { resources: string[]; verbs: string[] }[];
            const resources = rules.flatMap((rule) => rule.resources);
            assert.ok(resources.includes("nodes"), "the role found");
            for (const forbidden of ["secrets", "serviceaccounts/token", "*"]) {
                assert.ok(!resources.includes(forbidden), forbidden);
            }
            // Without --use-service-account-credentials it acts as itself: no ServiceAccounts of its own to make.
            assert.ok(!resources.includes("serviceaccounts"), "serviceaccounts");
        });
    }
    for (const expected of cases) {
        test(`${expected.cloud}: the default StorageClass is encrypted, bound at first use, growable, in the cluster's zones`, () => {
            const p = planOf(expected.cloud, true);
            const objects = manifests(p);
            const classes = objects.filter((object) => object.kind === "StorageClass");
            assert.deepEqual(
                classes.map((object) => object.metadata.name),
                [expected.storageClass],
            );
            const storageClass = classes[0] as Manifest & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
            assert.equal(storageClass.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"], "true");
            assert.equal(storageClass.provisioner, expected.driver);
            named(objects, "CSIDriver", expected.driver);
            assert.deepEqual(storageClass.parameters, expected.parameters);
            assert.equal(storageClass.volumeBindingMode, "WaitForFirstConsumer");
            assert.equal(storageClass.allowVolumeExpansion, true);
            assert.equal(storageClass.reclaimPolicy, "Delete");
            // The zones the hosts are in: those of the instances' subnets / vSwitches.
            const zones = expected.zones ?? [
                ...new Set(
                    p
                        .ofType("alicloud:vpc/switch:Switch")
                        .map((vswitch) => (vswitch.inputs as Inputs).zoneId as string),
                ),
            ];
            assert.deepEqual(storageClass.allowedTopologies, [
                { matchLabelExpressions: [{ key: expected.zoneLabel, values: zones }] },
            ]);
            assert.equal(p.outputs.storageClass, expected.storageClass);
        });

        test(`${expected.cloud}: the cloud controller manager runs on the masters, on the host's network, before nodes are initialised`, () => {
            const objects = manifests(planOf(expected.cloud, true));
            const pod = named(objects, "DaemonSet", expected.ccm).spec.template.spec;
            assert.equal(pod.hostNetwork, true);
            assert.deepEqual(pod.nodeSelector, { "node-role.kubernetes.io/control-plane": "" });
            assert.ok(
                pod.tolerations.some(
                    (toleration: { key?: string }) =>
                        toleration.key === "node.cloudprovider.kubernetes.io/uninitialized",
                ),
            );
            const args: string[] = pod.containers[0].args;
            assert.ok(args.includes("--configure-cloud-routes=false"), "flannel routes pods, not the VPC");
            if (expected.cloud === "aws") assert.ok(args.includes("--cluster-name=kubeha-aws-dev"), args.join(" "));
            // It may read the request-header CA, or it exits at start.
            const reader = objects.find(
                (object) =>
                    object.kind === "RoleBinding" &&
                    (object.roleRef as { name: string }).name === "extension-apiserver-authentication-reader",
            ) as Manifest & { subjects: { name: string }[] };
            assert.deepEqual(
                reader.subjects.map((subject) => subject.name),
                [pod.serviceAccountName],
            );
        });

        test(`${expected.cloud} with cloudIntegration false: no cloud controller, no CSI driver, no StorageClass`, () => {
            const p = planOf(expected.cloud, false);
            const kinds = manifests(p).map((object) => `${object.kind}/${object.metadata.name}`);
            assert.ok(kinds.includes("DaemonSet/kube-flannel-ds"));
            for (const kind of kinds) assert.doesNotMatch(kind, /csi|cloud-controller|StorageClass/);
            assert.equal(p.outputs.storageClass, undefined);
        });
    }
});

describe("the load-balancer exposure policy (its CEL is run by the real apiserver in test/real)", () => {
    for (const [cloud, annotations] of [
        ["aws", ["service.beta.kubernetes.io/aws-load-balancer-internal"]],
        [
            "aliyun",
            [
                "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type",
                "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-acl-status",
            ],
        ],
    ] as const) {
        test(`${cloud}: every Service create and update is checked, and refused (Deny) when it fails`, () => {
            const p = planOf(cloud, true);
            const policy = inputs(p, "load-balancer-exposure-policy") as {
                spec: { failurePolicy: string; matchConstraints: unknown; validations: { expression: string }[] };
            };
            assert.equal(policy.spec.failurePolicy, "Fail");
            assert.deepEqual(policy.spec.matchConstraints, {
                resourceRules: [
                    { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["services"] },
                ],
            });
            const [{ expression }] = policy.spec.validations;
            for (const annotation of [...annotations, "kubeha.io/internet-facing"])
                assert.ok(expression.includes(annotation), annotation);
            assert.equal(expression.includes("loadBalancerSourceRanges"), cloud === "aws");
            const binding = inputs(p, "load-balancer-exposure-binding") as { spec: Record<string, unknown> };
            assert.deepEqual(binding.spec, {
                policyName: "kubeha-load-balancer-exposure",
                validationActions: ["Deny"],
            });
        });
    }

    test("with cloudIntegration false there is no policy: no LoadBalancer Service gets a load balancer anyway", () => {
        assert.deepEqual(
            planOf("aws", false).resources.filter((resource) => resource.name.startsWith("load-balancer-exposure")),
            [],
        );
    });
});
