// The capacity scenario's subscribers, in a process of their own so that the server's event loop
// is measured alone. Controlled over HTTP on 127.0.0.1 (the port is the first stdout line):
//   POST /connect {url, graphql, n, query?, assets, sample}  opens n sockets, 50 at a time
//   GET  /status                                             lowest and highest seq the sockets hold
//   POST /stale {assets: [id, price][]}                      (socket, asset) pairs whose last value differs
//   GET  /samples                                            {tops, samples: [socket, seq, epoch ms][]} of the
//                                                            sampled sockets (their seq now, what came since the last call)
//   POST /close                                              closes every socket
// The same code reads both sides' frames (graphql-transport-ws `next` messages: ours, and the raw
// broadcast's copies of them), so a client costs the same per frame whichever server it reads.
import { createServer, type IncomingMessage } from "node:http";
import WebSocket from "ws";

interface Frame {
  type: string;
  payload?: {
    data?: {
      marketUpdates?: { seq: number; observation?: { priceUsd: number; asset: { id: string } } | null };
    };
    errors?: unknown;
  };
}

interface Client {
  socket: WebSocket;
  /** Its index among the sampled sockets (whose every frame is timed), or -1. */
  sample: number;
  /** The highest seq this socket received. */
  top: number;
  /** The last price per asset (by index in `assets`), NaN until one arrives. */
  last: Float64Array;
}

let clients: Client[] = [];
let assetIndex = new Map<string, number>();
let samples: [number, number, number][] = [];
let errors = 0;
let closed = 0;
let frames = 0;
const now = () => performance.timeOrigin + performance.now();

function onFrame(client: Client, data: WebSocket.RawData) {
  const frame = JSON.parse(String(data)) as Frame;
  if (frame.type === "ping") {
    client.socket.send(JSON.stringify({ type: "pong" }));
    return;
  }
  if (frame.type !== "next") {
    if (frame.type === "error") errors++;
    return;
  }
  if (frame.payload?.errors) errors++;
  const update = frame.payload?.data?.marketUpdates;
  if (!update) return;
  frames++;
  const seq = Number(update.seq);
  if (seq > client.top) client.top = seq;
  const o = update.observation;
  if (o) {
    const i = assetIndex.get(o.asset.id);
    if (i !== undefined) client.last[i] = o.priceUsd;
  }
  if (client.sample >= 0) samples.push([client.sample, seq, now()]);
}

function open(url: string, graphql: boolean, query: string | undefined, sample: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = graphql ? new WebSocket(url, "graphql-transport-ws") : new WebSocket(url);
    const client: Client = {
      socket,
      sample,
      top: 0,
      last: new Float64Array(assetIndex.size).fill(Number.NaN),
    };
    socket.once("error", reject);
    socket.once("close", () => closed++);
    socket.once("open", () => {
      if (!graphql) {
        socket.on("message", (d) => onFrame(client, d));
        resolve(client);
        return;
      }
      socket.send(JSON.stringify({ type: "connection_init" }));
      socket.once("message", (d) => {
        if (JSON.parse(String(d)).type !== "connection_ack") return reject(new Error(`no ack: ${String(d)}`));
        socket.on("message", (m) => onFrame(client, m));
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
        resolve(client);
      });
    });
  });
}

async function body<T>(req: IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "null") as T;
}

const http = createServer(async (req, res) => {
  const reply = (value: unknown) =>
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
  try {
    if (req.method === "POST" && req.url === "/connect") {
      const o = await body<{
        url: string;
        graphql: boolean;
        n: number;
        query?: string;
        assets: string[];
        sample: number;
      }>(req);
      assetIndex = new Map(o.assets.map((id, i) => [id, i]));
      for (let i = 0; i < o.n; i += 50) {
        const group = Array.from({ length: Math.min(50, o.n - i) }, (_, k) =>
          open(o.url, o.graphql, o.query, i + k < o.sample ? i + k : -1),
        );
        clients.push(...(await Promise.all(group)));
      }
      return reply({ connected: clients.length });
    }
    if (req.method === "GET" && req.url === "/status") {
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      for (const c of clients) {
        if (c.top < min) min = c.top;
        if (c.top > max) max = c.top;
      }
      return reply({ min: clients.length ? min : 0, max, frames, errors, closed });
    }
    if (req.method === "POST" && req.url === "/stale") {
      const { assets } = await body<{ assets: [string, number][] }>(req);
      let pairs = 0;
      let stale = 0;
      for (const c of clients) {
        let any = false;
        for (const [id, price] of assets) {
          if (c.last[assetIndex.get(id) ?? -1] !== price) {
            pairs++;
            any = true;
          }
        }
        if (any) stale++;
      }
      return reply({ pairs, clients: stale });
    }
    if (req.method === "GET" && req.url === "/samples") {
      const out = samples;
      samples = [];
      const tops = clients.filter((c) => c.sample >= 0).map((c) => c.top);
      return reply({ tops, samples: out });
    }
    if (req.method === "POST" && req.url === "/close") {
      for (const c of clients) c.socket.terminate();
      clients = [];
      return reply({ closed: true });
    }
    res.writeHead(404).end();
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});

http.listen(0, "127.0.0.1", () => {
  const address = http.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => {
  for (const c of clients) c.socket.terminate();
  http.close(() => process.exit(0));
});
