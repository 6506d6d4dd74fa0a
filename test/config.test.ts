// Stack configuration: defaults, every validation rule, warnings, and all problems reported at once.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveConfig } from "../config/resolve";
import { defaultKubernetesPatch, exactKubernetesVersion, supportedKubernetesMinors } from "../config/versions";

const regions = { aliyun: "cn-hangzhou", aws: "eu-central-1" };

function resolve(values: Record<string, unknown>) {
    const raw = Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
    );
    return resolveConfig({ values: raw, regions });
}

function problems(values: Record<string, unknown>): string[] {
    const result = resolve(values);
    assert.equal(result.ok, false, "expected the configuration to be rejected");
    return result.ok ? [] : result.problems;
}

function config(values: Record<string, unknown>) {
    const result = resolve(values);
    if (!result.ok) assert.fail(`unexpected problems:\n${result.problems.join("\n")}`);
    return result;
}

describe("defaults", () => {
    test("only the cloud and its region are required", () => {
        const { config: aliyun } = config({ cloud: "aliyun" });
        assert.equal(aliyun.region, "cn-hangzhou");
        assert.equal(aliyun.masters.count, 3);
        assert.equal(aliyun.kubeProxyMode, "nftables");
        assert.equal(aliyun.network.podCidr, "10.244.0.0/16");
        assert.equal(aliyun.etcd.quotaBackendBytes, 8 * 2 ** 30);
        assert.equal(aliyun.etcd.compactionRetention, "1h");
    });

    test("the China mirror preset is the default on Aliyun, the global one on AWS", () => {
        assert.equal(config({ cloud: "aliyun" }).config.mirrorPreset, "china");
        assert.equal(config({ cloud: "aws" }).config.mirrorPreset, "global");
        assert.match(config({ cloud: "aliyun" }).config.mirrors.kubernetesImages, /aliyuncs/);
    });

    test("a single mirror can be overridden without losing the preset's others", () => {
        const { config: c } = config({ cloud: "aliyun", mirrors: { flannelImages: "registry.example.cn/flannel" } });
        assert.equal(c.mirrors.flannelImages, "registry.example.cn/flannel");
        assert.match(c.mirrors.containerdApt, /aliyun/);
    });

    test("instance types default per cloud and can be set per group", () => {
        const { config: c } = config({ cloud: "aws", workers: { instanceType: "m7i.xlarge" } });
        assert.equal(c.workers.instanceType, "m7i.xlarge");
        assert.equal(c.workers.count, 3, "a partial object keeps the other defaults");
        assert.match(c.masters.instanceType, /^t3\./);
    });

    test("apiDns is optional; its record defaults to k8s-api", () => {
        assert.equal(config({ cloud: "aliyun" }).config.apiDns, undefined);
        assert.deepEqual(config({ cloud: "aliyun", apiDns: { domain: "example.com" } }).config.apiDns, {
            domain: "example.com",
            record: "k8s-api",
        });
    });

    test("a range listed twice in allowedCidrs counts once (one firewall rule each)", () => {
        const { config: c } = config({
            cloud: "aliyun",
            allowedCidrs: {
                ssh: ["198.51.100.7/32", "198.51.100.7/32"],
                api: ["192.0.2.0/24", "198.51.100.0/24", "192.0.2.0/24"],
                nodePorts: ["100.64.0.0/10", "100.64.0.0/10"],
            },
        });
        assert.deepEqual(c.allowedCidrs, {
            ssh: ["198.51.100.7/32"],
            api: ["192.0.2.0/24", "198.51.100.0/24"],
            nodePorts: ["100.64.0.0/10"],
        });
    });

    test("a minor and an exact patch are both accepted", () => {
        assert.equal(config({ cloud: "aws", kubernetesVersion: "1.37" }).config.kubernetesVersion, "1.37");
        assert.equal(config({ cloud: "aws", kubernetesVersion: "1.36.2" }).config.kubernetesVersion, "1.36.2");
    });

    test("a minor means the patch config/versions.ts pins for it; an exact patch is kept as given", () => {
        assert.deepEqual(
            supportedKubernetesMinors.map((minor) => exactKubernetesVersion(minor)),
            ["1.35.4", "1.36.3", "1.37.2"],
        );
        assert.equal(defaultKubernetesPatch, "1.36.3");
        assert.equal(exactKubernetesVersion(config({ cloud: "aws" }).config.kubernetesVersion), "1.36.3");
        assert.equal(exactKubernetesVersion("1.36.1"), "1.36.1");
        assert.throws(() => exactKubernetesVersion("1.30"), /not a supported minor \(1\.35, 1\.36, 1\.37\)/);
    });
});

