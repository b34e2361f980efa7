// The growth scenario (#19): PostgreSQL databases holding 0.3 M, 3 M and 10 M observations
// (--quick: 20k, 60k, 200k), each a copy of the one before grown further with SQL, as the
// schedule would have written them (growth-history.ts). All sizes are then measured together,
// interleaved request by request, so the machine's load weighs on each alike: the median latency
// of every public query in the README (response cache off), and the write path's rows/s vs COPY
// into the same table (growth-writes.ts). Targets: at the largest size no query slower than 1.5x
// its figure at the smallest; the write path >= 0.35 of COPY there.
import { type DocumentNode, type FieldNode, Kind, type OperationDefinitionNode, parse, print } from "graphql";
import pg from "pg";
import { createDatabase } from "../src/db/database.ts";
import { migrate } from "../src/db/migrator.ts";
import type { Logger } from "../src/logger/logger.ts";
import { readmeBlocks } from "../test/support/readme.ts";
import { grow, rollupsMatchRaw, type Seed, SLOT_MS, seed } from "./growth-history.ts";
import { createWriteBench } from "./growth-writes.ts";
import { type Started, startProcess, stop } from "./processes.ts";
import { log, median, row } from "./results.ts";

/** The README's query examples, one operation per top-level field (mutations and subscriptions excluded). */
export function readmeQueries(): { name: string; query: string }[] {
  const out: { name: string; query: string }[] = [];
  for (const [i, block] of readmeBlocks()
    .filter((b) => b.lang === "graphql")
    .entries()) {
    const example = i + 1;
    const doc = parse(block.code);
    for (const def of doc.definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION || def.operation !== "query") continue;
      for (const field of def.selectionSet.selections) {
        if (field.kind !== Kind.FIELD) continue;
        const single: DocumentNode = {
          kind: Kind.DOCUMENT,
          definitions: [
            {
              ...def,
              selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
            } satisfies OperationDefinitionNode,
          ],
        };
        out.push({ name: `${signature(field)} (README example ${example})`, query: print(single) });
      }
    }
  }
  return out;
}

/** `marketData(filter, orderBy, first)`: the field and the names of its arguments. */
const signature = (f: FieldNode) =>
  `${f.name.value}${f.arguments?.length ? `(${f.arguments.map((a) => a.name.value).join(", ")})` : ""}`;

/** One POST; its latency (ms, client side) and any error (non-2xx, GraphQL errors). */
async function request(url: string, query: string): Promise<{ ms: number; error: string | null }> {
  const started = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query }),
  });
  const body = await res.text();
  const ms = performance.now() - started;
  return { ms, error: !res.ok || body.includes('"errors"') ? `${res.status} ${body.slice(0, 300)}` : null };
}

