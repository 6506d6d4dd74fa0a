// The lab as a cloud's API: what a real `pulumi up` creates on Aliyun or AWS happens on this machine. The stand-in
// provider plugins (test/engine/stand-in-provider.ts) answer the engine like the plan's mocks and tell this cloud
// each resource they create, update or delete (an event: type, name, id, state). The cloud then does what the real
// one would, from the state the engine sent, never from a re-render:
// - a VPC: the router answers on its first address (the hosts' gateway) and on the metadata address; the lab's
//   mirrors stand for the internet, which the VPC reaches only once a NAT route exists (an SNAT entry on Aliyun, a
//   route through the NAT gateway on AWS): until then the router refuses the VPC's packets to them;
// - a key pair: kept, for the instances that name it (the image's default user gets it);
// - an instance: a lab machine at its private address, booted from its own user-data (as sent, decoded), once its
//   data disks are attached (a minute at most, as a cloud instance boots while its disks attach); deleting it stops
//   and removes the machine; its public address, and an elastic address associated with it, map 1:1 onto its
//   private one (DNAT in the router, where `pulumi up` runs);
// - a disk: an ext4 image in the lab's state that outlives its machine, given to the instance it is attached to (the
//   lab cannot hot-plug: a disk attached after the machine booted waits for its next boot);
// - private DNS zones and records: served by the lab's DNS;
// - the API load balancer (NLB on either cloud): nginx `stream` in the router, at its public addresses (AWS: its DNS
//   name, resolved by the lab's DNS), spreading TCP over the targets attached to its listener's group.
// - security groups: their ingress rules, enforced on the lab network for every instance in them
//   (lab/security-groups.ts).
// Everything else (routes, NAT, roles, buckets) is accepted and has no effect in the lab.
import { gunzipSync } from "node:zlib";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { parseCidr, addressAt } from "../config/cidr";
import { mustRun } from "./command";
import { cloudMetadataAddress, dataDisksOf } from "./hosts";
import { labMachineFiles } from "./machine-files";
import { LabDataDisk, machineRunning, removeMachine, startMachine } from "./machines";
import { LabMirrors, setDnsRecords } from "./mirrors";
import { createLabNetwork, inRouter, routeInLabNetwork } from "./network";
import { labNetns, labServices, labStateDir } from "./paths";
import { aliyunIngressRule, awsIngressRule, LabIngressRule, securityGroupsRuleset } from "./security-groups";

/** One resource the engine created, updated or deleted, with its whole state (inputs and outputs, in clear). */
export interface CloudEvent {
    readonly op: "create" | "update" | "delete";
    readonly type: string;
    readonly name: string;
    readonly id: string;
    readonly state: Record<string, unknown>;
}

export interface LabCloudOptions {
    readonly lab: string;
    readonly mirrors: Pick<LabMirrors, "caCertificate" | "aptKeyFile" | "state">;
    readonly say: (line: string) => void;
    /** How long an instance waits for its data disks before booting without them. */
    readonly diskWaitMs?: number;
}

interface Instance {
    readonly id: string;
    readonly name: string;
    readonly privateIp: string;
    readonly userData: string;
    readonly user: string;
    readonly keyName: string;
    /** Its security groups' ids. */
    readonly groups: readonly string[];
    /** Disks its user-data expects, each with the image once one is attached. */
    readonly disks: (LabDataDisk & { attached?: string })[];
    booted: boolean;
    bootTimer?: NodeJS.Timeout;
}

interface Listener {
    readonly loadBalancer: string;
    readonly port: number;
    readonly group: string;
}

/** The image's default user, by cloud (the user the program logs in as, with the key pair the instance names). */
const defaultUsers: Record<string, string> = { alicloud: "ecs-user", aws: "ubuntu" };

export class LabCloud {
    private vpcPrefix?: number;
    private gateway?: string;
    private readonly keyPairs = new Map<string, string>();
    private readonly instances = new Map<string, Instance>();
    private readonly disks = new Map<string, { sizeGb: number; image: string }>();
    private readonly zones = new Map<string, string>();
    private readonly records = new Map<string, string[]>();
    private readonly publicAddresses = new Map<string, { address: string; instance: string }>();
    private readonly elasticAddresses = new Map<string, string>();
    private routedPublicAddresses = new Set<string>();
    private vpcCidr?: string;
    /** The metadata service's address in the VPC: a stand-in answers there (the pod firewall's target). */
    private metadataAddress?: string;
    private readonly egressRoutes = new Set<string>();
    private readonly loadBalancers = new Map<string, string[]>();
    private readonly listeners = new Map<string, Listener>();
    private readonly targets = new Map<string, { group: string; instance: string; port: number }>();
    private readonly ingressRules = new Map<string, LabIngressRule>();
    private readonly dir: string;