describe("each rule names the key and what is allowed", () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
        ["unknown cloud", { cloud: "gcp" }, /^kubeha:cloud: must be one of aliyun, aws/],
        ["missing cloud", {}, /^kubeha:cloud: required/],
        ["missing region", { cloud: "aws", __noRegion: true }, /^aws:region: required/],
        ["even master count", { cloud: "aws", masters: { count: 4 } }, /^kubeha:masters\.count: must be odd/],
        ["no masters", { cloud: "aws", masters: { count: 0 } }, /^kubeha:masters\.count: must be at least 1/],
        ["even etcd count", { cloud: "aws", etcd: { dedicated: true, count: 4 } }, /^kubeha:etcd\.count: must be odd/],
        ["negative workers", { cloud: "aws", workers: { count: -2 } }, /^kubeha:workers\.count: must be at least 0/],
        [
            "absurd workers",
            { cloud: "aws", workers: { count: 100000 } },
            /^kubeha:workers\.count: must be at most 1000/,
        ],
        [
            "fractional count",
            { cloud: "aws", workers: { count: 2.5 } },
            /^kubeha:workers\.count: must be a whole number/,
        ],
        [
            "malformed CIDR",
            { cloud: "aws", network: { podCidr: "10.244.0/16" } },
            /^kubeha:network\.podCidr: .*not an IPv4 CIDR/,
        ],
        [
            "host bits set",
            { cloud: "aws", network: { vpcCidr: "10.0.0.1/16" } },
            /^kubeha:network\.vpcCidr: .*host bits/,
        ],
        [
            "overlapping ranges",
            { cloud: "aws", network: { vpcCidr: "10.0.0.0/8" } },
            /^kubeha:network\.podCidr: 10\.244\.0\.0\/16 overlaps network\.vpcCidr/,
        ],
        [
            "subnets too small",
            { cloud: "aws", network: { vpcCidr: "192.168.0.0/24" }, workers: { count: 30 } },
            /^kubeha:network\.vpcCidr: \/24 gives zone subnets of 16 addresses/,
        ],
        [
            "unsupported minor",
            { cloud: "aws", kubernetesVersion: "1.29" },
            /^kubeha:kubernetesVersion: "1\.29" is not a supported/,
        ],
        ["malformed version", { cloud: "aws", kubernetesVersion: "v1.36" }, /^kubeha:kubernetesVersion: "v1\.36"/],
        [
            "API DNS on AWS",
            { cloud: "aws", apiDns: { domain: "example.com" } },
            /^kubeha:apiDns: is for cloud aliyun only \(an AWS NLB is reachable by its own DNS name\); remove it$/,
        ],
        [
            "API DNS record with a space",
            { cloud: "aliyun", apiDns: { domain: "example.com", record: "k8s api" } },
            /^kubeha:apiDns\.record: must be lower-case DNS labels, like k8s-api or api\.prod/,
        ],
        ["API DNS domain missing", { cloud: "aliyun", apiDns: { record: "k8s-api" } }, /^kubeha:apiDns\.domain: /],
        [
            "malformed allow-list entry",
            { cloud: "aws", allowedCidrs: { ssh: ["1.2.3.4"] } },
            /^kubeha:allowedCidrs\.ssh\[0\]: /,
        ],
        [
            "malformed NodePort allow-list entry",
            { cloud: "aliyun", allowedCidrs: { nodePorts: ["100.64.0.0/33"] } },
            /^kubeha:allowedCidrs\.nodePorts\[0\]: /,
        ],
        [
            "unknown nested key",
            { cloud: "aws", masters: { cout: 3 } },
            /^kubeha:masters\.cout: unknown key; allowed here: count/,
        ],
        ["unknown top-level key", { cloud: "aws", master: { count: 3 } }, /^kubeha:master: unknown key/],
        [
            "wrong type",
            { cloud: "aws", masters: "three" },
            /^kubeha:masters: must be an object \(a YAML mapping\) \(got "three"\)$/,
        ],
        [
            "a misspelled key whose value is text",
            { cloud: "aws", kubeProxymode: "ipvs" },
            /^kubeha:kubeProxymode: unknown key; allowed here: .*\bkubeProxyMode\b/,
        ],
        [
            "duration format",
            { cloud: "aws", etcd: { compactionRetention: "1 hour" } },
            /^kubeha:etcd\.compactionRetention: must be a duration in minutes or hours, like "1h" or "30m"$/,
        ],
        [
            "DNS name format",
            { cloud: "aws", network: { privateDomain: "k8s_internal" } },
            /^kubeha:network\.privateDomain: must be a lower-case DNS name with at least two labels/,
        ],
        [
            "empty API allow-list",
            { cloud: "aws", allowedCidrs: { api: [] } },
            /^kubeha:allowedCidrs\.api: must list at least one CIDR: the machine that runs pulumi up reaches the API/,
        ],
        [
            "empty SSH allow-list",
            { cloud: "aws", allowedCidrs: { ssh: [] } },
            /^kubeha:allowedCidrs\.ssh: must list at least one CIDR/,
        ],
        [
            "unknown proxy mode",
            { cloud: "aws", kubeProxyMode: "userspace" },
            /^kubeha:kubeProxyMode: must be one of nftables/,
        ],
        [
            "unknown dashboard",
            { cloud: "aws", addons: { dashboard: "lens" } },
            /^kubeha:addons\.dashboard: must be one of/,
        ],
        [
            "bad time zone",
            { cloud: "aws", timezone: "Mars/Olympus" },
            /^kubeha:timezone: must be a canonical IANA time zone/,
        ],
        [
            "proxy on 6443",
            { cloud: "aws", network: { apiProxyPort: 6443 } },
            /^kubeha:network\.apiProxyPort: must not be 6443/,
        ],
        [
            "a backup schedule that is not a calendar expression",
            { cloud: "aws", backup: { schedule: "hourly; reboot" } },
            /^kubeha:backup\.schedule: must be a systemd calendar expression/,
        ],
        [
            "no backup retention",
            { cloud: "aws", backup: { retentionDays: 0 } },
            /^kubeha:backup\.retentionDays: must be at least 1/,
        ],
        [
            "a staleness check that never fires",
            { cloud: "aws", backup: { staleAfterRuns: 0 } },
            /^kubeha:backup\.staleAfterRuns: must be at least 1/,
        ],
        [
            "leaf outlives CA",
            { cloud: "aws", pki: { caValidityHours: 8760, certValidityHours: 17520 } },
            /^kubeha:pki\.certValidityHours: must not exceed pki\.caValidityHours/,
        ],
    ];
    for (const [name, values, expected] of cases) {
        test(name, () => {
            const { __noRegion, ...rest } = values;
            const result = __noRegion
                ? resolveConfig({ values: { cloud: String(rest.cloud) }, regions: {} })
                : resolve(rest);
            assert.equal(result.ok, false);
            const found = result.ok ? [] : result.problems;
            assert.ok(
                found.some((line) => expected.test(line)),
                `no line matches ${expected}:\n${found.join("\n")}`,
            );
        });
    }
});

