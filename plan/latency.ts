// Modeled time-to-ready: the plan's dependency graph weighted by how long each resource takes to
// create. The figures are estimates with their sources; they make changes to the graph comparable,
// they do not replace a measured `pulumi up`.
import { apiHealthCheck } from "../config/ports";
import { installedScript, Step, StepId, stepIds, steps } from "../render/steps";

export interface TimedResource {
    readonly type: string;
    readonly name: string;
    readonly dependencies: readonly string[];
    /** The provider resource it is created with: `pulumi up` creates that first, like a dependency. */
    readonly provider?: string;
    /** Its planned inputs: a remote step's `create` says which script it runs. */
    readonly inputs?: Readonly<Record<string, unknown>>;
}

export interface Latency {
    /** The kind of resource or step the figure is for. */
    readonly what: string;
    readonly seconds: number;
    /** Where the figure comes from. */
    readonly source: string;
}

interface Rule extends Latency {
    readonly matches: (resource: TimedResource) => boolean;
}

const type =
    (...types: string[]) =>
    (resource: TimedResource) =>
        types.includes(resource.type);
const step =
    (...suffixes: string[]) =>
    (resource: TimedResource) =>
        resource.type === "command:remote:Command" && suffixes.some((suffix) => resource.name.endsWith(`-${suffix}`));

/** Names of the steps whose creation runs nothing (render/steps.ts: update and delete phases). */
const stepsRunLater = Object.values(steps as Record<string, Step>)
    .filter((candidate) => candidate.phase === "update" || candidate.phase === "delete")
    .map((candidate) => candidate.name);

/** The steps that only queue their work on the host (render/steps.ts `queues`), and what they queue. */
const queuingSteps = stepIds.flatMap((id) => {
    const queues: string | undefined = (steps[id] as Step).queues;
    return queues ? [{ id, step: steps[id] as Step, queued: steps[queues as StepId] as Step }] : [];
});

/** The queuing step a resource is, if any: a remote command that runs that step's script. */
function queuingStepOf(resource: TimedResource) {
    if (resource.type !== "command:remote:Command") return undefined;
    const create = String(resource.inputs?.create ?? "");
    return queuingSteps.find(({ id }) => create.endsWith(` ${installedScript(id)}`));
}

