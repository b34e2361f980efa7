// The #16 read shapes measured by the server's own CPU time per request (utime + stime of the
// service process from /proc), which the other work on a shared, loaded machine does not inflate
// the way it inflates req/s. BENCHMARKS.md "Reads without the cache (#16)" records its figures.
//
//   tsx bench/read-cpu.ts --prepare            create + load the database (once; ~1-2 min)
//   tsx bench/read-cpu.ts [--rounds=5] [--requests=300] [--only=page,varied,typename]
//                         [--cpu-prof=DIR] [--cache] [--pglite=DIR] [--compare=OTHER_CHECKOUT] [--dist]
//
// Each round sends every shape `requests` times (4 concurrent, keep-alive) to our server
// (RESPONSE_CACHE_TTL_SECONDS=0 unless --cache) and `{ hello }` to a bare yoga, interleaved;
// reported: the median over rounds of each process's CPU ms per request, and our CPU per request
// over bare yoga's (the inverse of the throughput ratio a CPU-bound server would reach).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import pg from "pg";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config/config.ts";
import { createDatabase } from "../src/db/database.ts";
import { migrate } from "../src/db/migrator.ts";
import { createLogger } from "../src/logger/logger.ts";
import { startReplayServer } from "../test/support/replay-server.ts";
import { type Started, startProcess, stop } from "./processes.ts";
import { ASSET_QUERY, growHistory, PAGE_QUERY, topAssetIds } from "./queries.ts";
import { median } from "./results.ts";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const ADMIN = process.env.TEST_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/postgres";
const NAME = arg("db") ?? "coinflow_read_cpu";
const url = new URL(ADMIN);
url.pathname = `/${NAME}`;
const DB_URL = url.toString();

