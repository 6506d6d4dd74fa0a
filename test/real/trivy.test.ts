// The benchmark's second tool no one here wrote: trivy's built-in Kubernetes checks (its CIS control-plane and etcd
// flag checks, KCV, and its workload and RBAC checks, KSV) on the same file groups as checkov's (cis.test.ts,
// support/benchmark.ts), offline. The trivy binary comes from the toolchain, built on first use (minutes: see
// toolchain/components.ts trivyComponent). Every failed check must be listed in test/fixtures/trivy-accepted.json with
// its reason, and every listed one must still fail: the counts can only get better.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { trivyVersion } from "../../toolchain/components";
import { projectDir } from "../support/plan";
import { systemTestSkipReason, TestNetwork } from "../system/support/netns";
import { toolchainRelease } from "../system/support/toolchain";
import { assertAgainstAccepted, ScanFiles, writeScanFiles } from "./support/benchmark";
import { runTrivy } from "./support/trivy";

const acceptedFile = path.join(projectDir, "test/fixtures/trivy-accepted.json");
/** trivy's etcd flag checks (CIS 2.1-2.6): the only ones that say something about a member run by systemd. */
const etcdChecks = ["KCV-0042", "KCV-0043", "KCV-0044", "KCV-0045", "KCV-0046", "KCV-0047"];

describe(
    "trivy's Kubernetes checks on what the real kubeadm writes, etcd's files and every manifest the program applies",
    { skip: systemTestSkipReason() },
    () => {
        const network = new TestNetwork("kh-trivy");
        let files: ScanFiles;
        let workDir: string;

        before(async () => {
            workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeha-trivy-"));
            files = await writeScanFiles(network, workDir);
        });

        after(async () => {
            await network.destroy();
            if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
        });

        test("every failed check is an accepted finding with its reason, and every accepted one still fails; counts per file group", () => {
            const trivy = path.join(toolchainRelease("trivy", trivyVersion), "trivy");
            const findings = runTrivy(trivy, files.scan, path.join(workDir, "trivy-cache"));
            assertAgainstAccepted(
                `trivy ${trivyVersion} (built-in Kubernetes checks)`,
                findings,
                etcdChecks,
                acceptedFile,
            );
        });
    },
);