/** First match wins; anything unmatched is a plain cloud API call. */
export const latencyModel: readonly Rule[] = [
    {
        what: "a step that only queues its work as a unit on the host (a worker's join) and returns",
        matches: (resource) => queuingStepOf(resource) !== undefined,
        seconds: 5,
        source:
            "measured on the lab (test:lab by hand, 2026-12-07, load 21, 2 shared cores): 5 s for each of the three " +
            "workers, an SSH round trip through the bastion and a systemd-run",
    },
    {
        what: "EC2 instance until sshd answers",
        matches: type("aws:ec2/instance:Instance"),
        seconds: 45,
        source: "AWS: instances reach running in ~10-20 s; Ubuntu's sshd is up ~30 s after (Typhoon reports ~5 min for a whole cluster)",
    },
    {
        what: "ECS instance until sshd answers",
        matches: type("alicloud:ecs/instance:Instance"),
        seconds: 45,
        source: "Aliyun ECS: Running within ~30 s of RunInstances, sshd shortly after",
    },
    {
        what: "AWS network load balancer until active",
        matches: type("aws:lb/loadBalancer:LoadBalancer"),
        seconds: 180,
        source: "AWS ELB docs: a new NLB takes a few minutes to become active; the provider waits for it",
    },
    {
        what: "Aliyun NLB until active",
        matches: type("alicloud:nlb/loadBalancer:LoadBalancer"),
        seconds: 90,
        source: "Aliyun NLB: provisioning typically 1-2 min",
    },
    {
        what: "NAT gateway until available",
        matches: type("aws:ec2/natGateway:NatGateway", "alicloud:vpc/natGateway:NatGateway"),
        seconds: 100,
        source: "AWS VPC docs: NAT gateway pending -> available in 1-2 min (Aliyun enhanced NAT similar)",
    },
    {
        what: "cloud-init preparation (packages, containerd, image pre-pull) once the host is up and NAT works",
        matches: step("ready"),
        seconds: 130,
        source:
            "estimate: ~250 MB of packages and images from a nearby mirror at >=10 MB/s plus dpkg, on every host at once; " +
            "the first ~20 s (disks, kernel, swap, sshd) need no network and overlap the wait for NAT",
    },
    {
        what: "a machine's preparation over SSH (cloud machines): the same boot script, packages and images",
        matches: step("prepare"),
        seconds: 150,
        source: "estimate: the cloud-init preparation's 130 s above, plus the SSH connection and the files it sends first",
    },
    {
        what: "files and keys over SSH through the bastion",
        matches: step("files", "keys"),
        seconds: 4,
        source: "two SSH handshakes and a few hundred KB",
    },
    {
        what: "etcd member start (the step queues the start and returns; members start one after another)",
        matches: step("etcd"),
        seconds: 14,
        source:
            "measured on the lab (test:lab by hand, 2026-12-07, load 14, 2 shared cores): 11-14 s for the three members, " +
            "each an SSH round trip through the bastion, the wait for the boot's etcd stage (disks, kernel, swap, sshd, " +
            "the etcd release download) and `systemctl start` (scripts/start-etcd.sh); the estimate was 3 s. It runs " +
            "during the host's boot, after outbound access: the no-network stages overlap the wait for NAT",
    },
    {
        what: "etcd health gate: the members find each other and elect a leader",
        matches: step("etcd-health"),
        seconds: 2,
        source:
            "measured on the lab (the same run, after the three starts): 2 s; " +
            "the estimate was 10 s (etcd docs: a leader election takes about one election timeout, 1 s)",
    },
    {
        what: "kubeadm init on the first master",
        matches: step("init"),
        seconds: 20,
        source:
            "measured on the lab (test:lab by hand, 2026-12-07, 2 shared cores): 19 s at load 13, 9 s at load 10, " +
            "images pre-pulled by the boot as on the clouds; the estimate was 75 s",
    },
    {
        what: "kubeadm join --control-plane of another master",
        matches: step("join"),
        seconds: 36,
        source:
            "measured on the lab (test:lab by hand, 2026-12-07, 2 shared cores): 20-36 s in two runs at loads 13 and " +
            "10, 29-34 s in a third at load 15, images pre-pulled; the estimate was 45 s",
    },
    {
        what: "kubeadm join of a worker (its queued unit, once the boot is done)",
        matches: step(steps["join-worker-unit"].name),
        seconds: 12,
        source:
            "measured on the lab (test:lab by hand, 2026-12-07, 2 shared cores, two runs at loads 13 and 10): " +
            "9-12 s, images pre-pulled; the estimate was 45 s, then the control-plane joins' 36 s",
    },
    {
        what: "steps with no command on creation: upgrades of a node or an etcd member, apiserver restarts, node removal",
        matches: step(...stepsRunLater),
        seconds: 0,
        source: "render/steps.ts: their update phase runs only when an input changes (a new version, re-issued certificates), their delete phase on deletion",
    },
    {
        what: "the API through the load balancer (api-ready): targets pass their health checks",
        matches: (resource) => resource.name === "api-ready",
        seconds: apiHealthCheck.intervalSeconds * (apiHealthCheck.healthyThreshold + 1),
        source:
            "the load balancers' health checks (config/ports.ts apiHealthCheck, both clouds): the passes they need, " +
            "the first up to one interval after the apiserver is ready",
    },
    {
        what: "workloads until ready (DaemonSet, Deployment)",
        matches: type("kubernetes:apps/v1:DaemonSet", "kubernetes:apps/v1:Deployment"),
        seconds: 30,
        source: "@pulumi/kubernetes waits for rollout; flannel and dashboard images are small",
    },
    {
        what: "in-program resources (keys, certificates, components)",
        matches: (resource) => /^(tls|random|pulumi|kubeha):/.test(resource.type),
        seconds: 0,
        source: "computed by the program or the engine, no remote work",
    },
    {
        what: "any other cloud or Kubernetes API call",
        matches: () => true,
        seconds: 3,
        source: "one control-plane API round trip",
    },
];

