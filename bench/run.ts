// npm run bench [-- --quick] [-- --json]
// Every target is a ratio against a baseline measured in this same run, interleaved, over several
// rounds; the median ratio is reported. See BENCHMARKS.md for the method.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config/config.ts";
import { createDatabase, type Database } from "../src/db/database.ts";
import { migrate } from "../src/db/migrator.ts";
import { createLogger } from "../src/logger/logger.ts";
import { type ResolvedRecord, upsertObservations } from "../src/pipeline/batch-writer.ts";
import type { NormalizedRecord } from "../src/sources/record.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  startReplayServer,
} from "../test/support/replay-server.ts";
import { benchCapacity } from "./capacity.ts";
import { benchFanout } from "./fanout.ts";
import { benchGrowth } from "./growth.ts";
import { benchPgliteQueries, benchPostgresQueries } from "./queries.ts";
import { log, median, row, rows } from "./results.ts";
import { benchSlowSubscriber } from "./slow-subscriber.ts";
import { benchStartup } from "./startup.ts";

const quick = process.argv.includes("--quick");
const asJson = process.argv.includes("--json");
// --only ingest,e2e,query,fanout,capacity,slow,startup,growth (development): the named scenario groups only.
// --cpu-prof: the capacity scenario's server writes a CPU profile (its path is logged).
// --keep-growth-db: the growth scenario's databases are not dropped (their URLs are logged).
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const only = (group: string) => !onlyArg || onlyArg.split(",").includes(group);
const ADMIN = process.env.TEST_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/postgres";
const logger = createLogger({ level: "silent" });

