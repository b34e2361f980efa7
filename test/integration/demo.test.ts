import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { spawnService } from "../support/spawn-service.ts";
import { collect, wsClient } from "../support/ws-client.ts";

describe("npm run demo", () => {
  it("replays the recorded payloads as moving prices on a short schedule, offline", async () => {
    const root = mkdtempSync(join(tmpdir(), "coinflow-demo-"));
    const service = await spawnService(
      { DATA_DIR: join(root, "data"), ETL_INTERVAL_SECONDS: "2", ETL_SOURCES: "coingecko,coinpaprika" },
      60_000,
      "demo",
    );
    try {
      const client = wsClient(`ws://127.0.0.1:${service.port}/graphql`);
      const sub = collect(
        client,
        `subscription { marketUpdates(symbols: ["BTC"], afterSeq: 0) { seq observation { source priceUsd run { id } } } }`,
      );
      const events = await sub.until(
        (es) => new Set(es.map((e) => e.marketUpdates.observation.run.id)).size >= 3,
        45_000,
      );
      sub.stop();
      await client.dispose();
      const prices = new Set(events.map((e) => e.marketUpdates.observation.priceUsd));
      expect(prices.size).toBeGreaterThanOrEqual(3);
      expect(events.every((e) => e.marketUpdates.observation.priceUsd > 10_000)).toBe(true);
    } finally {
      await service.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 150_000); // start (up to 60 s under load) + three runs (up to 45 s) + shutdown
});
