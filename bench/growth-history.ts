// The growth scenario's history (#19): what the schedule would have written over days, generated
// with SQL (not through the pipeline) below one real run of the service.
import pg from "pg";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config/config.ts";
import type { Database } from "../src/db/database.ts";
import { ensureObservationPartitions, prismaPartitionSql } from "../src/db/observation-partitions.ts";
import type { Logger } from "../src/logger/logger.ts";
import { rebuildRollups } from "../src/pipeline/candle-rollups.ts";
import { loadCandles } from "../src/services/candles.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  startReplayServer,
} from "../test/support/replay-server.ts";
import { log } from "./results.ts";

export const SLOT_MS = 5 * 60_000;
/** Ids and seqs below these are the generated history's, above them the live writes' (see seed). */
const RUN_ID_BASE = 1_000_000;
const SOURCE_RUN_ID_BASE = 3_000_000;
export const OBSERVATION_BASE = 100_000_000;
/** Room per generated run in the id and seq ranges: more than one run's rows. */
const PER_RUN = 4_000;

/** The recorded payloads stamped at one instant (a scheduled run's view of the market). */
function stampedPayloads(at: Date) {
  const stamp = at.toISOString();
  const gecko = loadFixture<Record<string, unknown>[]>(COINGECKO_TOP250).map((c) => ({
    ...c,
    last_updated: stamp,
  }));
  const paprika = loadFixture<Record<string, unknown>[]>(COINPAPRIKA_TICKERS).map((t) => ({
    ...t,
    last_updated: stamp,
  }));
  return { gecko, paprika };
}

export interface Seed {
  runId: number;
  /** The history's newest instant: the seed run's observations. */
  at: Date;
  rows: number;
}

/**
 * One real run through the service's own code (createApp's runner) on the recorded CoinGecko and
 * CoinPaprika payloads, stamped at the newest 5-minute slot: assets, identities, observations,
 * latest prices, the run and its source runs, its price aggregate, rejected records, anomalies
 * and its rollups, as the service writes them. The sequences are moved up first, so that the
 * history generated below it takes ids, seqs and run ids in commit order.
 */
