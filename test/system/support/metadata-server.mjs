// Stand-in for the cloud's instance metadata service in system tests, serving an instance role's temporary
// credentials the way AWS IMDSv2 and Aliyun's hardened mode do: a PUT to /latest/api/token with a TTL
// header returns a session token, and the credentials are served only to requests that present it.
// Usage: node metadata-server.mjs <address> <port> <roles, comma-separated> <credentials file> (JSON:
// {AccessKeyId, SecretAccessKey, SessionToken, Expiration}). Prints "listening" once it listens.
import console from "node:console";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import process from "node:process";

const [address, port, roles, credentialsFile] = process.argv.slice(2);
const input = JSON.parse(readFileSync(credentialsFile, "utf8"));
const clouds = {
    aws: {
        ttlHeader: "x-aws-ec2-metadata-token-ttl-seconds",
        tokenHeader: "x-aws-ec2-metadata-token",
        paths: roles.split(",").map((role) => `/latest/meta-data/iam/security-credentials/${role}`),
        body: {
            Code: "Success",
            Type: "AWS-HMAC",
            AccessKeyId: input.AccessKeyId,
            SecretAccessKey: input.SecretAccessKey,
            Token: input.SessionToken,
            Expiration: input.Expiration,
        },
    },
    aliyun: {
        ttlHeader: "x-aliyun-ecs-metadata-token-ttl-seconds",
        tokenHeader: "x-aliyun-ecs-metadata-token",
        paths: roles.split(",").map((role) => `/latest/meta-data/ram/security-credentials/${role}`),
        body: {
            Code: "Success",
            AccessKeyId: input.AccessKeyId,
            AccessKeySecret: input.SecretAccessKey,
            SecurityToken: input.SessionToken,
            Expiration: input.Expiration,
        },
    },
};
const tokens = new Map();

createServer((request, response) => {
    const reply = (status, body) => {
        response.writeHead(status, { "content-type": "text/plain" });
        response.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    if (request.url === "/latest/api/token") {
        const cloud = Object.entries(clouds).find(([, c]) => request.headers[c.ttlHeader])?.[0];
        if (request.method !== "PUT" || !cloud) return reply(400, "a PUT with a TTL header is required");
        const token = randomBytes(16).toString("hex");
        tokens.set(token, cloud);
        return reply(200, token);
    }
    const cloud = Object.entries(clouds).find(([, c]) => c.paths.includes(request.url));
    if (!cloud) return reply(404, "not found");
    const [name, settings] = cloud;
    if (tokens.get(request.headers[settings.tokenHeader]) !== name) return reply(401, "a session token is required");
    return reply(200, settings.body);
}).listen(Number(port), address, () => console.log("listening"));