describe("one clear message per problem", () => {
    test("a count out of range is not also called even", () => {
        for (const [count, expected] of [
            [-1, "must be at least 1"],
            [9, "must be at most 7"],
            [2.5, "must be a whole number from 1 to 7"],
        ] as const) {
            const found = problems({ cloud: "aws", masters: { count } });
            assert.deepEqual(found, [`kubeha:masters.count: ${expected}`], String(count));
        }
    });

    test("no message names zod's internals (regex, url, invalid input)", () => {
        const found = problems({
            cloud: "aws",
            etcd: { compactionRetention: "1 hour" },
            network: { privateDomain: "k8s_internal", clusterDomain: "Cluster.Local" },
            mirrors: { kubernetesApt: "pkgs.k8s.io", kubernetesImages: "https://registry.k8s.io" },
            timezone: "PST",
        });
        assert.equal(found.length, 6, found.join("\n"));
        for (const line of found) assert.doesNotMatch(line, /regex|Invalid|pattern|expected/i, line);
    });
});

describe("zones", () => {
    test("both clouds need at least two, in the problem list", () => {
        for (const [cloud, zone] of [
            ["aws", "eu-central-1a"],
            ["aliyun", "cn-hangzhou-h"],
        ]) {
            assert.match(problems({ cloud, zones: [zone] }).join("\n"), /^kubeha:zones: must list at least two zones/);
        }
    });

    test("a zone listed twice is an error", () => {
        const found = problems({ cloud: "aws", zones: ["eu-central-1a", "eu-central-1b", "eu-central-1a"] });
        assert.deepEqual(found, ["kubeha:zones: must not list a zone twice: hosts are spread over the zones in order"]);
    });

    test("zones outside the stack's region are errors; the region's own are not", () => {
        assert.deepEqual(problems({ cloud: "aws", zones: ["eu-central-1a", "eu-west-1b"] }), [
            "kubeha:zones[1]: eu-west-1b is not a zone of the stack's region eu-central-1 (aws:region)",
        ]);
        assert.deepEqual(problems({ cloud: "aliyun", zones: ["cn-hangzhou-h", "cn-shanghai-b"] }), [
            "kubeha:zones[1]: cn-shanghai-b is not a zone of the stack's region cn-hangzhou (alicloud:region)",
        ]);
        assert.ok(problems({ cloud: "aws", zones: ["eu-central-1a", "eu-central-10a"] }).length === 1);
        config({ cloud: "aws", zones: ["eu-central-1a", "eu-central-1c"] });
        config({ cloud: "aliyun", zones: ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"] });
    });
});

describe("mirrors", () => {
    const imageKeys = ["kubernetesImages", "flannelImages", "dashboardImages", "headlampImages"];
    const urlKeys = ["ubuntuApt", "kubernetesApt", "containerdApt", "etcdReleases"];

    test("every image repository key takes the image-reference grammar, and only it", () => {
        for (const key of imageKeys) {
            for (const value of [
                "registry.example.com/google_containers",
                "registry.k8s.io",
                "localhost:5000/team/images",
                "registry.example.com:5000/a__b/c-d.e",
                "kubernetesui",
            ]) {
                assert.equal(
                    config({ cloud: "aws", mirrors: { [key]: value } }).config.mirrors[key as "flannelImages"],
                    value,
                );
            }
            for (const value of [
                "https://registry.example.com/google_containers",
                "registry.example.com/google_containers/",
                "registry.example.com/Google",
                "registry.example.com/x:v1",
                "registry.example.com/x@sha256:00",
                "registry.example.com//x",
                "",
                "registry.example.com/x'\n[plugins.evil]\nx='",
                'registry.example.com/x" ; rm -rf /',
            ]) {
                const found = problems({ cloud: "aws", mirrors: { [key]: value } });
                assert.deepEqual(
                    found.map((line) => line.split(": ")[0]),
                    [`kubeha:mirrors.${key}`],
                    `${key} = ${JSON.stringify(value)}`,
                );
                assert.match(
                    found[0],
                    /must be an image repository like registry\.example\.com\/google_containers: no scheme/,
                );
            }
        }
    });

    test("every mirror URL is https, without credentials, query, spaces or quotes", () => {
        for (const key of urlKeys) {
            for (const value of [
                "https://mirrors.example.com/ubuntu",
                "https://pkgs.k8s.io/core:/stable:",
                "https://mirror.example.cn:8443/kubernetes-new/core/stable/",
                "https://mirror.example.com/a~b/c%20d/e+f",
            ]) {
                config({ cloud: "aws", mirrors: { [key]: value } });
            }
            for (const value of [
                "http://mirrors.example.com/ubuntu",
                "ftp://mirrors.example.com/ubuntu",
                "mirrors.example.com/ubuntu",
                "https://mirrors.example.com/ubuntu extra",
                "https://user:secret@mirrors.example.com/ubuntu",
                "https://mirrors.example.com/gpg?x=1",
                "https://mirrors.example.com/#x",
                "https://mirrors.example.com/$(id)",
                "https://mirrors.example.com/'x'",
                "https://mirrors.example.com/x\n/etc/cron.d/x=https://evil.example/x",
                "https://mirrors.example.com/*",
            ]) {
                const found = problems({ cloud: "aws", mirrors: { [key]: value } });
                assert.equal(found.length, 1, `${key} = ${JSON.stringify(value)}: ${found.join("\n")}`);
                assert.match(found[0], new RegExp(`^kubeha:mirrors\\.${key}: must be an https URL like`));
            }
        }
    });
});

describe("private mirrors: apt signing keys and image references", () => {
    const digest = (hex: string) => `sha256:${hex.repeat(64 / hex.length)}`;
    const pathsOf = (found: string[]) => found.map((line) => line.split(": ")[0]);

    test("the apt keys default to the publishers' on both presets; a fingerprint is stored upper-case", () => {
        for (const cloud of ["aws", "aliyun"]) {
            const { mirrors } = config({ cloud }).config;
            assert.equal(mirrors.kubernetesAptKey, "DE15B14486CD377B9E876E1A234654DA9A296436");
            assert.equal(mirrors.containerdAptKey, "9DC858229FC7DD38854AE2D88D81803C0EBFCD88");
        }
        const { mirrors } = config({
            cloud: "aliyun",
            mirrors: {
                kubernetesApt: "https://mirror.kubeha.lab/kubernetes",
                kubernetesAptKey: "0123456789abcdef0123456789abcdef01234567",
                containerdAptKey: "89ABCDEF0123456789ABCDEF0123456789ABCDEF",
            },
        }).config;
        assert.equal(mirrors.kubernetesAptKey, "0123456789ABCDEF0123456789ABCDEF01234567");
        assert.equal(mirrors.containerdAptKey, "89ABCDEF0123456789ABCDEF0123456789ABCDEF");
        assert.match(mirrors.containerdApt, /aliyun/, "the preset's other items stay");
    });

    test("a fingerprint is the whole 40 hex digits, nothing else", () => {
        for (const key of ["kubernetesAptKey", "containerdAptKey"]) {
            for (const value of [
                "DE15 B144 86CD 377B 9E87  6E1A 2346 54DA 9A29 6436",
                "DE15B14486CD377B9E876E1A234654DA9A29643",
                "DE15B14486CD377B9E876E1A234654DA9A2964360",
                "0xDE15B14486CD377B9E876E1A234654DA9A296436",
                "9A296436",
                "GE15B14486CD377B9E876E1A234654DA9A296436",
                "",
            ]) {
                const found = problems({ cloud: "aws", mirrors: { [key]: value } });
                assert.deepEqual(pathsOf(found), [`kubeha:mirrors.${key}`], JSON.stringify(value));
                assert.match(found[0], /must be the full fingerprint of an OpenPGP key: 40 hex digits without spaces/);
            }
        }
    });

    test("ubuntuApt: image keeps the image's own Ubuntu sources, even on the china preset", () => {
        assert.equal(config({ cloud: "aliyun" }).config.mirrors.ubuntuApt, "https://mirrors.aliyun.com/ubuntu");
        const kept = config({ cloud: "aliyun", mirrors: { ubuntuApt: "image" } }).config;
        assert.equal(kept.mirrors.ubuntuApt, undefined);
        assert.ok(!("ubuntuApt" in kept.mirrors));
        assert.equal(kept.mirrors.kubernetesApt, "https://mirrors.aliyun.com/kubernetes-new/core/stable");
        for (const value of ["images", "Image", "none", ""]) {
            const found = problems({ cloud: "aliyun", mirrors: { ubuntuApt: value } });
            assert.deepEqual(pathsOf(found), ["kubeha:mirrors.ubuntuApt"], value);
            assert.match(found[0], /must be an https URL like .*; or image, to keep the image's own Ubuntu sources$/);
        }
    });

    test("ignorePreflightErrors: kubeadm check names, each once, never all", () => {
        assert.deepEqual(config({ cloud: "aws" }).config.ignorePreflightErrors, []);
        const names = ["SystemVerification", "FileAvailable--etc-kubernetes-pki-ca.crt"];
        assert.deepEqual(config({ cloud: "aws", ignorePreflightErrors: names }).config.ignorePreflightErrors, names);
        const found = problems({ cloud: "aws", ignorePreflightErrors: ["all", "Swap; rm -rf /"] });
        assert.equal(found.length, 2, found.join("\n"));
        assert.match(found[0], /ignorePreflightErrors\[0\]: all would skip every check/);
        assert.match(found[1], /ignorePreflightErrors\[1\]: must be a kubeadm preflight check name/);
        const twice = problems({ cloud: "aws", ignorePreflightErrors: ["Swap", "Swap"] });
        assert.deepEqual(twice, ["kubeha:ignorePreflightErrors: must not name a check twice"]);
    });

    test("every image takes a whole reference or the parts that differ; kept as given", () => {
        const images = {
            pause: "registry.example.com:5000/k8s/pause:3.10.1",
            coredns: { repository: "registry.kubeha.lab/coredns", tag: "v1.14.2" },
            flannel: { digest: digest("a") },
            flannelCniPlugin: { tag: "v1.9.1-flannel3_lab", digest: digest("b") },
            dashboard: `registry.kubeha.lab/kubernetesui/dashboard@${digest("c")}`,
            dashboardMetricsScraper: { repository: "registry.kubeha.lab/ui" },
            headlamp: `localhost:5000/headlamp:v0.45.0@${digest("d")}`,
            cloudControllerManager: { tag: "v1.35.3" },
            csiDriver: "registry.kubeha.lab/csi/driver:v1.59.0",
            csiLivenessProbe: { digest: digest("e") },
        };
        assert.deepEqual(config({ cloud: "aws", mirrors: { images } }).config.mirrors.images, images);
        assert.deepEqual(config({ cloud: "aws" }).config.mirrors.images, {});
        config({ cloud: "aws", mirrors: { images: { coredns: "registry.kubeha.lab/coredns/coredns:v1.14.2" } } });
        // A tag that starts with digits is a tag, not a port, with or without a digest and a registry.
        for (const pause of [`registry.kubeha.lab/k8s/pause:3.10.1@${digest("f")}`, "pause:3.10", "k8s/pause:3"]) {
            assert.equal(config({ cloud: "aws", mirrors: { images: { pause } } }).config.mirrors.images.pause, pause);
        }
    });

    test("a bad image value names its key and what is allowed", () => {
        const cases: [string, unknown, string, RegExp][] = [
            ["pause", "registry.example.com/pause", "pause", /with a tag, a digest .* or both/],
            ["pause", "https://registry.example.com/pause:3.10", "pause", /must be an image reference like/],
            ["pause", "registry.example.com/Pause:3.10", "pause", /must be an image reference like/],
            ["pause", "registry.example.com/pause:3.10@sha256:00", "pause", /must be an image reference like/],
            ["pause", 3.1, "pause", /must be an image reference \(a string .*\) or an object/],
            ["flannel", { tag: "-v1" }, "flannel.tag", /must be an image tag like v1\.2\.3/],
            ["flannel", { tag: "v1", digest: "sha256:XYZ" }, "flannel.digest", /"sha256:" and 64 lower-case hex/],
            ["flannel", { digest: `sha512:${"0".repeat(64)}` }, "flannel.digest", /"sha256:"/],
            ["flannel", { repository: "registry.example.com/x/" }, "flannel.repository", /image repository like/],
            ["flannel", { name: "flannel" }, "flannel.name", /unknown key; allowed here: repository, tag, digest$/],
            ["coredns", { digest: digest("a") }, "coredns.digest", /unknown key; allowed here: repository, tag$/],
            ["coredns", `registry.example.com/coredns/coredns@${digest("a")}`, "coredns", /takes no digest/],
            ["coredns", "registry.example.com/dns:v1.14.2", "coredns", /must be <repository>\/coredns:<tag>/],
            ["kubeProxy", "registry.example.com/kube-proxy:v1.36.3", "kubeProxy", /unknown key; allowed here: pause,/],
        ];
        for (const [key, value, at, message] of cases) {
            const found = problems({ cloud: "aws", mirrors: { images: { [key]: value } } });
            assert.deepEqual(pathsOf(found), [`kubeha:mirrors.images.${at}`], `${key} = ${JSON.stringify(value)}`);
            assert.match(found[0], message, found[0]);
        }
    });

    test("a new tag for an image pulled by digest needs its digest; a digest alone keeps the tag", () => {
        assert.deepEqual(problems({ cloud: "aws", mirrors: { images: { headlamp: { tag: "v0.46.0" } } } }), [
            "kubeha:mirrors.images.headlamp.tag: v0.46.0 needs its digest beside it (digest: sha256:...): the " +
                "image is pulled by digest, and the default digest is v0.45.0's",
        ]);
        // A whole reference says exactly what to pull; images pinned by tag take a tag alone.
        config({ cloud: "aws", mirrors: { images: { headlamp: "ghcr.io/headlamp-k8s/headlamp:v0.46.0" } } });
        config({ cloud: "aws", mirrors: { images: { pause: { tag: "3.10" }, csiDriver: { tag: "v1.60.0" } } } });
        config({ cloud: "aws", mirrors: { images: { flannel: { digest: digest("f") } } } });
    });

    test("an image of the other cloud's integration is an error", () => {
        assert.deepEqual(problems({ cloud: "aliyun", mirrors: { images: { csiLivenessProbe: { tag: "v2" } } } }), [
            "kubeha:mirrors.images.csiLivenessProbe: applies to AWS only: the aliyun cloud integration runs no " +
                "such image; remove the key",
        ]);
        config({ cloud: "aliyun", mirrors: { images: { csiDriver: { tag: "v1.34.4" } } } });
    });

    test("every problem at once, each with its key path", () => {
        const found = problems({
            cloud: "aliyun",
            mirrors: {
                ubuntuApt: "http://mirror.example/ubuntu",
                kubernetesAptKey: "DE15 B144",
                containerdAptKey: 5,
                images: {
                    pause: "pause",
                    flannel: { tag: "v0.29.0" },
                    dashboard: { tag: "v2.7.1", digest: "sha256:1" },
                    csiLivenessProbe: "registry.example.com/livenessprobe:v2.18.0",
                    coredns: { digest: digest("a") },
                },
            },
        });
        assert.deepEqual(pathsOf(found).sort(), [
            "kubeha:mirrors.containerdAptKey",
            "kubeha:mirrors.images.coredns.digest",
            "kubeha:mirrors.images.csiLivenessProbe",
            "kubeha:mirrors.images.dashboard.digest",
            "kubeha:mirrors.images.flannel.tag",
            "kubeha:mirrors.images.pause",
            "kubeha:mirrors.kubernetesAptKey",
            "kubeha:mirrors.ubuntuApt",
        ]);
    });
});

describe("time zones: only the canonical names Ubuntu's tzdata has", () => {
    test("abbreviations, legacy aliases and other spellings are refused", () => {
        for (const timezone of [
            "PST",
            "CST",
            "EST5EDT",
            "utc",
            "Utc",
            "US/Pacific",
            "PRC",
            "asia/shanghai",
            "Asia/SHANGHAI",
            "GMT",
        ]) {
            assert.match(
                problems({ cloud: "aws", timezone }).join("\n"),
                /^kubeha:timezone: must be a canonical IANA/,
                timezone,
            );
        }
    });

    test("UTC and Area/City names are accepted", () => {
        for (const timezone of [
            "UTC",
            "Asia/Shanghai",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "America/Port-au-Prince",
        ]) {
            assert.equal(config({ cloud: "aws", timezone }).config.timezone, timezone);
        }
    });
});

describe("keys of one cloud are errors on the other", () => {
    test("network.natGateways is AWS only; AWS defaults it to single", () => {
        assert.deepEqual(problems({ cloud: "aliyun", network: { natGateways: "per-zone" } }), [
            "kubeha:network.natGateways: applies to AWS only: an Aliyun stack has one NAT gateway; remove the key",
        ]);
        assert.equal(config({ cloud: "aws" }).config.network.natGateways, "single");
        assert.equal(
            config({ cloud: "aws", network: { natGateways: "per-zone" } }).config.network.natGateways,
            "per-zone",
        );
    });

    test("instance types must be the stack's cloud's", () => {
        assert.deepEqual(problems({ cloud: "aliyun", workers: { instanceType: "t3.medium" } }), [
            'kubeha:workers.instanceType: "t3.medium" is not an Aliyun instance type like ecs.g7.large',
        ]);
        assert.deepEqual(problems({ cloud: "aws", bastion: { instanceType: "ecs.t6-c1m2.large" } }), [
            'kubeha:bastion.instanceType: "ecs.t6-c1m2.large" is not an AWS instance type like t3.medium or m7i.xlarge',
        ]);
        config({ cloud: "aliyun", masters: { instanceType: "ecs.c7.2xlarge" } });
        config({ cloud: "aws", etcd: { dedicated: true, instanceType: "m7i-flex.large" } });
    });
});

describe("all problems at once", () => {
    test("two broken keys give two lines", () => {
        const found = problems({ cloud: "aws", masters: { count: 2 }, network: { podCidr: "nonsense" } });
        assert.equal(found.length, 2, found.join("\n"));
        assert.match(found[0], /^kubeha:masters\.count/);
        assert.match(found[1], /^kubeha:network\.podCidr/);
    });

    test("field problems do not hide cross-field problems elsewhere", () => {
        const found = problems({
            cloud: "aws",
            masters: { count: 2 },
            network: { serviceCidr: "10.244.0.0/16" },
            pki: { earlyRenewalHours: 9000 },
        });
        assert.ok(found.some((line) => line.startsWith("kubeha:masters.count")));
        assert.ok(found.some((line) => line.startsWith("kubeha:network.serviceCidr") && /overlaps/.test(line)));
        assert.ok(found.some((line) => line.startsWith("kubeha:pki.earlyRenewalHours")));
    });
});

describe("warnings", () => {
    test("keys in a namespace nothing reads (a misspelled kubeha) are named", () => {
        const result = resolveConfig({
            values: { cloud: "aws" },
            regions,
            otherKeys: ["kube-ha:timezone", "aws:region", "alicloud:region", "pulumi:tags", "kubernetes:context"],
        });
        assert.ok(result.ok);
        const flagged = result.warnings.filter((w) => w.includes("is ignored"));
        assert.equal(flagged.length, 1, flagged.join("\n"));
        assert.match(flagged[0], /^kube-ha:timezone: no part of this program reads the namespace kube-ha/);
    });

    test("a single master is allowed with a warning that it is not HA", () => {
        const { warnings } = config({ cloud: "aws", masters: { count: 1 } });
        assert.ok(warnings.some((w) => /masters\.count is 1.*not highly available/.test(w)));
    });

    test("masters that cannot spread over 3 zones give a warning", () => {
        const { warnings } = config({ cloud: "aws", zones: ["eu-central-1a", "eu-central-1b"] });
        assert.ok(warnings.some((w) => /kubeha:zones lists 2 zone\(s\)/.test(w)));
    });

    test("the China preset warns about images still pulled from ghcr.io or docker.io, until they are set", () => {
        assert.ok(
            config({ cloud: "aliyun" }).warnings.some((w) => /flannelImages, dashboardImages, headlampImages/.test(w)),
        );
        const mirrored = config({
            cloud: "aliyun",
            mirrors: {
                flannelImages: "registry.example.cn/flannel-io",
                dashboardImages: "registry.example.cn/kubernetesui",
                headlampImages: "registry.example.cn/headlamp-k8s",
            },
        });
        assert.ok(!mirrored.warnings.some((w) => w.includes("mainland China")));
        assert.ok(!config({ cloud: "aws" }).warnings.some((w) => w.includes("mainland China")));
        // An image moved on its own counts; one left behind keeps its mirror key in the warning.
        const oneLeft = config({
            cloud: "aliyun",
            mirrors: {
                dashboardImages: "registry.example.cn/kubernetesui",
                headlampImages: "registry.example.cn/headlamp-k8s",
                images: { flannel: `registry.example.cn/flannel-io/flannel:v0.28.9@sha256:${"a".repeat(64)}` },
            },
        });
        assert.deepEqual(
            oneLeft.warnings.filter((w) => w.includes("mainland China")).map((w) => w.split(" still")[0]),
            ["kubeha:mirrors: flannelImages"],
        );
    });

    test("ipvs is accepted with a deprecation warning", () => {
        const { warnings } = config({ cloud: "aws", kubeProxyMode: "ipvs" });
        assert.ok(warnings.some((w) => /ipvs is deprecated/.test(w)));
    });

    test("allow-lists open to the internet are flagged; narrow ones are not", () => {
        assert.equal(config({ cloud: "aws" }).warnings.filter((w) => w.includes("0.0.0.0/0")).length, 2);
        const narrow = config({ cloud: "aws", allowedCidrs: { ssh: ["198.51.100.7/32"], api: ["198.51.100.0/24"] } });
        assert.equal(narrow.warnings.filter((w) => w.includes("0.0.0.0/0")).length, 0);
    });
});
