// Every way a lab machine differs from a cloud host because of the machine the lab runs on (containers on one
// kernel, no cloud, no internet), with the reason. `lab up` prints them; a difference not listed here is a bug.
export const forcedDifferences: { what: string; why: string }[] = [
    {
        what: "Machines are systemd-nspawn containers booted from a Debian bookworm image, not VMs from the cloud's Ubuntu image",
        why: "The lab host runs no usable VM (a KVM guest hangs after the BIOS, emulation is too slow); Debian's packages are the only OS archive reachable",
    },
    {
        what: "The image already holds curl, gpg, nginx, libnginx-mod-stream, nftables, kmod, e2fsprogs, conntrack, socat, ebtables, ethtool, ipset and ipvsadm (nginx disabled); apt sources are empty",
        why: "The machines reach no OS mirror (the lab mirrors only the Kubernetes and containerd packages and images), so what the host boot installs or calls from the OS archive is preinstalled",
    },
    {
        what: "cloud-init's datasource is NoCloud (a seed written into the machine before boot) instead of the cloud's metadata service",
        why: "There is no cloud; the seed carries the same meta-data (instance id, host name, SSH public key), the plan's user-data unchanged, and the address the VPC would give by DHCP as a static network-config",
    },
    {
        what: "Data disks are ext4 images of the planned size (sparse files), formatted and labelled as the host boot would (kubeha-etcd, kubeha-containerd), loop-mounted at the planned mount points in the machine's own mount namespace before it boots; the boot's disk stage finds them mounted",
        why: "A container has no block devices of its own and the lab host no udev; /var/lib/containerd must not be on the machine's overlay root anyway (containerd's overlay snapshotter cannot put an overlay upper dir on overlayfs)",
    },
    {
        what: "kubeha-lab-setup.service creates /dev/kmsg in each machine and remounts its cgroup v1 controllers writable (its own subtree)",
        why: "nspawn's /dev has no kmsg (the kubelet's OOM watcher reads it) and nspawn mounts the controllers read-only (the kubelet and runc create cgroups)",
    },
    {
        what: "Kernel settings outside net.* written in a machine (the kubelet's vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops, kernel.keys.*, and every non-net key in its sysctl.d files, applied by the host boot's sysctl --system; a plain machine of the machines target is told the host boot's keys before it boots, since its file arrives later over SSH) land in small files bound over /proc/sys, not in the kernel",
        why: "All machines share the lab host's kernel: those keys are machine-wide (kernel.panic_on_oops=1 would let any oops take the whole host down); net.* keys are per network namespace and do apply",
    },
    {
        what: "Each machine sees an empty /proc/swaps (a file bound over it)",
        why: "/proc/swaps lists the shared kernel's swap areas: the host boot's swapoff -a would switch off the lab host's swap, and the kubelet would refuse to start over swap it cannot remove",
    },
    {
        what: "Machines run without CAP_SYS_MODULE: systemd-modules-load skips itself, so the host boot's module list (overlay, br_netfilter, IPVS modules) is not loaded by the machine",
        why: "A machine must not load modules into the shared kernel; the lab host's kernel has overlay, bridge, br_netfilter, vxlan and nf_tables built in",
    },
    {
        what: "cgroup v1 (hybrid) on the lab host: the kubelet reads a lab configuration drop-in (failCgroupV1: false, through --config-dir added to kubeadm's ExecStart line) and the lab's stack skips kubeadm's SystemVerification preflight check (kubeha:ignorePreflightErrors)",
        why: "The lab host's kernel mounts cgroup v1 controllers; Kubernetes >= 1.35 refuses cgroup v1 unless told otherwise, and kubeadm makes it a preflight error",
    },
    {
        what: "containerd runs the host's rendered config with restrict_oom_score_adj added (a copy in /run, made before each start)",
        why: "The lab host gives no CAP_SYS_RESOURCE, so runc could not set a container's oom_score_adj below containerd's own",
    },
    {
        what: "The base image has systemd-resolved, as Ubuntu's cloud image does; /etc/resolv.conf names the lab's DNS",
        why: "Debian's minimal image lacks it, and kubeha's KubeletConfiguration reads systemd-resolved's upstream list (resolvConf)",
    },
    {
        what: "The base image masks console-getty and systemd-logind; CoreDNS's lab image runs as nonroot (65532) as upstream's does",
        why: "Every machine's root is this host's root, and the kernel gives root 128 inotify instances in all (fs.inotify.max_user_instances, which the lab must not raise): a 3+3 cluster needs about 125 of them, so nothing a cluster host can do without may take one. It also bounds a lab's size: lab up warns when the estimate does not fit",
    },
    {
        what: "kube-proxy's ConfigMap gets conntrack.maxPerCore: 0 once the cluster is up (kube-proxy leaves nf_conntrack_max as the kernel has it), as kind does",
        why: "nf_conntrack_max can be written only from this host's own network namespace; kube-proxy in a machine is refused and exits",
    },
];