/** CREATE DATABASE, from a template when given (retried while autovacuum still reads it). */
async function createDb(adminUrl: string, name: string, template: string | null) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // Names are built from integers (pid, index): safe as identifiers.
        await admin.query(
          template
            ? `CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`
            : `CREATE DATABASE ${name}`,
        );
        break;
      } catch (error) {
        if (attempt >= 30 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDbs(adminUrl: string, names: string[]) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

const label = (n: number) => (n >= 1e6 ? `${n / 1e6} M` : `${n / 1e3}k`);

/** `keep`: the databases are left for EXPLAIN ANALYZE (their URLs are logged). */
export async function benchGrowth(adminUrl: string, quick: boolean, logger: Logger, keep = false) {
  const sizes = quick ? [20_000, 60_000, 200_000] : [300_000, 3_000_000, 10_000_000];
  const rounds = 7;
  const writeRounds = quick ? 2 : 3;
  const writeSlots = quick ? 2 : 8;
  const started = performance.now();
  const grown: { name: string; url: string; observations: number; runs: number }[] = [];
  let s: Seed | null = null;
  let k = 0;
  let rollupsOk = true;
  const servers: Started[] = [];
  try {
    for (const [i, size] of sizes.entries()) {
      const name = `coinflow_growth_${process.pid}_${i}`;
      const url = await createDb(adminUrl, name, grown[i - 1]?.name ?? null);
      grown.push({ name, url, observations: 0, runs: 0 });
      const db = await createDatabase({ url, dataDir: "unused", logger });
      try {
        if (!s) {
          await migrate(db, logger);
          s = await seed(db, url, logger);
          log(`growth: seed run ${s.runId}, ${s.rows} observations at ${s.at.toISOString()}`);
        }
        const growStarted = performance.now();
        k = await grow(db, url, s, k, size);
        const [count] = await db.prisma.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM market_observation`;
        grown[i] = { name, url, observations: count?.n ?? 0, runs: k + 1 };
        log(
          `growth: ${count?.n} observations, ${k + 1} runs over ${((k * SLOT_MS) / 86_400_000).toFixed(1)} days (grown in ${Math.round((performance.now() - growStarted) / 1000)} s)`,
        );
        if (quick || i === 0) rollupsOk &&= await rollupsMatchRaw(db);
      } finally {
        await db.close();
      }
    }
    const seedRun = s!;
    // The README's run "1" is read as the seed run, which every size holds (its rejected
    // records, anomalies and price aggregate are the pipeline's own).
    const queries = [
      { name: "{ __typename } (control: the stack without data)", query: "{ __typename }" },
      ...readmeQueries().map((q) => ({
        ...q,
        query: q.query.replace(/\b(id|base|head): "1"/g, `$1: "${seedRun.runId}"`),
      })),
    ];
    servers.push(
      ...(await Promise.all(
        grown.map((g) =>
          startProcess(
            ["src/main.ts", "serve"],
            {
              DATABASE_URL: g.url,
              PORT: "0",
              HOST: "127.0.0.1",
              ETL_INTERVAL_SECONDS: "0",
              RESPONSE_CACHE_TTL_SECONDS: "0",
              LOG_LEVEL: "info",
            },
            /"port":(\d+)/,
          ),
        ),
      )),
    );
    // Each query at each size in turn, the order of the sizes rotated every round; rounds below 0
    // are not counted (each shape's first compile in Prisma, cold caches).
    const latency = new Map(queries.map((q) => [q.name, sizes.map(() => [] as number[])]));
    const errors: string[] = [];
    for (let r = -3; r < rounds; r++) {
      for (const q of queries) {
        for (let j = 0; j < sizes.length; j++) {
          const i = (j + r + 3) % sizes.length;
          const x = await request(`http://127.0.0.1:${servers[i]!.port}/graphql`, q.query);
          if (x.error) errors.push(`${q.name} at ${label(sizes[i]!)}: ${x.error}`);
          if (r >= 0) latency.get(q.name)![i]!.push(x.ms);
        }
      }
    }
    for (const server of servers.splice(0)) await stop(server.child);

    // The write path, rounds interleaved across the sizes.
    const dbs = await Promise.all(
      grown.map((g) => createDatabase({ url: g.url, dataDir: "unused", logger })),
    );
    const benches = await Promise.all(
      dbs.map((db, i) => createWriteBench(db, grown[i]!.url, seedRun, writeSlots)),
    );
    const writes = sizes.map(() => ({ rates: [] as number[], ratios: [] as number[] }));
    for (let r = 0; r < writeRounds; r++) {
      for (const [i, bench] of benches.entries()) {
        const x = await bench.round();
        writes[i]!.rates.push(x.rate);
        writes[i]!.ratios.push(x.ratio);
      }
    }
    for (const bench of benches) await bench.close();
    for (const db of dbs) await db.close();

    const first = sizes[0]!;
    const lastIndex = sizes.length - 1;
    for (const q of queries) {
      const ms = latency.get(q.name)!.map(median);
      sizes.forEach((size, i) => {
        const gated = i === lastIndex && !q.name.startsWith("{ __typename }");
        row({
          scenario: "growth",
          metric: `${q.name}, median ms of ${rounds}, cache off, at ${label(size)} vs ${label(first)}`,
          value: ms[i]!,
          baseline: ms[0]!,
          target: gated ? "<= 1.5" : null,
          check: gated ? (x) => x <= 1.5 : undefined,
        });
      });
    }
    sizes.forEach((size, i) => {
      const rate = median(writes[i]!.rates);
      const ratio = median(writes[i]!.ratios);
      const gated = i === lastIndex;
      row({
        scenario: "growth",
        metric: `write path rows/s (${benches[i]!.rows} live quotes in ${writeSlots} slots, median of ${writeRounds}) vs COPY into the same table, at ${label(size)}`,
        value: rate,
        baseline: rate / ratio,
        ratio,
        target: gated ? ">= 0.35" : null,
        check: gated ? (x) => x >= 0.35 : undefined,
      });
    });
    const last = sizes[lastIndex]!;
    row({
      scenario: "growth",
      metric: `observations at each size (${grown.map((g) => `${g.observations} in ${g.runs} runs`).join(", ")}), largest`,
      value: grown[lastIndex]?.observations ?? 0,
      baseline: null,
      target: `>= ${last}`,
      ratio: null,
      check: (_r, v) => v >= last,
    });
    row({
      scenario: "growth",
      metric: "generated rollups give the raw rows' candles (best-ranked asset, H1 and D1; 1 = yes)",
      value: rollupsOk ? 1 : 0,
      baseline: null,
      target: "= 1",
      ratio: null,
      check: (_r, v) => v === 1,
    });
    for (const e of errors.slice(0, 5)) log(`growth error: ${e}`);
    row({
      scenario: "growth",
      metric: "query errors (non-2xx, GraphQL errors)",
      value: errors.length,
      baseline: null,
      target: "= 0",
      ratio: null,
      check: (_r, v) => v === 0,
    });
    row({
      scenario: "growth",
      metric: "seconds for the whole scenario",
      value: (performance.now() - started) / 1000,
      baseline: null,
      target: null,
    });
  } finally {
    for (const server of servers) await stop(server.child);
    if (keep) log(`growth databases kept: ${grown.map((g) => g.url).join(" ")}`);
    else
      await dropDbs(
        adminUrl,
        grown.map((g) => g.name),
      );
  }
}
