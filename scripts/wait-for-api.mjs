// Step api-ready (on the machine that runs `pulumi up`, after kubeadm init): waits until the API answers
// /readyz through the external load balancer, as the addons' Kubernetes provider will reach it. A new
// load balancer routes to a master only after its health checks pass (tens of seconds after the
// apiserver is up), and its DNS name can take a while to resolve. Node, not bash: `pulumi up` needs Node
// anyway, on any operating system.
// KUBEHA_API_URL: https://<load balancer>:6443; KUBEHA_CA_CERT: the cluster CA (PEM);
// KUBEHA_TIMEOUT: seconds in all (default 600).
import console from "node:console";
import https from "node:https";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { URL } from "node:url";

const url = process.env.KUBEHA_API_URL;
const ca = process.env.KUBEHA_CA_CERT;
const timeoutSeconds = Number(process.env.KUBEHA_TIMEOUT ?? "600");
if (!url || !ca || !(timeoutSeconds > 0)) {
    console.error("kubeha wait-for-api: KUBEHA_API_URL and KUBEHA_CA_CERT are required, KUBEHA_TIMEOUT > 0");
    process.exit(1);
}

const deadline = Date.now() + timeoutSeconds * 1000;

/** One GET /readyz, bounded to 10 s: the status code, or the error's message. */
function probe() {
    return new Promise((resolve) => {
        const request = https.get(new URL("/readyz", url), { ca, timeout: 10_000 }, (response) => {
            response.resume();
            resolve(response.statusCode === 200 ? "ready" : `HTTP ${response.statusCode}`);
        });
        request.on("timeout", () => request.destroy(new Error("no answer within 10s")));
        request.on("error", (error) => resolve(error.message));
    });
}

let delay = 1;
for (let attempt = 1; ; attempt++) {
    const result = await probe();
    if (result === "ready") {
        console.log(`kubeha wait-for-api: ${url} is ready (attempt ${attempt})`);
        process.exit(0);
    }
    if (Date.now() + delay * 1000 > deadline) {
        console.error(
            `kubeha wait-for-api: FAILED: ${url}/readyz did not answer 200 within ${timeoutSeconds}s: ${result}`,
        );
        console.error(
            "  look at: this machine's address in kubeha:allowedCidrs.api; the load balancer's target health",
        );
        console.error("  look at: on master-1, crictl ps --name kube-apiserver; journalctl -u kubelet");
        process.exit(1);
    }
    console.error(`kubeha wait-for-api: ${result}; next attempt in ${delay}s`);
    await sleep(delay * 1000);
    delay = Math.min(delay * 2, 15);
}
