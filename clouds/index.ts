// The stack's cloud (kubeha:cloud): the one place that tells the clouds apart.
import { ClusterConfig } from "../config/resolve";
import { aliyunCloud } from "./aliyun";
import { awsCloud } from "./aws";
import { Cloud } from "./cloud";
import { machinesCloud } from "./machines";

const clouds: Record<ClusterConfig["cloud"], Cloud> = { aws: awsCloud, aliyun: aliyunCloud, machines: machinesCloud };

export function cloudOf(config: Pick<ClusterConfig, "cloud">): Cloud {
    return clouds[config.cloud];
}