    constructor(private readonly options: LabCloudOptions) {
        this.dir = path.join(labStateDir(options.lab), "cloud");
        fs.mkdirSync(path.join(this.dir, "disks"), { recursive: true, mode: 0o700 });
    }

    async handle(event: CloudEvent): Promise<void> {
        const kind = event.type.replace(/^(alicloud|aws):/, "");
        const handler = this.handlers[kind];
        if (handler) await handler(event);
    }

    /** Machines and the load balancer go; disks and the state stay for `lab down`. */
    async close(): Promise<void> {
        for (const instance of this.instances.values()) clearTimeout(instance.bootTimer);
        this.stopLoadBalancer();
        await Promise.all([...this.instances.values()].map((i) => removeMachine(this.options.lab, i.name)));
    }

    private readonly handlers: Record<string, (event: CloudEvent) => Promise<void> | void> = {
        "vpc/network:Network": (event) => this.vpc(event),
        "vpc/snatEntry:SnatEntry": (event) => this.egress(event),
        "ec2/route:Route": (event) => {
            if (event.state.natGatewayId) this.egress(event);
        },
        "ec2/vpc:Vpc": (event) => this.vpc(event),
        "ecs/ecsKeyPair:EcsKeyPair": (event) => this.keyPair(event, "keyPairName"),
        "ec2/keyPair:KeyPair": (event) => this.keyPair(event, "keyName"),
        "ecs/instance:Instance": (event) => this.instance(event),
        "ec2/instance:Instance": (event) => this.instance(event),
        "ecs/ecsDisk:EcsDisk": (event) => this.disk(event),
        "ebs/volume:Volume": (event) => this.disk(event),
        "ecs/ecsDiskAttachment:EcsDiskAttachment": (event) => this.attachment(event, "diskId", "instanceId"),
        "ec2/volumeAttachment:VolumeAttachment": (event) => this.attachment(event, "volumeId", "instanceId"),
        "ecs/eipAddress:EipAddress": (event) => this.elasticAddress(event, "ipAddress"),
        "ec2/eip:Eip": (event) => {
            this.elasticAddress(event, "publicIp");
            // An EIP names its instance itself on AWS.
            if (event.state.instance) this.associate(event, String(event.state.instance), String(event.state.publicIp));
        },
        "ecs/eipAssociation:EipAssociation": (event) => {
            if (event.state.instanceType !== undefined && event.state.instanceType !== "EcsInstance") return;
            const address = this.elasticAddresses.get(String(event.state.allocationId));
            if (address) this.associate(event, String(event.state.instanceId), address);
        },
        "pvtz/zone:Zone": (event) => this.zone(event, "zoneName"),
        "route53/zone:Zone": (event) => this.zone(event, "name"),
        "pvtz/zoneRecord:ZoneRecord": (event) => {
            const { rr, zoneId, value } = event.state as Record<string, string>;
            this.record(event, `${rr}.${this.zones.get(zoneId)}`, [value]);
        },
        "route53/record:Record": (event) => {
            const { name, zoneId } = event.state as Record<string, string>;
            const records = (event.state.records as string[] | undefined) ?? [];
            const fqdn = name.endsWith(`.${this.zones.get(zoneId)}`) ? name : `${name}.${this.zones.get(zoneId)}`;
            if (records.length > 0) this.record(event, fqdn, records);
        },
        "nlb/loadBalancer:LoadBalancer": (event) => {
            const mappings = (event.state.zoneMappings as { allocationId?: string }[] | undefined) ?? [];
            const addresses = mappings.map((m) => this.elasticAddresses.get(String(m.allocationId))).filter(Boolean);
            this.loadBalancer(event, addresses as string[]);
        },
        "lb/loadBalancer:LoadBalancer": (event) => {
            // The NLB's name resolves (lab DNS) to the lab's load balancer address.
            this.record(event, String(event.state.dnsName), [labServices.apiLoadBalancer]);
            this.loadBalancer(event, [labServices.apiLoadBalancer]);
        },
        "nlb/listener:Listener": (event) => {
            const { loadBalancerId, listenerPort, serverGroupId } = event.state as Record<string, string>;
            this.listener(event, { loadBalancer: loadBalancerId, port: Number(listenerPort), group: serverGroupId });
        },
        "lb/listener:Listener": (event) => {
            const actions = (event.state.defaultActions as { targetGroupArn?: string }[] | undefined) ?? [];
            const group = String(actions.find((action) => action.targetGroupArn)?.targetGroupArn);
            const loadBalancer = this.idOfArn(String(event.state.loadBalancerArn));
            this.listener(event, { loadBalancer, port: Number(event.state.port), group: this.idOfArn(group) });
        },
        "nlb/serverGroupServerAttachment:ServerGroupServerAttachment": (event) => {
            const { serverGroupId, serverId, port } = event.state as Record<string, string>;
            this.target(event, { group: serverGroupId, instance: serverId, port: Number(port) });
        },
        "ecs/securityGroupRule:SecurityGroupRule": (event) => this.ingressRule(event, aliyunIngressRule(event.state)),
        "vpc/securityGroupIngressRule:SecurityGroupIngressRule": (event) =>
            this.ingressRule(event, awsIngressRule(event.state)),
        "lb/targetGroupAttachment:TargetGroupAttachment": (event) => {
            const { targetGroupArn, targetId, port } = event.state as Record<string, string>;
            this.target(event, { group: this.idOfArn(targetGroupArn), instance: targetId, port: Number(port) });
        },
    };

