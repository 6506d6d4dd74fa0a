// The local API proxy's systemd unit as the plan delivers it to a host: what a test runs in its place.
import assert from "node:assert/strict";
import * as path from "node:path";
import { apiProxyUnitPath } from "../../../render/api-proxy";
import { hostFile, PlannedCluster } from "./cluster";

export interface ApiProxyService {
    /** The unit's ExecStartPre and ExecStart, verbatim. */
    readonly execStartPre: string[];
    readonly execStart: string[];
    /** What systemd's RuntimeDirectory= creates for it (the pid file lives there). */
    readonly runtimeDirectory: string;
}

export function apiProxyService(cluster: PlannedCluster, host: string): ApiProxyService {
    const unit = hostFile(cluster, host, apiProxyUnitPath);
    const directive = (key: string) => {
        const value = new RegExp(`^${key}=(.+)$`, "m").exec(unit)?.[1];
        assert.ok(value, `${apiProxyUnitPath} has no ${key}=`);
        return value;
    };
    return {
        execStartPre: directive("ExecStartPre").split(/\s+/),
        execStart: directive("ExecStart").split(/\s+/),
        runtimeDirectory: path.join("/run", directive("RuntimeDirectory")),
    };
}