async function prepare() {
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${NAME}`);
  await admin.end();
  const logger = createLogger({ level: "silent" });
  const db = await createDatabase({ url: DB_URL, dataDir: "unused", logger });
  await migrate(db, logger);
  const replay = await startReplayServer();
  const config = parseConfig({
    COINGECKO_BASE_URL: replay.coingeckoBase,
    COINPAPRIKA_BASE_URL: replay.coinpaprikaBase,
    COINPAPRIKA_MAX_ASSETS: "2500",
    RAW_PAYLOAD_RETENTION_DAYS: "0",
  });
  const { runner } = createApp({ config, db, logger, crossProcessEvents: false });
  await runner.run({ trigger: "CLI" });
  await db.close();
  await replay.close();
  console.log(`${NAME}: ${await growHistory(DB_URL, 250_000)} observations`);
}

/** utime + stime of a process, ms (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms of the database backends serving our server (PostgreSQL: its pool's connections). */
async function backendCpuMs(): Promise<number> {
  const c = new pg.Client({ connectionString: DB_URL });
  await c.connect();
  try {
    const r = await c.query(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'coinflow'",
      [NAME],
    );
    let sum = 0;
    for (const { pid } of r.rows) {
      try {
        sum += cpuMs(pid);
      } catch {
        // gone since
      }
    }
    return sum;
  } finally {
    await c.end();
  }
}

async function send(target: string, bodies: string[], amount: number) {
  let bad = 0;
  const r = await autocannon({
    url: target,
    method: "POST",
    headers: { "content-type": "application/json" },
    connections: 4,
    amount,
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: bodies[Math.floor(Math.random() * bodies.length)] }),
        onResponse: (_s, body) => {
          if (body.includes('"errors"')) bad++;
        },
      },
    ],
  });
  return bad + r.errors + r.non2xx;
}

/** Our server from `cwd` (a checkout of another version, to compare in the same run). */
function serveFrom(cwd: string, env: Record<string, string>, nodeArgs: string[]): Promise<Started> {
  // --dist: the compiled service (`npm start`, the image's CMD); else through tsx, as bench/queries.ts.
  const main = process.argv.includes("--dist") ? ["dist/main.js"] : ["--import", "tsx", "src/main.ts"];
  const child = spawn(process.execPath, [...nodeArgs, ...main, "serve"], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (d: unknown) => {
      out += String(d);
      const m = /"port":(\d+)/.exec(out);
      if (!m) return;
      child.stdout.off("data", onData);
      child.stdout.resume();
      child.stderr.resume();
      resolve({ child, port: Number(m[1]), inspector: null });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => {
      out += String(d);
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

async function measure() {
  const rounds = Number(arg("rounds") ?? 5);
  const amount = Number(arg("requests") ?? 300);
  const profDir = arg("cpu-prof");
  const pglite = arg("pglite");
  const compare = arg("compare");
  const env: Record<string, string> = {
    ...(pglite ? { DATA_DIR: pglite } : { DATABASE_URL: DB_URL }),
    PORT: "0",
    HOST: "127.0.0.1",
    ETL_INTERVAL_SECONDS: "0",
    LOG_LEVEL: "info",
    RESPONSE_CACHE_TTL_SECONDS: process.argv.includes("--cache") ? "60" : "0",
  };
  const nodeArgs = profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];
  const servers: Record<string, Started> = { ours: await serveFrom(process.cwd(), env, nodeArgs) };
  // PGlite is one process's database: a second server cannot open it.
  if (compare && !pglite) servers.base = await serveFrom(compare, env, nodeArgs);
  const bare = await startProcess(["bench/bare-yoga.ts"], {}, /"port":(\d+)/, { nodeArgs });
  const ids = pglite ? ["1", "2", "3"] : await topAssetIds(DB_URL, 300);
  const bodies: Record<string, string[]> = {
    typename: [JSON.stringify({ query: "{ __typename }" })],
    page: [JSON.stringify({ query: PAGE_QUERY })],
    varied: ids.map((a) => JSON.stringify({ query: ASSET_QUERY, variables: { a } })),
  };
  const only = arg("only")?.split(",");
  const shapes: { name: string; pid: number; target: string; bodies: string[]; database: boolean }[] = [
    {
      name: "hello (bare yoga)",
      pid: bare.child.pid!,
      target: `http://127.0.0.1:${bare.port}/graphql`,
      bodies: [JSON.stringify({ query: "{ hello }" })],
      database: false,
    },
  ];
  for (const [shape, b] of Object.entries(bodies)) {
    if (only && !only.includes(shape)) continue;
    for (const [server, s] of Object.entries(servers)) {
      shapes.push({
        name: `${shape} (${server})`,
        pid: s.child.pid!,
        target: `http://127.0.0.1:${s.port}/graphql`,
        bodies: b,
        database: !pglite,
      });
    }
  }
  // Warm-up: every shape's first compile (Prisma plans, yoga's caches, V8's JIT).
  for (let i = 0; i < 3; i++) for (const s of shapes) await send(s.target, s.bodies, amount);
  const cpu = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
  const db = new Map<string, number[]>(shapes.map((s) => [s.name, []]));
  let errors = 0;
  for (let r = 0; r < rounds; r++) {
    for (const s of shapes) {
      await sleep(50);
      const dbBefore = s.database ? await backendCpuMs() : 0;
      const before = cpuMs(s.pid);
      errors += await send(s.target, s.bodies, amount);
      await sleep(50);
      cpu.get(s.name)!.push((cpuMs(s.pid) - before) / amount);
      db.get(s.name)!.push(s.database ? ((await backendCpuMs()) - dbBefore) / amount : 0);
    }
  }
  for (const s of Object.values(servers)) await stop(s.child);
  await stop(bare.child);
  const hello = median(cpu.get(shapes[0]!.name)!);
  console.log(
    `${new Date().toISOString()} rounds ${rounds} x ${amount} requests, 4 concurrent; errors ${errors}`,
  );
  for (const s of shapes) {
    const m = median(cpu.get(s.name)!);
    const rounds = cpu
      .get(s.name)!
      .map((x) => x.toFixed(2))
      .join(" ");
    const database = s.database
      ? `  database ${median(db.get(s.name)!).toFixed(3)}  bare/ours ${(hello / m).toFixed(3)}`
      : "";
    console.log(`${s.name.padEnd(18)} server CPU ms/req ${m.toFixed(3)} [${rounds}]${database}`);
  }
}

if (process.argv.includes("--prepare")) await prepare();
else await measure();