export function latencyOf(resource: TimedResource): Latency {
    return latencyModel.find((rule) => rule.matches(resource)) as Rule;
}

export interface Schedule {
    /** Minutes from `pulumi up` until the last resource is created. */
    readonly minutes: number;
    /** The longest chain, first to last, with each resource's finish time in seconds. */
    readonly criticalPath: { readonly name: string; readonly type: string; readonly finishSeconds: number }[];
}

/** The model's figure for a remote step of this name (`<host>-<step>`). */
function remoteStepSeconds(name: string): number {
    return latencyOf({ type: "command:remote:Command", name, dependencies: [] }).seconds;
}

/**
 * The work queued steps leave on their hosts, as resources of the model that hold no Pulumi slot: for each, the host's
 * boot (from its sshd answering and its outbound access: the queuing step's dependencies that are not remote steps)
 * and then the queued work, after both the boot and the step; what depends on the step waits for that work instead.
 * A host prepared over SSH (no ssh step: its instance is its preparation) has no boot left to wait for.
 */
function withHostSideWork(resources: readonly TimedResource[]): {
    resources: TimedResource[];
    slotFree: Map<string, number>;
} {
    const typeOf = new Map(resources.map((resource) => [resource.name, resource.type]));
    const slotFree = new Map<string, number>();
    const doneBy = new Map<string, string>();
    const added: TimedResource[] = [];
    for (const resource of resources) {
        const queuing = queuingStepOf(resource);
        if (!queuing) continue;
        const host = resource.name.slice(0, -(queuing.step.name.length + 1));
        const work = `${host}-${queuing.queued.name} (on the host)`;
        const after = [resource.name];
        if (typeOf.has(`${host}-${steps.ssh.name}`)) {
            const boot = `${host}-boot (on the host)`;
            const egress = resource.dependencies.filter((name) => typeOf.get(name) !== "command:remote:Command");
            added.push({
                type: "kubeha:host:Boot",
                name: boot,
                dependencies: [`${host}-${steps.ssh.name}`, ...egress],
            });
            slotFree.set(boot, remoteStepSeconds(`${host}-${steps.ready.name}`));
            after.push(boot);
        }
        added.push({ type: "kubeha:host:QueuedWork", name: work, dependencies: after });
        slotFree.set(work, remoteStepSeconds(`${host}-${queuing.queued.name}`));
        doneBy.set(resource.name, work);
    }
    const rewired = resources.map((resource) =>
        resource.dependencies.some((name) => doneBy.has(name))
            ? { ...resource, dependencies: resource.dependencies.map((name) => doneBy.get(name) ?? name) }
            : resource,
    );
    return { resources: [...rewired, ...added], slotFree };
}

/**
 * Longest path through the dependency graph when every resource starts as soon as its
 * dependencies are done; with `parallelism`, at most that many run at once (Pulumi's --parallel),
 * the ones with the longest remaining chain first. Work queued on a host runs beside them, holding no slot.
 */
