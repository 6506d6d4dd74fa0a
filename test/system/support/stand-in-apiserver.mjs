// Stand-in for a kube-apiserver behind the local API proxy: accepts TCP connections on ADDRESS:PORT,
// greets each with NAME (so a client can tell which master served it) and keeps it open.
// Usage: node stand-in-apiserver.mjs ADDRESS PORT NAME    (prints "listening" once ready)
import console from "node:console";
import net from "node:net";
import process from "node:process";

const [address, port, name] = process.argv.slice(2);
const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.write(`${name}\n`);
});
server.listen(Number(port), address, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