    /** The stand-in's ARNs end in /<name>, its ids are <name>-id: one key for both ways of naming a resource. */
    private idOfArn(arn: string): string {
        return arn.startsWith("arn:") ? `${arn.split("/").pop()}-id` : arn;
    }

    private vpc(event: CloudEvent): void {
        if (event.op === "delete") return;
        this.vpcCidr = String(event.state.cidrBlock);
        this.applyEgress();
        const vpc = parseCidr(this.vpcCidr);
        this.vpcPrefix = vpc.prefix;
        this.gateway = addressAt(vpc, 1);
        this.metadataAddress = cloudMetadataAddress(event.type.startsWith("aws:") ? "aws" : "aliyun");
        const addresses = [`${this.gateway}/${vpc.prefix}`, `${this.metadataAddress}/32`];
        createLabNetwork({ lab: this.options.lab, addresses });
        this.applyLoadBalancers();
        this.applySecurityGroups();
    }

    private ingressRule(event: CloudEvent, rule: LabIngressRule | undefined): void {
        if (!rule) return;
        if (event.op === "delete") this.ingressRules.delete(event.id);
        else this.ingressRules.set(event.id, rule);
        this.applySecurityGroups();
    }

    /** The security groups' table, rewritten whole from the rules and the instances that exist now. */
    private applySecurityGroups(): void {
        if (!this.vpcCidr) return;
        const members = [...this.instances.values()].map(({ privateIp, groups }) => ({ address: privateIp, groups }));
        const script = securityGroupsRuleset([...this.ingressRules.values()], members);
        mustRun(inRouter(this.options.lab, ["nft", "-f", "-"]), { input: script });
    }

    private egress(event: CloudEvent): void {
        if (event.op === "delete") this.egressRoutes.delete(event.id);
        else this.egressRoutes.add(event.id);
        this.applyEgress();
    }

    /** The VPC's way out: refused (TCP reset) to the mirrors' addresses while no NAT route exists. */
    private applyEgress(): void {
        if (!this.vpcCidr) return;
        const closed = this.egressRoutes.size === 0;
        const rule = `ip saddr ${this.vpcCidr} ip daddr { ${labServices.mirror}, ${labServices.registry} } reject with tcp reset`;
        const script = [
            "table ip kubeha-lab-egress {}",
            "delete table ip kubeha-lab-egress",
            "table ip kubeha-lab-egress {",
            "    chain input {",
            "        type filter hook input priority 0;",
            ...(closed ? [`        meta l4proto tcp ${rule}`] : []),
            "    }",
            "}",
            "",
        ].join("\n");
        mustRun(inRouter(this.options.lab, ["nft", "-f", "-"]), { input: script });
    }

    private keyPair(event: CloudEvent, nameKey: string): void {
        const name = String(event.state[nameKey]);
        if (event.op === "delete") this.keyPairs.delete(name);
        else this.keyPairs.set(name, String(event.state.publicKey));
    }