export async function seed(db: Database, url: string, logger: Logger): Promise<Seed> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("SELECT setval('etl_run_id_seq', $1::bigint)", [RUN_ID_BASE]);
  await client.query("SELECT setval('source_run_id_seq', $1::bigint)", [SOURCE_RUN_ID_BASE]);
  await client.query("SELECT setval('market_observation_id_seq', $1::bigint)", [OBSERVATION_BASE]);
  await client.query("SELECT setval('market_observation_seq_seq', $1::bigint)", [OBSERVATION_BASE]);
  await client.end();
  const at = new Date(Math.floor(Date.now() / SLOT_MS) * SLOT_MS - SLOT_MS);
  const replay = await startReplayServer();
  const { gecko, paprika } = stampedPayloads(at);
  replay.setCoinGeckoPages([gecko]);
  replay.setCoinPaprikaTickers(paprika);
  const config = parseConfig({
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    COINPAPRIKA_MAX_ASSETS: "2500",
    ETL_SOURCES: "coingecko,coinpaprika",
  });
  const { runner } = createApp({ config, db, logger, crossProcessEvents: false });
  const summary = await runner.run({ trigger: "SCHEDULE", scheduleSlot: BigInt(at.getTime() / SLOT_MS) });
  await replay.close();
  const [count] = await db.prisma.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM market_observation WHERE run_id = ${summary.runId}`;
  return { runId: summary.runId, at, rows: count?.n ?? 0 };
}

/**
 * Runs k in (fromK, toK], run k started k slots before the seed: each a copy of the seed run's
 * rows (its run and source runs, observations, price aggregate, rejected records, anomalies)
 * shifted k slots earlier, prices moved by at most 0.5 %. Ids, seqs and run ids count down from
 * the seed's, so their order is commit order. One statement per table per chunk of runs.
 */
async function generateRuns(client: pg.Client, s: Seed, fromK: number, toK: number) {
  const args = [s.runId, fromK, toK, SLOT_MS / 1000, PER_RUN];
  // run k's id is seed - k; its time is the seed's minus k slots
  await client.query(
    `INSERT INTO etl_run (id, trigger, status, requested, started_at, finished_at, duration_ms, schedule_slot,
       fetched, written, unchanged, rejected, owner, rolled_up_at)
     SELECT r.id - k, 'SCHEDULE', r.status, r.requested, r.started_at - make_interval(secs => k * $4::int),
       r.finished_at - make_interval(secs => k * $4::int), r.duration_ms, r.schedule_slot - k, r.fetched, r.written,
       r.unchanged, r.rejected, r.owner, r.rolled_up_at - make_interval(secs => k * $4::int)
     FROM etl_run r, generate_series($2::int + 1, $3::int) k WHERE r.id = $1::int`,
    args.slice(0, 4),
  );
  await client.query(
    `INSERT INTO source_run (id, run_id, source, status, started_at, finished_at, duration_ms, fetched, written,
       unchanged, rejected, quarantined, rejected_truncated, checkpoint_before, checkpoint_after, null_rates,
       seen_asset_ids)
     SELECT s.id - 2 * k, s.run_id - k, s.source, s.status, s.started_at - make_interval(secs => k * $4::int),
       s.finished_at - make_interval(secs => k * $4::int), s.duration_ms, s.fetched, s.written, s.unchanged,
       s.rejected, s.quarantined, s.rejected_truncated, s.checkpoint_before, s.checkpoint_after, s.null_rates,
       s.seen_asset_ids
     FROM source_run s, generate_series($2::int + 1, $3::int) k WHERE s.run_id = $1::int`,
    args.slice(0, 4),
  );
  // Oldest first, so each partition's indexes grow as they would have.
  await client.query(
    `INSERT INTO market_observation (id, seq, asset_id, source, observed_at, price_usd, market_cap_usd,
       volume_24h_usd, change_24h_pct, circulating_supply, total_supply, max_supply, rank, run_id, committed_at)
     SELECT o.id - k * $5::int, o.seq - k * $5::int, o.asset_id, o.source,
       o.observed_at - make_interval(secs => k * $4::int),
       o.price_usd * (1 + 0.005 * sin(k * 0.37 + o.asset_id)), o.market_cap_usd, o.volume_24h_usd,
       o.change_24h_pct, o.circulating_supply, o.total_supply, o.max_supply, o.rank, o.run_id - k,
       o.committed_at - make_interval(secs => k * $4::int)
     FROM generate_series($3::int, $2::int + 1, -1) k, market_observation o WHERE o.run_id = $1::int
     ORDER BY k DESC, o.asset_id, o.source`,
    args,
  );
  await client.query(
    `INSERT INTO run_price (run_id, asset_id, source, price_usd)
     SELECT p.run_id - k, p.asset_id, p.source, p.price_usd * (1 + 0.005 * sin(k * 0.37 + p.asset_id))
     FROM run_price p, generate_series($2::int + 1, $3::int) k WHERE p.run_id = $1::int`,
    args.slice(0, 3),
  );
  await client.query(
    `INSERT INTO rejected_record (run_id, source, location, reason, raw, created_at)
     SELECT x.run_id - k, x.source, x.location, x.reason, x.raw, x.created_at - make_interval(secs => k * $4::int)
     FROM rejected_record x, generate_series($2::int + 1, $3::int) k WHERE x.run_id = $1::int`,
    args.slice(0, 4),
  );
  await client.query(
    `INSERT INTO anomaly (run_id, asset_id, source, kind, severity, detail, created_at)
     SELECT a.run_id - k, a.asset_id, a.source, a.kind, a.severity, a.detail,
       a.created_at - make_interval(secs => k * $4::int)
     FROM anomaly a, generate_series($2::int + 1, $3::int) k WHERE a.run_id = $1::int`,
    args.slice(0, 4),
  );
}

/**
 * Grows the history to at least `target` observations: the months it reaches created first as
 * the service creates them (ensureObservationPartitions), then the runs, then their rollups from
 * the raw rows with the service's own aggregate (rebuildRollups, the one a drop uses; the same
 * rows the runs' ends would have written), then VACUUM ANALYZE, as autovacuum would have left it.
 * Returns the runs generated so far.
 */
export async function grow(db: Database, url: string, s: Seed, fromK: number, target: number) {
  const toK = Math.max(fromK, Math.ceil(target / s.rows) - 1);
  if (toK === fromK) return toK;
  const oldest = new Date(s.at.getTime() - toK * SLOT_MS);
  const newest = new Date(s.at.getTime() - fromK * SLOT_MS);
  for (
    let m = new Date(oldest);
    m <= newest;
    m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1))
  ) {
    await ensureObservationPartitions(prismaPartitionSql(db.prisma), m, 0);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // Copies of the seed's rows reference what the seed's rows reference: the per-row foreign-key
  // triggers would only slow the load (as a restore skips them). Needs a superuser, as the
  // bench's PostgreSQL is.
  await client.query("SET session_replication_role = replica");
  try {
    const chunk = 200;
    let phase = performance.now();
    const lap = (what: string) => {
      log(`growth: ${what} ${Math.round((performance.now() - phase) / 100) / 10} s`);
      phase = performance.now();
    };
    for (let k = fromK; k < toK; k += chunk) {
      await generateRuns(client, s, k, Math.min(toK, k + chunk));
      if ((k - fromK) % (5 * chunk) === 4 * chunk) log(`growth: ${Math.min(toK, k + chunk)}/${toK} runs`);
    }
    // Every hour the new runs touched, the boundary hour with the rows already there included.
    const hour = 3_600_000;
    const from = new Date(Math.floor(oldest.getTime() / hour) * hour);
    const to = new Date(Math.floor(newest.getTime() / hour) * hour + hour);
    lap(`${toK - fromK} runs written`);
    const step = 24 * hour;
    for (let t = from.getTime(); t < to.getTime(); t += step) {
      await db.prisma.$transaction(
        (tx) => rebuildRollups(tx, new Date(t), new Date(Math.min(to.getTime(), t + step))),
        { timeout: 1_800_000 },
      );
    }
    lap("rollups");
    // The tables the generation wrote (autovacuum would get to them; a measurement should not
    // run beside it).
    await client.query(
      "VACUUM ANALYZE market_observation, candle_rollup, run_price, etl_run, source_run, anomaly, rejected_record",
    );
    lap("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
  return toK;
}

/** Rollups equal raw for the best-ranked asset over the whole history (a check on the generation). */
export async function rollupsMatchRaw(db: Database) {
  const [top] = await db.prisma.$queryRaw<
    { id: number }[]
  >`SELECT id FROM asset ORDER BY rank NULLS LAST LIMIT 1`;
  if (!top) return false;
  const finality = { seconds: 60 };
  for (const interval of ["H1", "D1"] as const) {
    const rolled = await loadCandles(db.prisma, top.id, { interval }, finality);
    const raw = await loadCandles(db.prisma, top.id, { interval, rollups: false }, finality);
    const key = (c: typeof rolled) =>
      JSON.stringify(c.map((x) => [x.bucket, x.open, x.high, x.low, x.close, x.observations]));
    if (rolled.length === 0 || key(rolled) !== key(raw)) return false;
  }
  return true;
}
