// The read scenarios: our server against a bare graphql-yoga { hello } in its own process, with
// the response cache on and off, on PostgreSQL and PGlite. Interleaved rounds, median ratios.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { type Started, startProcess, stop } from "./processes.ts";
import { log, median, row } from "./results.ts";

/** The #16 shapes: a page of 100 with the asset, and a page of 20 of one asset drawn per request. */
export const PAGE_QUERY =
  "{ marketData(first: 100) { edges { node { seq source observedAt priceUsd marketCapUsd volume24hUsd asset { symbol name } } } } }";
export const ASSET_QUERY =
  "query ($a: ID!) { marketData(filter: { assetIds: [$a] }, first: 20) { edges { node { seq source observedAt priceUsd asset { symbol name } } } } }";
const HISTORY_ROWS = 250_000;
const VARIED_ASSETS = 300;

interface Load {
  rps: number;
  p99: number;
  /** Transport errors, non-2xx and GraphQL errors inside a 200: any of them fails the row. */
  errors: number;
}

/**
 * Our server as `npm start` runs it: the compiled `node dist/main.js serve` (`npm run bench`
 * builds dist/ first), not through tsx, whose source-map support makes every Error and
 * DOMException (yoga's body streams abort one per request) cost more than in production.
 */
function serveCompiled(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ["dist/main.js", "serve"], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${out}`)), 60_000);
    const onData = (d: unknown) => {
      out += String(d);
      const m = /"port":(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      // Keep draining the pipes (a full pipe blocks the child) without keeping what they say.
      child.stdout.off("data", onData);
      child.stderr.off("data", onData);
      child.stdout.resume();
      child.stderr.resume();
      resolve({ child, port: Number(m[1]), inspector: null });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

/** One autocannon burst; `bodies` is drawn from at random per request when it has several. */
async function load(url: string, bodies: string[], seconds: number, overallRate?: number): Promise<Load> {
  let graphqlErrors = 0;
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    connections: 10,
    duration: seconds,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: bodies[Math.floor(Math.random() * bodies.length)] }),
        onResponse: (_status, body) => {
          if (body.includes('"errors"')) graphqlErrors++;
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + graphqlErrors,
  };
}

/**
 * Earlier versions of the recorded observations, written with SQL (not through the pipeline) until
 * the table holds `target` rows: each pass copies every row 5 minutes earlier per pass, as the
 * schedule would have written them, so indexes and plans see a real history. A backfill's seqs:
 * they are above the originals, which does not change what these reads order by (observedAt).
 */
export async function growHistory(url: string, target: number) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const count = async () =>
      Number((await client.query("SELECT count(*)::bigint AS n FROM market_observation")).rows[0].n);
    // Only the recorded rows are copied, not earlier copies: they hold the lowest seqs.
    const top = await client.query("SELECT max(seq) AS seq FROM market_observation");
    if (top.rows[0].seq === null) throw new Error("growHistory: the table is empty, nothing to copy");
    for (let pass = 1; (await count()) < target; pass++) {
      const r = await client.query(
        `INSERT INTO market_observation (seq, asset_id, source, observed_at, price_usd, market_cap_usd,
           volume_24h_usd, change_24h_pct, rank, run_id, committed_at)
         SELECT nextval('market_observation_seq_seq'), asset_id, source, observed_at - $1::interval,
           price_usd * (1 + 0.001 * sin($2::float8 + id)), market_cap_usd, volume_24h_usd, change_24h_pct,
           rank, run_id, committed_at - $1::interval
         FROM market_observation WHERE bar_seconds IS NULL AND seq <= $3::bigint
         ON CONFLICT (asset_id, source, observed_at) DO NOTHING`,
        [`${pass * 5} minutes`, pass, String(top.rows[0].seq)],
      );
      if (r.rowCount === 0)
        throw new Error(`growHistory: pass ${pass} added nothing (no point quotes to copy)`);
    }
    await client.query("ANALYZE market_observation");
    return await count();
  } finally {
    await client.end();
  }
}

/** The `n` assets a frontend asks for most: the best ranked ones with observations. */
export async function topAssetIds(url: string, n: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query(
      `SELECT a.id FROM asset a WHERE EXISTS (SELECT 1 FROM latest_price l WHERE l.asset_id = a.id)
       ORDER BY (SELECT min(o.rank) FROM latest_price l JOIN market_observation o ON o.id = l.observation_id
                 WHERE l.asset_id = a.id) NULLS LAST, a.id LIMIT $1`,
      [n],
    );
    return r.rows.map((x) => String(x.id));
  } finally {
    await client.end();
  }
}

export async function benchQueries(
  label: string,
  env: Record<string, string>,
  options: { quick: boolean; assetIds: string[] | null },
) {
  const seconds = options.quick ? 2 : 5;
  const rounds = options.quick ? 1 : 3;
  const serve = (extra: Record<string, string>) =>
    serveCompiled({
      ...env,
      PORT: "0",
      HOST: "127.0.0.1",
      ETL_INTERVAL_SECONDS: "0",
      LOG_LEVEL: "info",
      ...extra,
    });
  const bare = await startProcess(["bench/bare-yoga.ts"], {}, /"port":(\d+)/);
  const bareUrl = `http://127.0.0.1:${bare.port}/graphql`;
  const hello = [JSON.stringify({ query: "{ hello }" })];
  const page = [JSON.stringify({ query: PAGE_QUERY })];
  const stub = [JSON.stringify({ query: "{ __typename }" })];
  const varied =
    options.assetIds?.map((a) => JSON.stringify({ query: ASSET_QUERY, variables: { a } })) ?? null;
  let errors = 0;

  /**
   * Rounds of bare yoga then each shape, interleaved; per shape the median ratio and the peak, and
   * for the shapes in `p99For` the p99 at half that peak (a 5 s load each: only where reported).
   */
  async function measure(url: string, shapes: Record<string, string[]>, p99For: string[] = []) {
    const names = Object.keys(shapes);
    const ratios = Object.fromEntries(names.map((n) => [n, [] as number[]]));
    const peaks = Object.fromEntries(names.map((n) => [n, 0]));
    for (let r = 0; r < rounds; r++) {
      const base = await load(bareUrl, hello, seconds);
      for (const [name, bodies] of Object.entries(shapes)) {
        const x = await load(url, bodies, seconds);
        errors += x.errors;
        ratios[name]!.push(x.rps / base.rps);
        peaks[name] = Math.max(peaks[name]!, x.rps);
      }
    }
    const out: Record<string, { ratio: number; peak: number; p99: number }> = {};
    for (const [name, bodies] of Object.entries(shapes)) {
      let p99 = Number.NaN;
      if (p99For.includes(name)) {
        const half = await load(url, bodies, seconds, Math.max(1, Math.round(peaks[name]! / 2)));
        errors += half.errors;
        p99 = half.p99;
      }
      out[name] = { ratio: median(ratios[name]!), peak: peaks[name]!, p99 };
    }
    return out;
  }

  const shapes: Record<string, string[]> = { page, stub, ...(varied ? { varied } : {}) };
  log(`${label} queries, response cache on`);
  const ours = await serve({});
  const cached = await measure(`http://127.0.0.1:${ours.port}/graphql`, shapes);
  await stop(ours.child);
  // The same server with its response cache off: what a read costs when the cache cannot answer
  // (the first read after every commit, a shape nobody asked for yet). Started after ours has
  // stopped: PGlite is one process's database.
  log(`${label} queries, response cache off`);
  const cold = await serve({ RESPONSE_CACHE_TTL_SECONDS: "0" });
  const uncached = await measure(`http://127.0.0.1:${cold.port}/graphql`, shapes, ["page", "varied"]);
  await stop(cold.child);
  await stop(bare.child);

  const pg = label === "PostgreSQL";
  const ratioRow = (
    metric: string,
    r: { ratio: number; peak: number },
    min: number,
    scenario = `query (${label})`,
  ) =>
    row({
      scenario,
      metric,
      value: r.peak,
      baseline: null,
      ratio: r.ratio,
      target: pg ? `>= ${min}` : null,
      check: pg ? (x) => x >= min : undefined,
    });
  const p99Row = (metric: string, r: { p99: number }, max: number) =>
    row({
      scenario: `query (${label})`,
      metric,
      value: r.p99,
      baseline: null,
      ratio: null,
      target: pg ? `<= ${max}` : null,
      check: pg ? (_r, v) => v <= max : undefined,
    });
  ratioRow("marketData(first: 100), cache on, req/s vs bare yoga { hello }", cached.page!, 0.3);
  ratioRow("marketData(first: 100), cache off, req/s vs bare yoga { hello }", uncached.page!, 0.25);
  p99Row("marketData(first: 100), cache off, p99 ms at half its peak", uncached.page!, 20);
  if (varied) {
    ratioRow(
      `marketData(assetIds: [one of top ${varied.length}], first: 20), cache on, req/s vs bare yoga`,
      cached.varied!,
      0.6,
    );
    ratioRow(
      `marketData(assetIds: [one of top ${varied.length}], first: 20), cache off, req/s vs bare yoga`,
      uncached.varied!,
      0.55,
    );
    p99Row(
      "marketData(assetIds: [...], first: 20), cache off, p99 ms at half its peak",
      uncached.varied!,
      20,
    );
  }
  const overhead = `query overhead (${label})`;
  ratioRow("{ __typename }, cache on, req/s vs bare yoga { hello }", cached.stub!, 0.7, overhead);
  ratioRow("{ __typename }, cache off, req/s vs bare yoga { hello }", uncached.stub!, 0.7, overhead);
  row({
    scenario: `query (${label})`,
    metric: "errors under load (transport, non-2xx, GraphQL errors)",
    value: errors,
    baseline: null,
    ratio: null,
    target: "= 0",
    check: (_r, v) => v === 0,
  });
}