async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `coinflow_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const ASSETS = 500;
function syntheticRecords(n: number, priceShift = 0): ResolvedRecord[] {
  const base = Date.parse("2024-01-01T00:00:00Z");
  return Array.from({ length: n }, (_, i) => {
    const record: NormalizedRecord = {
      source: "COINGECKO",
      sourceAssetId: `a${i % ASSETS}`,
      file: "",
      idColumn: null,
      symbol: `A${i % ASSETS}`,
      name: null,
      observedAt: new Date(base + Math.floor(i / ASSETS) * 60_000),
      priceUsd: 100 + (i % 997) + priceShift,
      marketCapUsd: 1e9 + i,
      volume24hUsd: 1e7 + i,
      change24hPct: (i % 21) - 10,
      circulatingSupply: 1e6,
      totalSupply: 2e6,
      maxSupply: null,
      rank: (i % ASSETS) + 1,
      open: null,
      high: null,
      low: null,
      close: null,
      barSeconds: null,
      position: i,
      location: `row ${i}`,
      raw: null,
    };
    return { record, assetId: (i % ASSETS) + 1 };
  });
}

async function seedAssets(db: Database) {
  await db.prisma.$executeRawUnsafe(
    `INSERT INTO asset (symbol, name, rank) SELECT 'A' || g, 'Asset ' || g, g FROM generate_series(1, ${ASSETS}) g`,
  );
  return (await db.prisma.etlRun.create({ data: { trigger: "CLI", requested: ["COINGECKO"] } })).id;
}

/** The pipeline's default batch size (ETL_BATCH_SIZE): one transaction per batch, as a run commits. */
const BATCH = parseConfig({}).etl.batchSize;

async function ours(db: Database, runId: number, records: ResolvedRecord[]) {
  const started = performance.now();
  let written = 0;
  for (let i = 0; i < records.length; i += BATCH) {
    const chunk = records.slice(i, i + BATCH);
    written += (await db.prisma.$transaction((tx) => upsertObservations(tx, runId, "COINGECKO", chunk)))
      .written.length;
  }
  return { ms: performance.now() - started, written };
}

async function truncate(db: Database) {
  await db.prisma.$executeRawUnsafe("TRUNCATE market_observation, latest_price, candle_rollup");
}

/**
 * The COPY baseline. `indexed`: a table of the same shape as market_observation (columns,
 * defaults, constraints, its seven indexes and its two foreign keys), the target's baseline:
 * every loader of this table pays for them. Unindexed: a bare heap, the ceiling of any write path
 * (no target).
 */
async function copyBaseline(url: string, runId: number, records: ResolvedRecord[], indexed: boolean) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("DROP TABLE IF EXISTS bench_copy");
  await client.query(
    `CREATE TABLE bench_copy (LIKE market_observation ${indexed ? "INCLUDING ALL" : "INCLUDING DEFAULTS"})`,
  );
  if (indexed) {
    // LIKE copies no foreign keys; market_observation checks two per row.
    await client.query("ALTER TABLE bench_copy ADD FOREIGN KEY (asset_id) REFERENCES asset (id)");
    await client.query("ALTER TABLE bench_copy ADD FOREIGN KEY (run_id) REFERENCES etl_run (id)");
  }
  const started = performance.now();
  const stream = client.query(
    copyFrom(
      "COPY bench_copy (id, seq, asset_id, source, observed_at, price_usd, market_cap_usd, volume_24h_usd, change_24h_pct, circulating_supply, total_supply, max_supply, rank, run_id) FROM STDIN",
    ),
  );
  const done = new Promise<void>((resolve, reject) => {
    stream.on("finish", resolve);
    stream.on("error", reject);
  });
  let buffer = "";
  records.forEach((r, i) => {
    const x = r.record;
    buffer += `${i + 1}\t${i + 1}\t${r.assetId}\tCOINGECKO\t${x.observedAt.toISOString()}\t${x.priceUsd}\t${x.marketCapUsd}\t${x.volume24hUsd}\t${x.change24hPct}\t${x.circulatingSupply}\t${x.totalSupply}\t\\N\t${x.rank}\t${runId}\n`;
    if (buffer.length > 1 << 16) {
      stream.write(buffer);
      buffer = "";
    }
  });
  stream.end(buffer);
  await done;
  const ms = performance.now() - started;
  await client.end();
  return ms;
}

async function upsertLoop(db: Database, runId: number, records: ResolvedRecord[]) {
  const started = performance.now();
  let seq = 10_000_000n;
  for (const { record: x, assetId } of records) {
    const data = {
      priceUsd: x.priceUsd,
      marketCapUsd: x.marketCapUsd,
      volume24hUsd: x.volume24hUsd,
      runId,
      seq: seq++,
    };
    await db.prisma.marketObservation.upsert({
      where: { assetId_source_observedAt: { assetId, source: "COINGECKO", observedAt: x.observedAt } },
      create: { ...data, assetId, source: "COINGECKO", observedAt: x.observedAt },
      update: data,
    });
  }
  return performance.now() - started;
}

async function benchIngest() {
  const n = quick ? 5_000 : 50_000;
  const sample = quick ? 200 : 2_000;
  const rounds = quick ? 2 : 3;
  const records = syntheticRecords(n);
  const { url, drop } = await freshPostgres();
  const db = await createDatabase({ url, dataDir: "unused", logger });
  await migrate(db, logger);
  const runId = await seedAssets(db);
  const copyRatios: number[] = [];
  const heapRatios: number[] = [];
  const loopRatios: number[] = [];
  const oursRates: number[] = [];
  const reRatios: number[] = [];
  let reWritten = 0;
  for (let r = 0; r < rounds; r++) {
    log(`ingest round ${r + 1}/${rounds}`);
    await truncate(db);
    const fresh = await ours(db, runId, records);
    const again = await ours(db, runId, records);
    reWritten = again.written;
    const copyMs = await copyBaseline(url, runId, records, true);
    const heapMs = await copyBaseline(url, runId, records, false);
    await truncate(db);
    const loopMs = await upsertLoop(db, runId, records.slice(0, sample));
    const oursRate = n / (fresh.ms / 1000);
    oursRates.push(oursRate);
    copyRatios.push(oursRate / (n / (copyMs / 1000)));
    heapRatios.push(oursRate / (n / (heapMs / 1000)));
    loopRatios.push(oursRate / (sample / (loopMs / 1000)));
    reRatios.push(again.ms / fresh.ms);
  }
  const rate = median(oursRates);
  row({
    scenario: "ingest",
    metric: `rows/s, ${n} fresh rows vs COPY into the same table (indexes, foreign keys)`,
    value: rate,
    baseline: rate / median(copyRatios),
    target: ">= 0.25",
    ratio: median(copyRatios),
    check: (x) => x >= 0.25,
  });
  row({
    scenario: "ingest",
    metric: "rows/s vs COPY into an unindexed heap (the ceiling)",
    value: rate,
    baseline: rate / median(heapRatios),
    target: null,
    ratio: median(heapRatios),
  });
  row({
    scenario: "ingest",
    metric: `rows/s vs Prisma upsert loop (${sample}-row sample)`,
    value: rate,
    baseline: rate / median(loopRatios),
    target: ">= 20",
    ratio: median(loopRatios),
    check: (x) => x >= 20,
  });
  row({
    scenario: "re-ingest unchanged",
    metric: "rows written",
    value: reWritten,
    baseline: null,
    target: "= 0",
    ratio: null,
    check: (_r, v) => v === 0,
  });
  row({
    scenario: "re-ingest unchanged",
    metric: "time vs fresh ingest",
    value: median(reRatios),
    baseline: 1,
    target: "<= 1",
    ratio: median(reRatios),
    check: (x) => x <= 1,
  });
  await db.close();
  await drop();

  // The embedded default, same path: no target, the price users pay for zero setup.
  const root = mkdtempSync(join(tmpdir(), "coinflow-bench-"));
  const lite = await createDatabase({ dataDir: join(root, "data"), logger });
  await migrate(lite, logger);
  const liteRun = await seedAssets(lite);
  const liteRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await truncate(lite);
    liteRates.push(n / ((await ours(lite, liteRun, records)).ms / 1000));
  }
  row({
    scenario: "ingest (PGlite)",
    metric: "rows/s vs PostgreSQL",
    value: median(liteRates),
    baseline: rate,
    target: null,
  });
  await lite.close();
  rmSync(root, { recursive: true, force: true });
}

/**
 * The recorded quotes, `shift` minutes after the first run's, prices moved by shift per mille.
 * Stamped an hour ago, on the minute: a quote dated beyond the clock is rejected as from the
 * future (time-sanity.ts), and until 2026-12-07 this bench stamped them in 2031, so its end-to-end
 * runs wrote only the CSV's rows.
 */
const STAMPED_AT = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
function moved(shift: number) {
  const stamp = new Date(STAMPED_AT + shift * 60_000).toISOString();
  const gecko = loadFixture<Record<string, unknown>[]>(COINGECKO_TOP250).map((c) => ({
    ...c,
    current_price: (c.current_price as number) * (1 + shift / 1_000),
    last_updated: stamp,
  }));
  type Ticker = Record<string, unknown> & { quotes?: { USD?: { price: number } } };
  const paprika = loadFixture<Ticker[]>(COINPAPRIKA_TICKERS).map((t) =>
    t.quotes?.USD
      ? {
          ...t,
          last_updated: stamp,
          quotes: { ...t.quotes, USD: { ...t.quotes.USD, price: t.quotes.USD.price * (1 + shift / 1_000) } },
        }
      : t,
  );
  return { gecko, paprika };
}

/**
 * 200 made-up coins, a row per coin and day from 2020-01-01. Symbols no recorded coin has: as
 * C8 and C20 they collided with real coins of other names, and identity rightly refused to join
 * them (100 rows rejected per run).
 */
function writeCsv(path: string, rows: number, shift: number) {
  const lines = ["symbol,name,price,date"];
  for (let i = 0; i < rows; i++) {
    lines.push(
      `ZQ${i % 200},Bench coin ${i % 200},${(1 + (i % 500) + shift / 100).toFixed(2)},${new Date(Date.UTC(2020, 0, 1) + Math.floor(i / 200) * 86_400_000).toISOString().slice(0, 10)}`,
    );
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/**
 * Two runs on a fresh database through a fresh client: the first pays what a process pays once
 * (the identity load of 2,700 new assets, each query shape's first compile); the second, with
 * every price moved, is what the scheduler's runs inside the server are. Both write every record.
 * Repeated for several rounds (a fresh database each, the last one `url`, which the query and
 * fan-out scenarios then read); medians are reported.
 */
async function benchEndToEnd(url: string) {
  const replay = await startReplayServer();
  const csvRows = quick ? 2_000 : 10_000;
  const rounds = quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), "coinflow-bench-csv-"));
  const csv = join(dir, "prices.csv");
  const config = parseConfig({
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    COINPAPRIKA_MAX_ASSETS: "2500",
    CSV_SOURCE_PATHS: csv,
    RAW_PAYLOAD_RETENTION_DAYS: "0",
  });
  const runs = [
    {
      shift: 0,
      label: "first run",
      ms: [] as number[],
      rate: [] as number[],
      stall: [] as number[],
      written: 0,
      fetched: 0,
    },
    { shift: 1, label: "second run, every price moved", ms: [], rate: [], stall: [], written: 0, fetched: 0 },
  ];
  for (let r = 0; r < rounds; r++) {
    log(`end to end round ${r + 1}/${rounds}`);
    const last = r === rounds - 1;
    const fresh = last ? null : await freshPostgres();
    const db = await createDatabase({ url: fresh?.url ?? url, dataDir: "unused", logger });
    if (fresh) await migrate(db, logger);
    // The service's own wiring (createApp): what the scheduler runs inside the server.
    // One process: no NOTIFY transport, as the figures in BENCHMARKS.md were measured.
    const { runner } = createApp({ config, db, logger, crossProcessEvents: false });
    for (const run of runs) {
      const { gecko, paprika } = moved(run.shift);
      replay.setCoinGeckoPages([gecko]);
      replay.setCoinPaprikaTickers(paprika);
      writeCsv(csv, csvRows, run.shift);
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const started = performance.now();
      const summary = await runner.run({ trigger: "CLI" });
      const ms = performance.now() - started;
      delay.disable();
      run.ms.push(ms);
      run.rate.push(summary.sources.reduce((a, s) => a + s.fetched, 0) / (ms / 1000));
      run.stall.push(delay.max / 1e6);
      run.written = summary.sources.reduce((a, s) => a + s.written, 0);
      run.fetched = summary.sources.reduce((a, s) => a + s.fetched, 0);
    }
    await db.close();
    await fresh?.drop();
  }
  for (const run of runs) {
    const scenario = `end to end (${run.label})`;
    row({
      scenario,
      metric: `wall time, ms (CoinGecko 250 + CoinPaprika 2,500 + CSV ${csvRows}; ${run.written} written)`,
      value: median(run.ms),
      baseline: null,
      target: null,
    });
    row({ scenario, metric: "records/s", value: median(run.rate), baseline: null, target: null });
    // Every record is valid and new (or moved): one rejected would make the figures above
    // measure less work than they say.
    row({
      scenario,
      metric: "records written vs fetched (last round)",
      value: run.written,
      baseline: run.fetched,
      target: "= 1",
      check: (ratio) => ratio === 1,
    });
    row({
      scenario,
      metric: `longest event-loop stall, ms (median of ${rounds}; each: ${run.stall.map((x) => Math.round(x)).join(", ")})`,
      value: median(run.stall),
      baseline: null,
      target: "<= 50",
      ratio: null,
      check: (_r, v) => v <= 50,
    });
  }
  await replay.close();
  rmSync(dir, { recursive: true, force: true });
}

async function main() {
  const started = performance.now();
  if (only("slow")) benchSlowSubscriber(quick);
  if (only("ingest")) await benchIngest();
  // The end-to-end runs and the groups that read their data, as before; growth brings its own
  // database, so --only=growth alone skips them.
  if (!onlyArg || onlyArg.split(",").some((g) => g !== "growth")) {
    const { url, drop } = await freshPostgres();
    const db = await createDatabase({ url, dataDir: "unused", logger });
    await migrate(db, logger);
    await db.close();
    // On the migrated, still empty database: what a restart costs, before any data is loaded.
    if (only("startup")) await benchStartup(url, quick);
    // The end-to-end run also loads the data the query and fan-out scenarios read.
    log("end to end");
    await benchEndToEnd(url);
    if (only("query")) await benchPostgresQueries(url, quick);
    if (only("fanout")) await benchFanout(url, quick, logger);
    if (only("capacity")) await benchCapacity(url, quick, logger, process.argv.includes("--cpu-prof"));
    await drop();
    if (only("query")) await benchPgliteQueries(quick);
  }
  // On databases of its own: the history grows to 10 M observations (--quick: 200k) there.
  if (only("growth")) {
    log("growth");
    await benchGrowth(ADMIN, quick, logger, process.argv.includes("--keep-growth-db"));
  }
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
    quick,
    seconds: Math.round((performance.now() - started) / 1000),
  };
  const table = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.metric} | ${r.value} | ${r.baseline ?? ""} | ${r.ratio ?? ""} | ${r.target ?? ""} | ${r.pass === null ? "" : r.pass ? "pass" : "FAIL"} |`,
  );
  log(
    [
      "| scenario | metric | value | baseline | ratio | target | pass |",
      "|---|---|---|---|---|---|---|",
      ...table,
    ].join("\n"),
  );
  if (asJson) process.stdout.write(`${JSON.stringify({ machine, rows })}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