export function schedule(planned: readonly TimedResource[], parallelism = Infinity): Schedule {
    const { resources, slotFree } = withHostSideWork(planned);
    const byName = new Map(resources.map((resource) => [resource.name, resource]));
    const secondsOf = (name: string) => slotFree.get(name) ?? latencyOf(byName.get(name)!).seconds;
    const dependencies = new Map(
        resources.map((resource) => [
            resource.name,
            [...resource.dependencies, ...(resource.provider ? [resource.provider] : [])].filter((name) =>
                byName.has(name),
            ),
        ]),
    );
    const dependents = new Map<string, string[]>(resources.map((resource) => [resource.name, []]));
    for (const [name, deps] of dependencies) for (const dep of deps) dependents.get(dep)!.push(name);

    // Remaining chain length below each resource, to run the most critical first.
    const tail = new Map<string, number>();
    const tailOf = (name: string): number => {
        if (!tail.has(name)) {
            const below = Math.max(0, ...dependents.get(name)!.map(tailOf));
            tail.set(name, secondsOf(name) + below);
        }
        return tail.get(name)!;
    };

    const finish = new Map<string, number>();
    const cause = new Map<string, string | undefined>();
    const waiting = new Map(resources.map((resource) => [resource.name, dependencies.get(resource.name)!.length]));
    // Heaps, not arrays sorted on every step (quadratic: a minute of a 500-worker plan's summary). The most critical
    // ready resource starts first (ties by name); the running one that ends first finishes first (ties: the one
    // started first).
    const ready = new Heap<string>((a, b) => tailOf(b) - tailOf(a) || a.localeCompare(b));
    const running = new Heap<{ name: string; end: number; started: number }>(
        (a, b) => a.end - b.end || a.started - b.started,
    );
    let started = 0;
    let now = 0;
    let slotsTaken = 0;
    const start = (name: string) => {
        if (!slotFree.has(name)) slotsTaken++;
        running.push({ name, end: now + secondsOf(name), started: started++ });
    };
    const becameReady = (name: string) => (slotFree.has(name) ? start(name) : ready.push(name));
    for (const resource of resources) if (waiting.get(resource.name) === 0) becameReady(resource.name);
    while (ready.size > 0 || running.size > 0) {
        while (ready.size > 0 && slotsTaken < parallelism) start(ready.pop()!);
        const done = running.pop()!;
        if (!slotFree.has(done.name)) slotsTaken--;
        now = done.end;
        finish.set(done.name, now);
        for (const next of dependents.get(done.name)!) {
            const remaining = waiting.get(next)! - 1;
            waiting.set(next, remaining);
            if (remaining === 0) {
                cause.set(next, latest(dependencies.get(next)!, finish));
                becameReady(next);
            }
        }
    }
    const last = latest([...finish.keys()], finish);
    const criticalPath: Schedule["criticalPath"] = [];
    for (let name = last; name; name = cause.get(name)) {
        const resource = byName.get(name)!;
        criticalPath.unshift({ name, type: resource.type, finishSeconds: finish.get(name)! });
    }
    return { minutes: (last ? finish.get(last)! : 0) / 60, criticalPath };
}

function latest(names: readonly string[], finish: Map<string, number>): string | undefined {
    return [...names].sort((a, b) => finish.get(b)! - finish.get(a)! || a.localeCompare(b))[0];
}

/** A binary heap: pop() gives the item the comparison orders first. */
class Heap<T> {
    private readonly items: T[] = [];

    constructor(private readonly before: (a: T, b: T) => number) {}

    get size(): number {
        return this.items.length;
    }

    push(item: T): void {
        const items = this.items;
        let i = items.push(item) - 1;
        while (i > 0) {
            const parent = (i - 1) >> 1;
            if (this.before(items[i], items[parent]) >= 0) break;
            [items[i], items[parent]] = [items[parent], items[i]];
            i = parent;
        }
    }

    pop(): T | undefined {
        const items = this.items;
        const top = items[0];
        const last = items.pop();
        if (items.length === 0 || last === undefined) return top;
        items[0] = last;
        for (let i = 0; ;) {
            const left = 2 * i + 1;
            const right = left + 1;
            let first = i;
            if (left < items.length && this.before(items[left], items[first]) < 0) first = left;
            if (right < items.length && this.before(items[right], items[first]) < 0) first = right;
            if (first === i) break;
            [items[i], items[first]] = [items[first], items[i]];
            i = first;
        }
        return top;
    }
}