/** PostgreSQL: the end-to-end run's data grown to a history, then every read scenario. */
export async function benchPostgresQueries(url: string, quick: boolean) {
  // --quick keeps CI short: the same scenarios on a smaller history.
  const target = quick ? 20_000 : HISTORY_ROWS;
  const size = await growHistory(url, target);
  log(`query history: ${size} observations`);
  row({
    scenario: "query (PostgreSQL)",
    metric: "observations in the table the reads run on",
    value: size,
    baseline: null,
    ratio: null,
    target: quick ? null : `>= ${HISTORY_ROWS}`,
    check: quick ? undefined : (_r, v) => v >= HISTORY_ROWS,
  });
  const assetIds = await topAssetIds(url, VARIED_ASSETS);
  await benchQueries("PostgreSQL", { DATABASE_URL: url }, { quick, assetIds });
}

/** PGlite: the same server on the embedded database, after one CSV run to have data. */
export async function benchPgliteQueries(quick: boolean) {
  const root = mkdtempSync(join(tmpdir(), "coinflow-bench-lite-"));
  const dataDir = join(root, "data");
  await new Promise<void>((resolve) => {
    const etl = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "etl", "--source", "csv"], {
      env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    etl.once("exit", () => resolve());
  });
  await benchQueries("PGlite", { DATA_DIR: dataDir }, { quick, assetIds: null });
  rmSync(root, { recursive: true, force: true });
}
