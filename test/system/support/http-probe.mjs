// One HTTP(S) GET that trusts only CA and presents a client certificate if CERT and KEY are given.
// Prints one JSON line: {"status": <HTTP status>} or {"error": <message>}.
// Usage: node http-probe.mjs URL CA [CERT KEY]
import console from "node:console";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import process from "node:process";

const [url, ca, cert, key] = process.argv.slice(2);
const report = (result) => console.log(JSON.stringify(result));
const options = { ca: fs.readFileSync(ca), timeout: 5000 };
if (cert && key) Object.assign(options, { cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
const request = (url.startsWith("https:") ? https : http).get(url, options, (response) => {
    response.resume();
    report({ status: response.statusCode });
});
request.on("timeout", () => request.destroy(new Error("timed out")));
request.on("error", (error) => report({ error: `${error.code ?? ""} ${error.message}`.trim() }));
