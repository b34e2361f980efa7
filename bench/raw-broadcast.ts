// The fan-out baseline: a bare `ws` server, in its own process, that sends the frames POSTed to
// /publish (a JSON array of strings) to every connected socket. No GraphQL, no database: the
// cheapest way to put the same bytes on the same number of sockets.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const http = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/publish") {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const frames = JSON.parse(Buffer.concat(chunks).toString("utf8")) as string[];
    for (const socket of wss.clients) for (const frame of frames) socket.send(frame);
    res.writeHead(204).end();
  });
});
const wss = new WebSocketServer({ server: http, path: "/raw" });
http.listen(0, "127.0.0.1", () => {
  const address = http.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => {
  for (const socket of wss.clients) socket.terminate();
  http.close(() => process.exit(0));
});
