import { expect, it } from "vitest";
import { loadPriceMoves } from "../../src/services/price-moves.ts";
import { compareRuns } from "../../src/services/run-comparison.ts";
import { createTestRunner } from "../support/pipeline.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

type Item = Record<string, unknown>;

describeOnEachDatabase(
  (kind) => `compareRuns' price moves from run aggregates on ${kind}`,
  (scenario) => {
    it("equal what the old scan of market_observation computed, and survive the observations' deletion", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      const base = (await runner.run({ trigger: "CLI", sources: ["COINGECKO"] })).runId;
      const items = loadFixture<Item[]>(COINGECKO_TOP250);
      // Newer than every stored observation, so the watermark lets them through: several moves.
      for (const [i, price] of [30000, 5000, 2].entries()) {
        items[i] = { ...items[i], current_price: price, last_updated: "2026-01-01T00:00:00.000Z" };
      }
      scenario.replay.setCoinGeckoPages([items]);
      const head = (await runner.run({ trigger: "CLI", sources: ["COINGECKO"] })).runId;
      const prisma = scenario.db.prisma;

      // The computation compareRuns ran before #19, per request: two scans of market_observation.
      const old = await prisma.$queryRaw<{ asset_id: number; from_price: number; to_price: number }[]>`
        WITH ends AS (SELECT (SELECT finished_at FROM etl_run WHERE id = ${base}::int) AS b,
                             (SELECT finished_at FROM etl_run WHERE id = ${head}::int) AS h),
        b AS (
          SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
          WHERE committed_at <= (SELECT b FROM ends) ORDER BY asset_id, source, observed_at DESC
        ), h AS (
          SELECT DISTINCT ON (asset_id, source) asset_id, source, price_usd FROM market_observation
          WHERE committed_at <= (SELECT h FROM ends) ORDER BY asset_id, source, observed_at DESC
        )
        SELECT h.asset_id, b.price_usd AS from_price, h.price_usd AS to_price
        FROM h JOIN b ON b.asset_id = h.asset_id AND b.source = h.source
        WHERE b.price_usd > 0 AND h.price_usd <> b.price_usd
        ORDER BY abs((h.price_usd - b.price_usd) / b.price_usd) DESC, h.asset_id
        LIMIT 10`;
      expect(old.length).toBeGreaterThanOrEqual(3);

      const moves = async () => {
        const c = await compareRuns(prisma, { base, head });
        expect(c.running).toEqual([]);
        return (await loadPriceMoves(prisma, c.baseId, c.headId)).map((m) => ({
          asset_id: m.assetId,
          from_price: m.fromPriceUsd,
          to_price: m.toPriceUsd,
        }));
      };
      const expected = old.map((r) => ({
        asset_id: Number(r.asset_id),
        from_price: Number(r.from_price),
        to_price: Number(r.to_price),
      }));
      expect(await moves()).toEqual(expected);

      // No read of market_observation: with the table emptied the answer is the same.
      await prisma.$executeRaw`TRUNCATE market_observation CASCADE`;
      expect(await moves()).toEqual(expected);
    });

    it("a FAILED run holds the prices committed up to its end", async () => {
      await createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" }).runner.run({
        trigger: "CLI",
        sources: ["COINGECKO"],
      });
      const { runner } = createTestRunner(
        scenario.db,
        scenario.replay,
        { ETL_SOURCES: "coingecko" },
        { failAfterRecords: 1 },
      );
      const summary = await runner.run({ trigger: "CLI", sources: ["COINGECKO"] });
      expect(summary.status).toBe("FAILED");
      const prisma = scenario.db.prisma;
      const [agg, observed] = await Promise.all([
        prisma.runPrice.count({ where: { runId: summary.runId } }),
        prisma.$queryRaw<{ n: number }[]>`
          SELECT count(DISTINCT (asset_id, source))::int AS n FROM market_observation`,
      ]);
      expect(observed[0]!.n).toBeGreaterThan(0);
      expect(agg).toBe(observed[0]!.n);
    });

    it("a run marked abandoned gets the prices committed before it was marked", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      await runner.run({ trigger: "CLI", sources: ["COINGECKO"] });
      const prisma = scenario.db.prisma;
      // A run whose process died: still RUNNING, no aggregate; the next run's admission ends it.
      const dead = await prisma.etlRun.create({ data: { trigger: "CLI", requested: ["COINGECKO"] } });
      await runner.run({ trigger: "CLI", sources: ["COINGECKO"] });
      expect((await prisma.etlRun.findUniqueOrThrow({ where: { id: dead.id } })).status).toBe("FAILED");
      expect(await prisma.runPrice.count({ where: { runId: dead.id } })).toBeGreaterThan(0);
    });
  },
);
