import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

type Item = Record<string, unknown>;

/**
 * The offline demo's upstream: a local HTTP server that replays the recorded CoinGecko and
 * CoinPaprika payloads in seeds/demo/ as successive snapshots. Each request moves every price by
 * a small random walk and stamps it with the current time, so the live page has something to show
 * without internet or API keys.
 */
export async function startDemoUpstream(options: { dir?: string; volatility?: number } = {}) {
  const dir = options.dir ?? "seeds/demo";
  const volatility = options.volatility ?? 0.004;
  const gecko = JSON.parse(readFileSync(`${dir}/coingecko-markets.json`, "utf8")) as Item[];
  const paprika = JSON.parse(readFileSync(`${dir}/coinpaprika-tickers.json`, "utf8")) as Item[];
  // One random walk per coin symbol, shared by both sources so they move together (and disagree a little).
  const walk = new Map<string, number>();
  const factor = (symbol: unknown) => walk.get(String(symbol).toUpperCase()) ?? 1;
  const step = () => {
    for (const item of gecko) {
      const key = String(item.symbol).toUpperCase();
      const previous = walk.get(key) ?? 1;
      walk.set(key, Math.max(0.5, Math.min(1.5, previous * (1 + (Math.random() - 0.5) * 2 * volatility))));
    }
  };
  const snapshot = (route: "coingecko" | "coinpaprika") => {
    const now = new Date().toISOString();
    if (route === "coingecko") {
      step();
      return gecko.map((i) => ({
        ...i,
        current_price: (i.current_price as number) * factor(i.symbol),
        last_updated: now,
      }));
    }
    return paprika.map((t) => {
      const usd = (t.quotes as { USD?: Item } | undefined)?.USD;
      if (!usd) return t;
      const jitter = 1 + (Math.random() - 0.5) * volatility;
      return {
        ...t,
        last_updated: now,
        quotes: {
          ...(t.quotes as Item),
          USD: { ...usd, price: (usd.price as number) * factor(t.symbol) * jitter },
        },
      };
    });
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const route = path.endsWith("/coins/markets")
      ? "coingecko"
      : path.endsWith("/tickers")
        ? "coinpaprika"
        : null;
    if (!route || (route === "coingecko" && !/[?&]page=1(&|$)/.test(req.url ?? ""))) {
      res.writeHead(route ? 200 : 404, { "content-type": "application/json" });
      res.end(route ? "[]" : '{"error":"not found"}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(snapshot(route)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    coingeckoBase: `${base}/api/v3`,
    coinpaprikaBase: `${base}/v1`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