    private async instance(event: CloudEvent): Promise<void> {
        const { lab, say } = this.options;
        if (event.op === "delete") {
            const instance = this.instances.get(event.id);
            if (instance) clearTimeout(instance.bootTimer);
            this.instances.delete(event.id);
            for (const [key, mapping] of this.publicAddresses)
                if (mapping.instance === event.id) this.publicAddresses.delete(key);
            this.applyPublicAddresses();
            this.applySecurityGroups();
            await removeMachine(lab, event.name);
            say(`lab cloud: instance ${event.name} deleted, its machine removed`);
            return;
        }
        if (event.op === "update") return; // user-data and image changes are ignored after creation, as on the clouds
        const state = event.state;
        const userData = decodeUserData(String(state.userData ?? state.userDataBase64 ?? ""));
        const inline = ((state.dataDisks as { size: number; name?: string }[] | undefined) ?? []).map((d) => d.size);
        const instance: Instance = {
            id: event.id,
            name: event.name,
            privateIp: String(state.privateIp),
            userData,
            user: defaultUsers[event.type.split(":")[0]],
            keyName: String(state.keyName),
            groups: ((state.securityGroups ?? state.vpcSecurityGroupIds ?? []) as unknown[]).map(String),
            disks: dataDisksOf(userData),
            booted: false,
        };
        // Disks created with the instance (Aliyun's dataDisks) live and die with its machine.
        for (const size of inline) {
            const disk = instance.disks.find((d) => d.sizeGb === size && !d.attached);
            if (disk) disk.attached = "inline";
        }
        this.instances.set(event.id, instance);
        this.applySecurityGroups();
        const publicIp = String(state.publicIp ?? "");
        if (publicIp) this.associate(event, event.id, publicIp);
        instance.bootTimer = setTimeout(() => this.boot(instance, "its disks did not all arrive"), this.diskWait());
        instance.bootTimer.unref();
        this.bootWhenReady(instance);
    }

    private diskWait(): number {
        return this.options.diskWaitMs ?? 60_000;
    }

    private bootWhenReady(instance: Instance): void {
        if (instance.disks.every((disk) => disk.attached)) this.boot(instance);
    }

    /** Boots the machine; a failure is the instance's (its console would show it), reported, never thrown. */
    private boot(instance: Instance, why?: string): void {
        if (instance.booted || !this.instances.has(instance.id)) return;
        instance.booted = true;
        clearTimeout(instance.bootTimer);
        try {
            this.startInstanceMachine(instance, why);
        } catch (error) {
            this.options.say(`lab cloud: instance ${instance.name} failed to boot: ${(error as Error).message}`);
        }
    }

    private startInstanceMachine(instance: Instance, why?: string): void {
        const { lab, mirrors, say } = this.options;
        if (this.gateway === undefined || this.vpcPrefix === undefined)
            throw new Error("lab cloud: an instance before its VPC");
        const authorizedKey = this.keyPairs.get(instance.keyName);
        if (!authorizedKey) throw new Error(`lab cloud: instance ${instance.name} names no known key pair`);
        startMachine({
            lab,
            host: instance.name,
            address: instance.privateIp,
            prefix: this.vpcPrefix,
            gateway: this.gateway,
            dnsServer: labServices.dns,
            user: instance.user,
            authorizedKey,
            userData: instance.userData,
            caCertificate: fs.readFileSync(mirrors.caCertificate, "utf8"),
            dataDisks: instance.disks
                .filter((disk) => disk.attached)
                .map((disk) => (disk.attached === "inline" ? disk : { ...disk, image: disk.attached })),
            files: labMachineFiles({ aptKey: fs.readFileSync(mirrors.aptKeyFile, "utf8") }),
        });
        say(`lab cloud: instance ${instance.name} booting at ${instance.privateIp}${why ? ` (${why})` : ""}`);
    }

    private disk(event: CloudEvent): void {
        const image = path.join(this.dir, "disks", `${event.name}.img`);
        if (event.op === "delete") {
            fs.rmSync(image, { force: true });
            this.disks.delete(event.id);
        } else this.disks.set(event.id, { sizeGb: Number(event.state.size), image });
    }

    private attachment(event: CloudEvent, diskKey: string, instanceKey: string): void {
        if (event.op !== "create") return; // no hot-unplug: the machine keeps the disk until it stops
        const disk = this.disks.get(String(event.state[diskKey]));
        const instance = this.instances.get(String(event.state[instanceKey]));
        if (!disk || !instance) throw new Error(`lab cloud: ${event.name} attaches an unknown disk or instance`);
        const slot = instance.disks.find((d) => d.sizeGb === disk.sizeGb && !d.attached);
        if (!slot) {
            this.options.say(
                `lab cloud: ${event.name}: ${instance.name}'s user-data expects no ${disk.sizeGb} GiB disk`,
            );
            return;
        }
        slot.attached = disk.image;
        if (instance.booted || machineRunning(this.options.lab, instance.name)) {
            this.options.say(`lab cloud: ${event.name}: attached after boot; the machine gets it when it boots again`);
        } else this.bootWhenReady(instance);
    }

