import { expect, it } from "vitest";
import type { Database } from "../../src/db/database.ts";
import {
  ensureObservationPartitions,
  HISTORY_PARTITION,
  listMonthPartitions,
  monthPartition,
  prismaPartitionSql,
} from "../../src/db/observation-partitions.ts";
import { upsertObservations } from "../../src/pipeline/batch-writer.ts";
import { dropExpiredPartitions } from "../../src/pipeline/observation-retention.ts";
import { EMPTY_MARKET_FIELDS, type NormalizedRecord } from "../../src/sources/record.ts";
import { createTestRunner } from "../support/pipeline.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

const DAY = 86_400_000;

async function partitionNames(db: Database) {
  return (await prismaPartitionSql(db.prisma).transaction(listMonthPartitions)).map((p) => p.name);
}

async function seedAssetAndRun(db: Database) {
  const p = db.prisma;
  const asset = await p.asset.create({ data: { symbol: "BTC", name: "Bitcoin" } });
  const run = await p.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
  return { assetId: asset.id, runId: run.id };
}

/** Rows inserted as SQL, with the commit time the test needs (the write path stamps now()). */
async function insertRows(
  db: Database,
  ids: { assetId: number; runId: number },
  rows: { observedAt: Date; committedAt: Date; price: number }[],
) {
  const input = JSON.stringify(
    rows.map((r) => ({ o: r.observedAt.toISOString(), c: r.committedAt.toISOString(), p: r.price })),
  );
  await db.prisma.$executeRaw`
    INSERT INTO market_observation (seq, asset_id, source, observed_at, price_usd, run_id, committed_at)
    SELECT nextval('market_observation_seq_seq'), ${ids.assetId}::int, 'CSV', o, p, ${ids.runId}::int, c
    FROM json_to_recordset(${input}::json) AS t(o timestamptz, c timestamptz, p float8)`;
}

async function homes(db: Database) {
  const rows = await db.prisma.$queryRaw<{ part: string; observed_at: Date; id: bigint; seq: bigint }[]>`
    SELECT tableoid::regclass::text AS part, observed_at, id, seq FROM market_observation ORDER BY observed_at`;
  return rows.map((r) => ({ part: r.part, at: new Date(r.observed_at).toISOString(), id: r.id, seq: r.seq }));
}

const record = (observedAt: Date, price: number): NormalizedRecord => ({
  source: "CSV",
  sourceAssetId: "BTC",
  file: "f.csv",
  idColumn: null,
  symbol: "BTC",
  name: "Bitcoin",
  observedAt,
  priceUsd: price,
  ...EMPTY_MARKET_FIELDS,
  position: 0,
  location: "f.csv:2",
  raw: null,
});

