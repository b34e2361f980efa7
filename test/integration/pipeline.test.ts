import { expect, it } from "vitest";
import type { PipelineEvents } from "../../src/pipeline/events.ts";
import { createTestRunner, snapshot } from "../support/pipeline.ts";
import { COINGECKO_TOP250, COINPAPRIKA_TICKERS, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

type Item = Record<string, unknown>;
const cg = () => loadFixture<Item[]>(COINGECKO_TOP250);
const cp = () => loadFixture<Item[]>(COINPAPRIKA_TICKERS);

describeOnEachDatabase(
  (kind) => `pipeline on ${kind}`,
  (scenario) => {
    let clean: Awaited<ReturnType<typeof snapshot>>;

    it("ingests all three sources, then writes nothing when the inputs have not changed", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay);
      const first = await runner.run({ trigger: "CLI" });
      expect(first.status).toBe("SUCCEEDED");
      expect(first.sources.map((s) => [s.source, s.fetched, s.written])).toEqual([
        ["COINGECKO", 250, 250],
        ["COINPAPRIKA", 500, 500],
        ["CSV", 1092, 1092],
      ]);
      clean = await snapshot(scenario.db);
      const second = await runner.run({ trigger: "CLI" });
      expect(second.status).toBe("SUCCEEDED");
      for (const s of second.sources) {
        expect(s.written).toBe(0);
        expect(s.unchanged).toBe(s.fetched - s.rejected);
        expect(s.fetched).toBe(s.written + s.unchanged + s.rejected + s.quarantined);
      }
      expect(await snapshot(scenario.db)).toEqual(clean);
    });

    it("writes exactly the rows whose price changed at the same timestamp", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      await runner.run({ trigger: "CLI" });
      const items = cg();
      for (const i of [0, 5, 9])
        items[i] = { ...items[i], current_price: (items[i]!.current_price as number) * 1.01 };
      scenario.replay.setCoinGeckoPages([items]);
      const seqBefore = await scenario.db.prisma.marketObservation.aggregate({ _max: { seq: true } });
      const second = await runner.run({ trigger: "CLI" });
      expect(second.sources[0]).toMatchObject({ fetched: 250, written: 3, unchanged: 247 });
      const rewritten = await scenario.db.prisma.marketObservation.findMany({
        where: { seq: { gt: seqBefore._max.seq ?? 0n } },
        include: { asset: { include: { sources: true } } },
      });
      expect(rewritten.map((o) => o.asset.sources[0]?.sourceAssetId).sort()).toEqual(
        [items[0], items[5], items[9]].map((i) => i!.id).sort(),
      );
      const btc = await scenario.db.prisma.latestPrice.findFirst({
        where: { source: "COINGECKO", asset: { sources: { some: { sourceAssetId: "bitcoin" } } } },
      });
      expect(btc?.priceUsd).toBeCloseTo(26816 * 1.01, 6);
    });

    it("skips observations older than the asset's watermark", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      await runner.run({ trigger: "CLI" });
      const older = cg().map((i) => ({ ...i, current_price: 1, last_updated: "2020-01-01T00:00:00.000Z" }));
      scenario.replay.setCoinGeckoPages([older]);
      const second = await runner.run({ trigger: "CLI" });
      expect(second.sources[0]).toMatchObject({ written: 0, unchanged: 250 });
    });

    it.each([1, 499, 500, 501, 1234])(
      "after an injected failure at %i records, a resume run leaves the same database as one clean run",
      async (n) => {
        if (!clean) {
          await createTestRunner(scenario.db, scenario.replay).runner.run({ trigger: "CLI" });
          clean = await snapshot(scenario.db);
          await scenario.database.reset();
        }
        const failing = createTestRunner(scenario.db, scenario.replay, {}, { failAfterRecords: n });
        const failed = await failing.runner.run({ trigger: "CLI" });
        expect(failed.status).toBe("FAILED");
        expect(failed.error).toBe(`injected failure after ${n} records`);
        const row = await scenario.db.prisma.etlRun.findUniqueOrThrow({ where: { id: failed.runId } });
        expect(row.stoppedAt).toMatchObject({
          source: expect.any(String),
          committedRecords: expect.any(Number),
        });
        const committed = await scenario.db.prisma.marketObservation.count();
        expect(committed).toBeLessThan(n);

        const resumed = await createTestRunner(scenario.db, scenario.replay).runner.run({ trigger: "CLI" });
        expect(resumed.status).toBe("SUCCEEDED");
        expect(await snapshot(scenario.db)).toEqual(clean);
        const dupes = await scenario.db.prisma.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM (
          SELECT asset_id, source, observed_at FROM market_observation GROUP BY 1, 2, 3 HAVING count(*) > 1) d`;
        expect(dupes[0]?.n).toBe(0);
      },
    );

    it("marks the run PARTIAL when one source answers 500 forever, and writes the others", async () => {
      scenario.replay.fault(
        "coinpaprika",
        { kind: "status", status: 500, body: "Internal Server Error" },
        { always: true },
      );
      const { runner } = createTestRunner(scenario.db, scenario.replay);
      const run = await runner.run({ trigger: "CLI" });
      expect(run.status).toBe("PARTIAL");
      expect(run.sources.map((s) => [s.source, s.status])).toEqual([
        ["COINGECKO", "SUCCEEDED"],
        ["COINPAPRIKA", "FAILED"],
        ["CSV", "SUCCEEDED"],
      ]);
      const paprika = await scenario.db.prisma.sourceRun.findFirstOrThrow({
        where: { runId: run.runId, source: "COINPAPRIKA" },
      });
      expect(paprika).toMatchObject({ errorKind: "transient", written: 0 });
      expect(paprika.error).toMatch(/HTTP 500.*2 attempts/);
      expect(await scenario.db.prisma.marketObservation.count({ where: { source: "COINGECKO" } })).toBe(250);
    });

    it("archives each payload once and links it to every run that saw it", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay);
      const a = await runner.run({ trigger: "CLI" });
      const b = await runner.run({ trigger: "CLI" });
      const payloads = await scenario.db.prisma.rawPayload.findMany({ include: { runs: true } });
      expect(payloads.map((p) => p.source).sort()).toEqual(["COINGECKO", "COINPAPRIKA", "CSV"]);
      for (const p of payloads) expect(p.runs.map((r) => r.runId).sort()).toEqual([a.runId, b.runId]);
      const gecko = payloads.find((p) => p.source === "COINGECKO")!;
      expect(JSON.parse(gecko.body)).toHaveLength(250);
      expect(gecko.request).toMatchObject({ method: "GET" });
    });

    it("publishes batch events after commit with seq ranges that match the stored rows", async () => {
      const batches: PipelineEvents["batchCommitted"][] = [];
      const statuses: string[] = [];
      const { runner, bus } = createTestRunner(scenario.db, scenario.replay, { ETL_BATCH_SIZE: "300" });
      bus.subscribe("batchCommitted", (e) => batches.push(e));
      bus.subscribe("runStatusChanged", (e) => {
        if (!e.progress) statuses.push(e.status);
      });
      await runner.run({ trigger: "CLI" });
      expect(statuses).toEqual(["RUNNING", "SUCCEEDED"]);
      expect(batches.length).toBeGreaterThanOrEqual(6);
      let previous = 0n;
      let stored = 0;
      for (const b of batches) {
        expect(b.seqFrom).toBeGreaterThan(previous);
        previous = b.seqTo;
        const inRange = await scenario.db.prisma.marketObservation.findMany({
          where: { seq: { gte: b.seqFrom, lte: b.seqTo } },
          select: { runId: true, source: true },
        });
        // Every stored row in the event's range is that batch's: its run and its source.
        expect(inRange.length).toBeGreaterThan(0);
        for (const row of inRange) expect(row).toEqual({ runId: b.runId, source: b.source });
        stored += inRange.length;
      }
      expect(stored).toBe(await scenario.db.prisma.marketObservation.count());
    });

    it("detects drift: a rename found with confidence ≥ 0.8, a removal, a retype and an addition", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      await runner.run({ trigger: "CLI" });
      expect(await scenario.db.prisma.driftBaseline.count()).toBe(1);
      scenario.replay.setCoinGeckoPages([
        cg().map(({ current_price, market_cap, ...rest }) => ({
          ...rest,
          price_current: current_price,
          total_volume: String(rest.total_volume),
          brand_new: true,
        })),
      ]);
      const drifted = await runner.run({ trigger: "CLI" });
      const events = await scenario.db.prisma.driftEvent.findMany({
        where: { runId: drifted.runId },
        orderBy: { path: "asc" },
      });
      expect(events.map((e) => [e.kind, e.path, e.renamedFrom])).toEqual([
        ["ADDED", "brand_new", null],
        ["REMOVED", "market_cap", null],
        ["RENAMED", "price_current", "current_price"],
        ["TYPE_CHANGED", "total_volume", null],
      ]);
      expect(events.find((e) => e.kind === "RENAMED")!.confidence).toBeGreaterThanOrEqual(0.8);
      // The required price vanished: every record is rejected with that reason, none becomes a null.
      expect(drifted.sources[0]).toMatchObject({ written: 0, rejected: 250 });
      // Reported once: the same payload again adds no events.
      const again = await runner.run({ trigger: "CLI" });
      expect(await scenario.db.prisma.driftEvent.count({ where: { runId: again.runId } })).toBe(0);
    });

    it("quarantines a stream that lost a required field when the policy says so", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, {
        ETL_SOURCES: "coingecko",
        DRIFT_POLICY_COINGECKO: "quarantine",
      });
      await runner.run({ trigger: "CLI" });
      const before = await scenario.db.prisma.marketObservation.count();
      scenario.replay.setCoinGeckoPages([
        cg().map(({ last_updated, ...rest }) => ({ ...rest, updated: last_updated })),
      ]);
      const run = await runner.run({ trigger: "CLI" });
      expect(run.sources[0]).toMatchObject({ fetched: 250, quarantined: 250, written: 0, rejected: 0 });
      expect(await scenario.db.prisma.marketObservation.count()).toBe(before);
      expect(
        await scenario.db.prisma.driftEvent.count({ where: { runId: run.runId, kind: "RENAMED" } }),
      ).toBe(1);
    });

    it("returns the running run to a second trigger, and the same run for the same idempotency key", async () => {
      scenario.replay.fault("coingecko", { kind: "slow", ms: 800 });
      const { runner } = createTestRunner(scenario.db, scenario.replay);
      const first = await runner.start({ trigger: "API", idempotencyKey: "k-1" });
      const second = await runner.start({ trigger: "API" });
      expect(second.alreadyRunning).toBe(true);
      expect(second.run.id).toBe(first.run.id);
      const same = await runner.start({ trigger: "API", idempotencyKey: "k-1" });
      expect(same.run.id).toBe(first.run.id);
      await first.done;
      const after = await runner.start({ trigger: "API", idempotencyKey: "k-1" });
      expect(after).toMatchObject({ alreadyRunning: false, run: { id: first.run.id, status: "SUCCEEDED" } });
    });

    it("records a count drop against the previous successful run as an anomaly", async () => {
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "coingecko" });
      await runner.run({ trigger: "CLI" });
      scenario.replay.setCoinGeckoPages([cg().slice(0, 50)]);
      const run = await runner.run({ trigger: "CLI" });
      const drop = await scenario.db.prisma.anomaly.findFirstOrThrow({
        where: { runId: run.runId, kind: "COUNT_DROP" },
      });
      expect(drop).toMatchObject({
        source: "COINGECKO",
        severity: "WARNING",
        detail: { fetched: 50, previousFetched: 250, dropPct: 80 },
      });
    });

    it("records price deviations from the consensus as anomalies", async () => {
      const tickers = cp();
      tickers[0] = {
        ...tickers[0],
        quotes: { USD: { ...(tickers[0]!.quotes as { USD: Item }).USD, price: 50_000 } },
      };
      // Same observation time for both sources, so both are fresh.
      const gecko = cg();
      gecko[0] = { ...gecko[0], last_updated: tickers[0]!.last_updated };
      scenario.replay.setCoinGeckoPages([gecko]);
      scenario.replay.setCoinPaprikaTickers(tickers);
      const { runner } = createTestRunner(scenario.db, scenario.replay, {
        ETL_SOURCES: "coingecko,coinpaprika",
      });
      const run = await runner.run({ trigger: "CLI" });
      const anomalies = await scenario.db.prisma.anomaly.findMany({
        where: { runId: run.runId, kind: "PRICE_DEVIATION" },
      });
      const btc = anomalies.filter((a) => (a.detail as { priceUsd: number }).priceUsd === 50_000);
      expect(btc).toHaveLength(1);
      expect(btc[0]).toMatchObject({ source: "COINPAPRIKA", severity: "CRITICAL" });
    });
  },
);