    private elasticAddress(event: CloudEvent, addressKey: string): void {
        if (event.op === "delete") this.elasticAddresses.delete(event.id);
        else this.elasticAddresses.set(event.id, String(event.state[addressKey]));
    }

    /** A public address mapped 1:1 onto an instance's private address. */
    private associate(event: CloudEvent, instanceId: string, address: string): void {
        if (event.op === "delete") this.publicAddresses.delete(event.name);
        else this.publicAddresses.set(event.name, { address, instance: instanceId });
        this.applyPublicAddresses();
    }

    /**
     * The router's 1:1 NAT, rewritten whole: packets to a public address go to its instance's private address (a
     * route to the address first: the router looks one up before its NAT rewrites the destination).
     */
    private applyPublicAddresses(): void {
        const rules: string[] = [];
        const routed = new Set<string>();
        for (const { address, instance } of this.publicAddresses.values()) {
            const target = this.instances.get(instance)?.privateIp;
            if (!target) continue;
            routeInLabNetwork(this.options.lab, `${address}/32`, target);
            routed.add(address);
            for (const chain of ["prerouting", "output"])
                rules.push(`add rule ip kubeha-lab-nat ${chain} ip daddr ${address} dnat to ${target}`);
        }
        for (const address of this.routedPublicAddresses)
            if (!routed.has(address))
                mustRun(["ip", "-n", labNetns(this.options.lab), "route", "del", `${address}/32`]);
        this.routedPublicAddresses = routed;
        const script = [
            "table ip kubeha-lab-nat {}",
            "delete table ip kubeha-lab-nat",
            "table ip kubeha-lab-nat {",
            "    chain prerouting { type nat hook prerouting priority dstnat; }",
            "    chain output { type nat hook output priority -100; }",
            "}",
            ...rules,
            "",
        ].join("\n");
        mustRun(inRouter(this.options.lab, ["nft", "-f", "-"]), { input: script });
    }

    /** Records name their zone by its id (Aliyun) or its zone id (Route 53's Z..., an output): both are kept. */
    private zone(event: CloudEvent, nameKey: string): void {
        const keys = [event.id, ...(event.state.zoneId ? [String(event.state.zoneId)] : [])];
        for (const key of keys) {
            if (event.op === "delete") this.zones.delete(key);
            else this.zones.set(key, String(event.state[nameKey]).replace(/\.$/, ""));
        }
    }

    private record(event: CloudEvent, name: string, values: string[]): void {
        const fqdn = name.replace(/\.$/, "");
        if (event.op === "delete") {
            this.records.delete(fqdn);
            setDnsRecords(this.options.mirrors.state, {}, [fqdn]);
        } else {
            this.records.set(fqdn, values);
            setDnsRecords(this.options.mirrors.state, { [fqdn]: values[0] });
        }
    }

    private loadBalancer(event: CloudEvent, addresses: string[]): void {
        if (event.op === "delete") this.loadBalancers.delete(event.id);
        else {
            this.loadBalancers.set(event.id, addresses);
            createLabNetwork({ lab: this.options.lab, addresses: addresses.map((address) => `${address}/32`) });
        }
        this.applyLoadBalancers();
    }

    private listener(event: CloudEvent, listener: Listener): void {
        if (event.op === "delete") this.listeners.delete(event.id);
        else this.listeners.set(event.id, listener);
        this.applyLoadBalancers();
    }

    private target(event: CloudEvent, target: { group: string; instance: string; port: number }): void {
        if (event.op === "delete") this.targets.delete(event.id);
        else this.targets.set(event.id, target);
        this.applyLoadBalancers();
    }

    private runDir(): string {
        const dir = path.join(this.dir, "run");
        fs.mkdirSync(dir, { recursive: true });
        return dir;
    }

