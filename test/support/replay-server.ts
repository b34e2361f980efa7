import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A real HTTP server on 127.0.0.1 (port 0) that replays recorded CoinGecko and CoinPaprika
 * payloads by path and query, and on request misbehaves like the real APIs do.
 */
export type Fault =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "hang"; ms?: number }
  | { kind: "reset" }
  | { kind: "truncated" }
  | { kind: "html"; status?: number }
  | { kind: "slow"; ms: number }
  /** Headers and half the body, then silence (the connection stays open). */
  | { kind: "stall" }
  /** A body of `bytes` bytes, streamed in 64 KB writes; `declared` sends its content-length too. */
  | { kind: "huge"; bytes: number; declared?: boolean }
  /** An error page that quotes what it was sent: `status` with the value of request header `header`. */
  /**
   * The key sent in `header`, quoted back: in a JSON error by default; with `padding`, after that
   * many filler characters, as plain text, as a JSON message with every key character
   * \u-escaped (`json-escaped`), or as plain text sent in 1,000-byte chunks 1 ms apart (`chunked`).
   */
  | {
      kind: "echo";
      status: number;
      header: string;
      padding?: number;
      shape?: "plain" | "json-escaped" | "chunked";
    };

export interface RecordedRequest {
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage["headers"];
  at: number;
}

export type ReplayRoute = "coingecko" | "coinpaprika";

/** Reads a JSON fixture by its path from the repository root. */
export const loadFixture = <T = unknown>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

// The recorded payloads the replay server answers with are the ones the offline demo replays:
// one copy of each, in seeds/demo/ (provenance in test/fixtures/PROVENANCE.md).
export const COINGECKO_TOP250 = "seeds/demo/coingecko-markets.json";
export const COINPAPRIKA_TICKERS = "seeds/demo/coinpaprika-tickers.json";

const CLOUDFLARE_HTML =
  "<!DOCTYPE html><html><head><title>api.coingecko.com | 502: Bad gateway</title></head><body>Bad gateway</body></html>";

export interface ReplayServer {
  url: string;
  coingeckoBase: string;
  coinpaprikaBase: string;
  requests: RecordedRequest[];
  /** Responses to answer before the payload, in order, for one route; `always` repeats forever. */
  fault(route: ReplayRoute, fault: Fault, options?: { times?: number; always?: boolean }): void;
  /** Replaces the route's payload: CoinGecko pages (page 1 first), or the CoinPaprika tickers. */
  setCoinGeckoPages(pages: unknown[][]): void;
  setCoinPaprikaTickers(tickers: unknown[]): void;
  clearFaults(): void;
  close(): Promise<void>;
}

export async function startReplayServer(): Promise<ReplayServer> {
  let coingeckoPages: unknown[][] = [loadFixture<unknown[]>(COINGECKO_TOP250)];
  let paprika: unknown[] = loadFixture<unknown[]>(COINPAPRIKA_TICKERS);
  const queues: Record<ReplayRoute, { fault: Fault; always: boolean }[]> = { coingecko: [], coinpaprika: [] };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();

  const sendJson = (res: ServerResponse, body: string) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push({
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      at: Date.now(),
    });
    const route: ReplayRoute | null = url.pathname.endsWith("/coins/markets")
      ? "coingecko"
      : url.pathname.endsWith("/tickers")
        ? "coinpaprika"
        : null;
    if (!route) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":"id not found"}');
      return;
    }
    const body =
      route === "coingecko"
        ? JSON.stringify(coingeckoPages[Number(url.searchParams.get("page") ?? "1") - 1] ?? [])
        : JSON.stringify(paprika);
    const queue = queues[route];
    const next = queue[0];
    if (next && !next.always) queue.shift();
    const fault = next?.fault;
    if (!fault) return sendJson(res, body);
    switch (fault.kind) {
      case "status":
        res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
        res.end(
          fault.body ?? '{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}',
        );
        return;
      case "hang":
        hanging.add(res);
        if (fault.ms !== undefined) setTimeout(() => sendJson(res, body), fault.ms);
        return;
      case "slow":
        setTimeout(() => sendJson(res, body), fault.ms);
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "truncated":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(body.slice(0, Math.floor(body.length / 2)));
        return;
      case "echo": {
        const key = String(req.headers[fault.header] ?? "");
        if (fault.padding !== undefined) {
          // Chunked filler is blank: the summary collapses it, so what follows is what shows.
          const filler = (fault.shape === "chunked" ? " " : "x").repeat(fault.padding);
          if (fault.shape === "json-escaped") {
            const escaped = [...key]
              .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
              .join("");
            res.writeHead(fault.status, { "content-type": "application/json" });
            res.end(`{"error":"${filler}${escaped} is not a valid key"}`);
            return;
          }
          res.writeHead(fault.status, { "content-type": "text/plain" });
          // Chunked: blanks after too, so the body runs past the client's 64 KB error-body read.
          const text = `${filler}${key} is not a valid key${fault.shape === "chunked" ? " ".repeat(2000) : ""}`;
          if (fault.shape !== "chunked") {
            res.end(text);
            return;
          }
          void (async () => {
            for (let at = 0; at < text.length && !res.destroyed; at += 1000) {
              res.write(text.slice(at, at + 1000));
              await new Promise((r) => setTimeout(r, 1));
            }
            res.end();
          })();
          return;
        }
        res.writeHead(fault.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `invalid API key: ${key}` }));
        return;
      }
      case "stall":
        hanging.add(res);
        res.writeHead(200, { "content-type": "application/json" });
        res.write(body.slice(0, Math.floor(body.length / 2)));
        return;
      case "huge": {
        res.writeHead(200, {
          "content-type": "application/json",
          ...(fault.declared ? { "content-length": String(fault.bytes) } : {}),
        });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let left = fault.bytes;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(chunk.subarray(0, n))) return void res.once("drain", pump);
          }
          res.end();
        };
        res.on("error", () => undefined);
        pump();
        return;
      }
      case "html":
        res.writeHead(fault.status ?? 502, { "content-type": "text/html" });
        res.end(CLOUDFLARE_HTML);
        return;
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    coingeckoBase: `${url}/api/v3`,
    coinpaprikaBase: `${url}/v1`,
    requests,
    fault(route, fault, options) {
      const times = options?.always ? 1 : (options?.times ?? 1);
      for (let i = 0; i < times; i++) queues[route].push({ fault, always: options?.always ?? false });
    },
    setCoinGeckoPages(pages) {
      coingeckoPages = pages;
    },
    setCoinPaprikaTickers(tickers) {
      paprika = tickers;
    },
    clearFaults() {
      queues.coingecko = [];
      queues.coinpaprika = [];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
