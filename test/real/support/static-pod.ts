// A static pod manifest kubeadm wrote, turned into the process the kubelet would have started in the pod:
// the container's exact command line, on the host's network (hostNetwork), seeing the host's files at the
// paths the pod would (every hostPath volume is mounted at its own path, which the reader checks).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";

interface HostPathVolume {
    readonly name: string;
    readonly hostPath?: { readonly path: string; readonly type?: string };
}

interface PodManifest {
    readonly kind: string;
    readonly spec: {
        readonly hostNetwork?: boolean;
        readonly containers: {
            readonly name: string;
            readonly command?: string[];
            readonly args?: string[];
            readonly volumeMounts?: { readonly name: string; readonly mountPath: string }[];
        }[];
        readonly volumes?: HostPathVolume[];
    };
}

export interface StaticPod {
    /** The container's command, verbatim: argv[0] is the program's name in the image. */
    readonly command: string[];
    /** hostPath directories the kubelet would create (type DirectoryOrCreate). */
    readonly createdDirectories: string[];
}

export function readStaticPod(file: string): StaticPod {
    const pod = parseYaml(fs.readFileSync(file, "utf8")) as PodManifest;
    assert.equal(pod.kind, "Pod", file);
    assert.equal(pod.spec.hostNetwork, true, `${file}: not on the host's network`);
    assert.equal(pod.spec.containers.length, 1, `${file}: one container expected`);
    const [container] = pod.spec.containers;
    assert.ok(container.command && container.command.length > 0, `${file}: no command`);
    assert.equal(container.args, undefined, `${file}: args beside command`);
    const volumes = new Map((pod.spec.volumes ?? []).map((volume) => [volume.name, volume]));
    for (const mount of container.volumeMounts ?? []) {
        const hostPath = volumes.get(mount.name)?.hostPath?.path;
        // A process sees the host's own paths: faithful only when the pod would see them at the same place.
        assert.equal(hostPath, mount.mountPath, `${file}: volume ${mount.name} is not a hostPath at its own path`);
    }
    return {
        command: container.command,
        createdDirectories: [...volumes.values()]
            .filter((volume) => volume.hostPath?.type === "DirectoryOrCreate")
            .map((volume) => volume.hostPath!.path),
    };
}
