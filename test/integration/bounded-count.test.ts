import { expect, it } from "vitest";
import { boundedCount, EXACT_COUNT_THRESHOLD } from "../../src/services/bounded-count.ts";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

describeOnEachDatabase(
  (kind) => `totalCount's bounded count on ${kind}`,
  (scenario) => {
    const addAssets = (n: number) =>
      scenario.db.prisma.$executeRaw`
        INSERT INTO asset (symbol, name) SELECT 'S' || g, 'N' || g FROM generate_series(1, ${n}::int) g`;
    const count = (threshold: number, unfiltered = true) =>
      boundedCount(
        scenario.db.prisma,
        "asset",
        unfiltered,
        (take) => scenario.db.prisma.asset.count({ take }),
        threshold,
      );

    it("counts exactly, unflagged, while the rows fit under the threshold", async () => {
      await addAssets(40);
      expect(await count(40)).toEqual({ count: 40, isEstimate: false });
    });

    it("above the threshold, an unfiltered count is the planner's estimate, flagged, within 2x after ANALYZE", async () => {
      await addAssets(3000);
      await scenario.db.prisma.$executeRaw`ANALYZE asset`;
      const result = await count(100);
      expect(result.isEstimate).toBe(true);
      expect(result.count).toBeGreaterThanOrEqual(1500);
      expect(result.count).toBeLessThanOrEqual(6000);
    });

    it("etlRuns and driftEvents count exactly up to the threshold, then estimate, flagged", async () => {
      const app = createTestApp(scenario.db, scenario.replay);
      const q = `{ etlRuns(first: 1) { totalCount totalCountIsEstimate }
        failed: etlRuns(first: 1, status: FAILED) { totalCount totalCountIsEstimate }
        driftEvents(first: 1) { totalCount totalCountIsEstimate } }`;
      const addRuns = (n: number, status: string) =>
        scenario.db.prisma.$executeRawUnsafe(
          `INSERT INTO etl_run (trigger, status) SELECT 'CLI', '${status}'::"RunStatus" FROM generate_series(1, ${n})`,
        );
      await addRuns(3, "FAILED");
      const small = await app.gql(q);
      expect(small.body.errors).toBeUndefined();
      expect(small.body.data).toEqual({
        etlRuns: { totalCount: 3, totalCountIsEstimate: false },
        failed: { totalCount: 3, totalCountIsEstimate: false },
        driftEvents: { totalCount: 0, totalCountIsEstimate: false },
      });
      await addRuns(EXACT_COUNT_THRESHOLD, "SUCCEEDED");
      await scenario.db.prisma.$executeRaw`ANALYZE etl_run`;
      const big = await app.gql<{ etlRuns: { totalCount: number; totalCountIsEstimate: boolean } }>(q);
      expect(big.body.errors).toBeUndefined();
      expect(big.body.data?.etlRuns.totalCountIsEstimate).toBe(true);
      expect(big.body.data?.etlRuns.totalCount).toBeGreaterThan(EXACT_COUNT_THRESHOLD);
      expect(big.body.data?.etlRuns.totalCount).toBeLessThan(2 * (EXACT_COUNT_THRESHOLD + 3));
      // A filter that matches few rows stays exact however big the table.
      expect(big.body.data).toMatchObject({ failed: { totalCount: 3, totalCountIsEstimate: false } });
      await app.app.stop("test over");
    });

    it("counts marketData as Prisma counts the same filter, symbols and per-asset pages included", async () => {
      const app = createTestApp(scenario.db, scenario.replay);
      await app.runner.run({ trigger: "CLI" });
      const prisma = scenario.db.prisma;
      const eth = await prisma.asset.findFirstOrThrow({ where: { symbol: "ETH" }, orderBy: { rank: "asc" } });
      const since = new Date(Date.now() - 365 * 86_400_000 * 20);
      const cases: [string, object][] = [
        ["", {}],
        [`(filter: { symbols: ["eth", "BTC"] })`, { asset: { symbol: { in: ["ETH", "BTC"] } } }],
        [
          `(filter: { symbols: ["ETH"], sources: [COINGECKO, CSV] })`,
          { asset: { symbol: "ETH" }, source: { in: ["COINGECKO", "CSV"] } },
        ],
        [`(filter: { symbols: ["NO-SUCH-COIN"] })`, { asset: { symbol: "NO-SUCH-COIN" } }],
        [
          `(filter: { sources: [COINPAPRIKA], from: "${since.toISOString()}" })`,
          { source: "COINPAPRIKA", observedAt: { gte: since } },
        ],
        [`(filter: { assetIds: ["${eth.id}"] })`, { assetId: eth.id }],
      ];
      for (const [args, where] of cases) {
        const res = await app.gql<{ marketData: { totalCount: number } }>(
          `{ marketData${args} { totalCount } }`,
        );
        expect(res.body.errors, args).toBeUndefined();
        expect(res.body.data?.marketData.totalCount, args).toBe(
          await prisma.marketObservation.count({ where }),
        );
      }
      const own = await app.gql<{ asset: { marketData: { totalCount: number; edges: unknown[] } } }>(
        `{ asset(id: "${eth.id}") { marketData(sources: [COINGECKO], first: 500) { totalCount edges { node { id } } } } }`,
      );
      expect(own.body.errors).toBeUndefined();
      const rows = await prisma.marketObservation.count({ where: { assetId: eth.id, source: "COINGECKO" } });
      expect(own.body.data?.asset.marketData.totalCount).toBe(rows);
      expect(own.body.data?.asset.marketData.edges).toHaveLength(rows);
      await app.app.stop("test over");
    });

    it("above the threshold, a filtered count is the capped count, flagged as an estimate", async () => {
      await addAssets(300);
      expect(await count(100, false)).toEqual({ count: 101, isEstimate: true });
    });
  },
);
