// What the lab measured, kept for `npm run bench`: how long a real `pulumi up` of a stack took from an empty stack
// to a working cluster (test:up, not interrupted), and how long the same bootstrap took by hand on the same lab
// (test:lab: the same machines booted, then the plan's own steps and addons run directly, no Pulumi). Their ratio
// is what the orchestration itself costs. Each run replaces its own figure; the bench prints both with their dates,
// and the by-hand run's time per step beside the latency model's estimate for that kind of step.
import * as fs from "node:fs";
import * as path from "node:path";
import { latencyOf } from "../plan/latency";
import { labCacheDir } from "./paths";

export type LabMeasurementKind = "pulumi-up" | "by-hand";

export interface LabMeasurement {
    /** Wall time from the start (no machine, no resource) to a working cluster with its addons. */
    readonly seconds: number;
    /** What the figure covers, in a few words, for the bench's table. */
    readonly covers: string;
    readonly measuredAt: string;
    /** The machine's 1-minute load average when the measurement ended: the lab shares its cores. */
    readonly load: number;
    /** By hand only: each remote step and Kubernetes object that ran, and how long it took (lab/bootstrap.ts). */
    readonly steps?: readonly MeasuredStep[];
}

export interface MeasuredStep {
    readonly name: string;
    /** The plan's resource type: with the name, what picks the latency model's figure for it (plan/latency.ts). */
    readonly type: string;
    /** A remote step's command (`create`): which script it runs, which the model's figure may depend on. */
    readonly inputs?: { readonly create?: unknown };
    readonly seconds: number;
}

const measurementsDir = path.join(labCacheDir, "measured");

function measurementsFile(stack: string): string {
    return path.join(measurementsDir, `${stack}.json`);
}

export function labMeasurements(stack: string): Partial<Record<LabMeasurementKind, LabMeasurement>> {
    const file = measurementsFile(stack);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
}

export function recordLabMeasurement(stack: string, kind: LabMeasurementKind, measurement: LabMeasurement): void {
    fs.mkdirSync(measurementsDir, { recursive: true });
    const all = { ...labMeasurements(stack), [kind]: measurement };
    const file = measurementsFile(stack);
    fs.writeFileSync(`${file}.partial`, `${JSON.stringify(all, null, 2)}\n`);
    fs.renameSync(`${file}.partial`, file);
}

/** How each figure is measured, for the bench's table. */
const measuredBy: Record<LabMeasurementKind, { label: string; command: (stack: string) => string }> = {
    "pulumi-up": { label: "pulumi up", command: (stack) => `KUBEHA_UP_STACKS=${stack}:basic npm run test:up` },
    "by-hand": { label: "by hand", command: (stack) => `KUBEHA_LAB_STACK=${stack} npm run test:lab` },
};

/** The bench's lines for one stack: both figures when the lab measured them, and the ratio once both exist. */
export function describeLabMeasurements(stack: string): string[] {
    const measured = labMeasurements(stack);
    const lines = (Object.keys(measuredBy) as LabMeasurementKind[]).map((kind) => {
        const { label, command } = measuredBy[kind];
        const m = measured[kind];
        return m
            ? `${label.padEnd(10)} ${m.seconds.toFixed(0).padStart(5)} s  ${m.covers} (${m.measuredAt}, load ${m.load.toFixed(1)})`
            : `${label.padEnd(10)}     -    not measured on this machine yet: ${command(stack)}`;
    });
    const [up, byHand] = [measured["pulumi-up"], measured["by-hand"]];
    if (up && byHand) lines.push(`ratio      ${(up.seconds / byHand.seconds).toFixed(2)}    pulumi up / by hand`);
    if (byHand?.steps) lines.push(...describeMeasuredSteps(byHand.steps));
    return lines;
}

/**
 * The by-hand run's steps beside the latency model's figure for each kind of step that does work on a host or the
 * cluster: the lab's machines are containers on this machine with local mirrors, so the figures show where the
 * model's estimates stand, they are no cloud measurement.
 */
export function describeMeasuredSteps(steps: readonly MeasuredStep[]): string[] {
    const byKind = new Map<string, { model: number; seconds: number[] }>();
    for (const step of steps) {
        const rule = latencyOf({ ...step, dependencies: [] });
        if (rule.seconds === 0) continue;
        const kind = byKind.get(rule.what) ?? { model: rule.seconds, seconds: [] };
        kind.seconds.push(step.seconds);
        byKind.set(rule.what, kind);
    }
    return [...byKind].map(([what, { model, seconds }]) => {
        const [low, high] = [Math.min(...seconds), Math.max(...seconds)];
        const [from, to] = [low.toFixed(0), high.toFixed(0)];
        const measured = from === to ? from : `${from}-${to}`;
        return `step       model ${String(model).padStart(3)} s, by hand ${measured.padStart(7)} s (${seconds.length}x): ${what}`;
    });
}
