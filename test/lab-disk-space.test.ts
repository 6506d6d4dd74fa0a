// The lab refuses to start where its machines' kubelets would taint every node with disk pressure (lab/lab.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { labDiskProblem } from "../lab/lab";

const gib = 2 ** 30;
const disk = (sizeGib: number, freeGib: number) => ({
    bsize: 4096,
    blocks: (sizeGib * gib) / 4096,
    bavail: (freeGib * gib) / 4096,
});

test("a host filesystem with room for the lab above the kubelet's 10 % eviction threshold is accepted", () => {
    assert.equal(labDiskProblem(disk(252, 51)), undefined);
    assert.equal(labDiskProblem(disk(100, 18)), undefined);
});

test("one that the lab would take under 10 % free is refused, saying how much it has and needs", () => {
    // 18 GiB of 252 (7 %): what made every node of a lab tainted with disk pressure while they reported Ready.
    const problem = labDiskProblem(disk(252, 18));
    assert.match(String(problem), /^\/var\/lib has 18\.0 GiB free of 252\.0 GiB; the lab needs 33\.2 GiB/);
    assert.match(String(labDiskProblem(disk(100, 17.9))), /needs 18\.0 GiB/);
});