    /**
     * nginx `stream` for every listener of every load balancer, and the metadata stand-in once the VPC exists: started,
     * reloaded or stopped as they change.
     */
    private applyLoadBalancers(): void {
        const runDir = this.runDir();
        const servers: string[] = [];
        const upstreams = new Map<string, string[]>();
        for (const [id, listener] of this.listeners) {
            const addresses = this.loadBalancers.get(listener.loadBalancer) ?? [];
            const backends = [...this.targets.values()]
                .filter((target) => target.group === listener.group)
                .map((target) => `${this.instances.get(target.instance)?.privateIp}:${target.port}`)
                .filter((backend) => !backend.startsWith("undefined"));
            const upstream = `listener_${id.replace(/\W/g, "_")}`;
            // nginx needs a server in every upstream: an empty group refuses connections, as the cloud's would.
            upstreams.set(upstream, backends.length > 0 ? backends : ["127.0.0.1:9 down"]);
            for (const address of addresses) {
                servers.push(
                    `    server {\n        listen ${address}:${listener.port};\n        proxy_pass ${upstream};\n` +
                        "        proxy_connect_timeout 1s;\n        proxy_timeout 3000s;\n    }",
                );
            }
        }
        const config = path.join(runDir, "load-balancers.conf");
        const pidFile = path.join(runDir, "load-balancers.pid");
        if (servers.length === 0 && !this.metadataAddress) {
            this.stopLoadBalancer();
            return;
        }
        const metadata = this.metadataAddress
            ? [
                  "http {",
                  "    access_log off;",
                  `    server { listen ${this.metadataAddress}:80; default_type text/plain; return 200 "kubeha lab metadata stand-in\\n"; }`,
                  "}",
              ]
            : [];
        const upstreamBlocks = [...upstreams].map(
            ([name, backends]) =>
                `    upstream ${name} {\n${backends.map((b) => `        server ${b}${b.endsWith("down") ? "" : " max_fails=1 fail_timeout=3s"};`).join("\n")}\n    }`,
        );
        fs.writeFileSync(
            config,
            [
                "# The lab cloud's load balancers (layer 4), one server per listener and address.",
                "load_module /usr/lib/nginx/modules/ngx_stream_module.so;",
                `pid ${pidFile};`,
                `error_log ${path.join(runDir, "load-balancers.log")} warn;`,
                "worker_processes 1;",
                "events { worker_connections 1024; }",
                ...(servers.length > 0 ? ["stream {", ...upstreamBlocks, ...servers, "}"] : []),
                ...metadata,
                "",
            ].join("\n"),
        );
        const running = fs.existsSync(pidFile);
        const argv = ["nginx", "-c", config, "-e", path.join(runDir, "load-balancers.log")];
        mustRun(inRouter(this.options.lab, running ? [...argv, "-s", "reload"] : argv));
    }

    private stopLoadBalancer(): void {
        const pidFile = path.join(this.runDir(), "load-balancers.pid");
        if (!fs.existsSync(pidFile)) return;
        try {
            process.kill(Number(fs.readFileSync(pidFile, "utf8").trim()), "SIGTERM");
        } catch {
            // Gone already.
        }
        fs.rmSync(pidFile, { force: true });
    }
}

/** User-data as the instance gets it: the clouds take it as text or base64, and cloud-init reads gzip too. */
export function decodeUserData(sent: string): string {
    let bytes = Buffer.from(sent, "utf8");
    if (!/^(#|Content-Type:)/.test(sent) && /^[A-Za-z0-9+/=\s]+$/.test(sent)) bytes = Buffer.from(sent, "base64");
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    return bytes.toString("utf8");
}

/** Serves the cloud's API on a unix socket: POST / with one CloudEvent; 200, or 500 with the error's message. */
export function serveLabCloud(cloud: LabCloud, socket: string): Promise<http.Server> {
    fs.rmSync(socket, { force: true });
    const server = http.createServer((request, response) => {
        let body = "";
        request.on("data", (chunk: Buffer) => (body += chunk));
        request.on("end", () => {
            cloud
                .handle(JSON.parse(body) as CloudEvent)
                .then(() => response.writeHead(200).end())
                .catch((error: Error) => response.writeHead(500).end(error.message));
        });
    });
    return new Promise((resolve) => server.listen(socket, () => resolve(server)));
}

/** The stand-in provider's side: tells the lab cloud at `socket` about one event; throws the cloud's error. */
export function tellLabCloud(socket: string, event: CloudEvent): Promise<void> {
    return new Promise((resolve, reject) => {
        const request = http.request({ socketPath: socket, method: "POST", path: "/" }, (response) => {
            let body = "";
            response.on("data", (chunk: Buffer) => (body += chunk));
            response.on("end", () =>
                response.statusCode === 200 ? resolve() : reject(new Error(`lab cloud: ${body}`)),
            );
        });
        request.on("error", reject);
        request.end(JSON.stringify(event));
    });
}
