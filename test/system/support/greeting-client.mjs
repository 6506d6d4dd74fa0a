// Opens COUNT connections to ADDRESS:PORT one after another, keeping every one open until all are
// done, and prints one JSON line: for each connection, the first line it was greeted with or the error.
// Usage: node greeting-client.mjs ADDRESS PORT COUNT TIMEOUT_MS
import console from "node:console";
import net from "node:net";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";

const [address, port, count, timeoutMs] = process.argv.slice(2);
const sockets = [];

function greeting() {
    return new Promise((resolve) => {
        const started = Date.now();
        const socket = net.connect({ host: address, port: Number(port) });
        sockets.push(socket);
        let received = "";
        const done = (result) => {
            clearTimeout(timer);
            resolve({ ...result, ms: Date.now() - started });
        };
        const timer = setTimeout(() => done({ error: `no greeting within ${timeoutMs} ms` }), Number(timeoutMs));
        socket.on("data", (data) => {
            received += data.toString();
            if (received.includes("\n")) done({ greeting: received.split("\n")[0] });
        });
        socket.on("error", (error) => done({ error: error.message }));
        socket.on("end", () => done({ error: "closed without a greeting" }));
    });
}

const results = [];
for (let i = 0; i < Number(count); i++) results.push(await greeting());
console.log(JSON.stringify(results));
for (const socket of sockets) socket.destroy();
