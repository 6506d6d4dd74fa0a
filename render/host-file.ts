// A file that lands on a host. Render functions produce HostFile<string>; components may hold
// secret content as HostFile<pulumi.Input<string>>.

/** Octal permission bits: keys 0600, everything else readable. */
export type FileMode = "0600" | "0640" | "0644" | "0755";

export interface HostFile<Content = string> {
    /** Absolute path on the host. */
    readonly path: string;
    readonly mode: FileMode;
    readonly content: Content;
}