describeOnEachDatabase(
  (kind) => `market_observation partitions on ${kind}`,
  (scenario) => {
    it("is partitioned by month, with the current month and two ahead and a default partition", async () => {
      const kind = await scenario.db.prisma.$queryRaw<{ relkind: string }[]>`
        SELECT relkind::text AS relkind FROM pg_class WHERE relname = 'market_observation'`;
      expect(kind[0]?.relkind).toBe("p");
      const now = new Date();
      const expected = [0, 1, 2].map((i) => monthPartition(now.getUTCFullYear(), now.getUTCMonth() + i).name);
      expect(await partitionNames(scenario.db)).toEqual(expect.arrayContaining(expected));
      const history = await scenario.db.prisma.$queryRaw<{ bound: string }[]>`
        SELECT pg_get_expr(relpartbound, oid) AS bound FROM pg_class WHERE relname = ${HISTORY_PARTITION}`;
      expect(history[0]?.bound).toBe("DEFAULT");
    });

    it("writes each row through the upsert into its month, and a row dated 2013 into the default partition", async () => {
      const ids = await seedAssetAndRun(scenario.db);
      const now = new Date();
      const old = new Date("2013-04-28T00:00:00.000Z");
      const { written } = await scenario.db.prisma.$transaction((tx) =>
        upsertObservations(tx, ids.runId, "CSV", [
          { assetId: ids.assetId, record: record(old, 135) },
          { assetId: ids.assetId, record: record(now, 90_000) },
        ]),
      );
      expect(written).toHaveLength(2);
      // The same keys again: ON CONFLICT finds them in their partitions, nothing is rewritten.
      const again = await scenario.db.prisma.$transaction((tx) =>
        upsertObservations(tx, ids.runId, "CSV", [
          { assetId: ids.assetId, record: record(old, 135) },
          { assetId: ids.assetId, record: record(now, 90_000) },
        ]),
      );
      expect(again.written).toHaveLength(0);
      expect((await homes(scenario.db)).map((h) => h.part)).toEqual([
        HISTORY_PARTITION,
        monthPartition(now.getUTCFullYear(), now.getUTCMonth()).name,
      ]);
    });

    it("creates a month that began with no partition, moving the rows the default partition took for it", async () => {
      const ids = await seedAssetAndRun(scenario.db);
      const now = new Date();
      const later = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 5, 10));
      await insertRows(scenario.db, ids, [
        { observedAt: later, committedAt: now, price: 1 },
        { observedAt: new Date(later.getTime() + DAY), committedAt: now, price: 2 },
      ]);
      const before = await homes(scenario.db);
      expect(before.map((h) => h.part)).toEqual([HISTORY_PARTITION, HISTORY_PARTITION]);

      const created = await ensureObservationPartitions(prismaPartitionSql(scenario.db.prisma), later);
      const month = monthPartition(later.getUTCFullYear(), later.getUTCMonth()).name;
      expect(created).toContain(month);
      const after = await homes(scenario.db);
      expect(after.map((h) => h.part)).toEqual([month, month]);
      // The same rows: ids and seqs kept.
      expect(after.map(({ at, id, seq }) => ({ at, id, seq }))).toEqual(
        before.map(({ at, id, seq }) => ({ at, id, seq })),
      );
      // A second call creates nothing.
      expect(await ensureObservationPartitions(prismaPartitionSql(scenario.db.prisma), later)).toEqual([]);
    });

    it("drops months older than the retention, keeps one with a commit inside the resume window, never the default", async () => {
      const ids = await seedAssetAndRun(scenario.db);
      const now = new Date();
      const sql = prismaPartitionSql(scenario.db.prisma);
      // Two old months of their own: six and five months back.
      const six = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 6, 15));
      const five = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5, 15));
      await ensureObservationPartitions(sql, six, 0);
      await ensureObservationPartitions(sql, five, 0);
      const sixName = monthPartition(six.getUTCFullYear(), six.getUTCMonth()).name;
      const fiveName = monthPartition(five.getUTCFullYear(), five.getUTCMonth()).name;
      await insertRows(scenario.db, ids, [
        {
          observedAt: new Date("2013-04-28T00:00:00Z"),
          committedAt: new Date(now.getTime() - 200 * DAY),
          price: 1,
        },
        { observedAt: six, committedAt: new Date(now.getTime() - 170 * DAY), price: 2 },
        // A late file: five months old, loaded an hour ago.
        { observedAt: five, committedAt: new Date(now.getTime() - 3_600_000), price: 3 },
        { observedAt: now, committedAt: now, price: 4 },
      ]);

      const outcome = await dropExpiredPartitions(
        scenario.db.prisma,
        { retentionDays: 90, resumeHours: 24 },
        now,
      );
      expect(outcome.dropped).toContain(sixName);
      expect(outcome.dropped).not.toContain(fiveName);
      expect(outcome.kept).toEqual([
        { name: fiveName, reason: expect.stringContaining("MARKET_UPDATES_RETENTION_HOURS") },
      ]);
      const names = await partitionNames(scenario.db);
      expect(names).not.toContain(sixName);
      expect(names).toContain(fiveName);
      // Nothing within 90 days went: the current month and the ones ahead stay.
      expect(names).toContain(monthPartition(now.getUTCFullYear(), now.getUTCMonth()).name);
      expect((await homes(scenario.db)).map((h) => [h.part, h.at])).toEqual([
        [HISTORY_PARTITION, "2013-04-28T00:00:00.000Z"],
        [fiveName, five.toISOString()],
        [monthPartition(now.getUTCFullYear(), now.getUTCMonth()).name, now.toISOString()],
      ]);

      // Once the resume window has passed, the late month goes too; retention 0 drops nothing.
      expect(
        (await dropExpiredPartitions(scenario.db.prisma, { retentionDays: 0, resumeHours: 24 }, now)).dropped,
      ).toEqual([]);
      const dayLater = new Date(now.getTime() + DAY + 1);
      expect(
        (await dropExpiredPartitions(scenario.db.prisma, { retentionDays: 90, resumeHours: 24 }, dayLater))
          .dropped,
      ).toEqual([fiveName]);
    });

    it("a run creates the months ahead that are missing", async () => {
      const now = new Date();
      const ahead = monthPartition(now.getUTCFullYear(), now.getUTCMonth() + 2).name;
      await scenario.db.prisma.$executeRawUnsafe(`DROP TABLE "${ahead}"`);
      expect(await partitionNames(scenario.db)).not.toContain(ahead);
      const { runner } = createTestRunner(scenario.db, scenario.replay, { ETL_SOURCES: "csv" });
      await runner.run({ trigger: "CLI", sources: ["CSV"] });
      expect(await partitionNames(scenario.db)).toContain(ahead);
    });
  },
);
