import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import pg from "pg";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createEmptyPostgresDatabase, postgresAdminUrl } from "../support/databases.ts";
import { commandOf, descendantsOf, isAlive } from "../support/process-tree.ts";

/**
 * SIGTERM and SIGINT sent to the top process of the real start commands: `npm start` as a user
 * types it, and the Docker image's CMD (read from the Dockerfile, run here as PID 1 of a new PID
 * namespace when the machine allows it, as in a container; no Docker engine on these machines).
 * Each must run the documented shutdown: the run in flight ends FAILED (interrupted) with only
 * whole batches written, WebSockets close with 1001, the port is released, no process is left.
 */
const dockerfile = readFileSync("Dockerfile", "utf8");
const runtimeStage = dockerfile.slice([...dockerfile.matchAll(/^FROM .*$/gm)].at(-1)!.index);
const CMD: string[] = JSON.parse(/^CMD (\[.*\])$/m.exec(runtimeStage)![1]!);
/** The runtime stage's ENV, as the container gets it. */
const IMAGE_ENV = Object.fromEntries(
  [...(/^ENV ((?:.*\\\n)*.*)$/m.exec(runtimeStage)?.[1] ?? "").matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [
    m[1]!,
    m[2]!,
  ]),
);
// Root with unshare (Linux): the CMD really is PID 1, which gets no default signal action.
const CAN_BE_PID1 =
  spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"], { stdio: "ignore" }).status === 0;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

beforeAll(() => {
  // The container's argv runs dist/ as it is: compile it from the current sources first (a no-op
  // when current; npm start does the same through its prestart).
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { encoding: "utf8" });
  expect(build.status, build.stdout + build.stderr).toBe(0);
}, 180_000);

interface Started {
  top: ChildProcess;
  /** The process the signal goes to: npm itself, or the container's main process. */
  target: number;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

async function start(argv: string[], env: Record<string, string>): Promise<Started> {
  const top = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  top.stdout?.on("data", (d) => {
    out += String(d);
  });
  top.stderr?.on("data", (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => top.once("exit", (code) => resolve(code)));
  // Never leave a service behind a failed test: the whole tree, by pid (known pids too: an
  // orphan is no descendant any more).
  const known = new Set<number>([top.pid!]);
  top.stdout?.once("data", () => {
    for (const pid of descendantsOf(top.pid!)) known.add(pid);
  });
  cleanups.push(() => {
    for (const pid of new Set([...descendantsOf(top.pid!), ...known, top.pid!])) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening after 90 s:\n${out}`)), 90_000);
    top.stdout?.on("data", () => {
      const m = /"port":(\d+)[^\n]*"msg":"listening/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    top.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${out}`));
    });
  });
  for (const pid of descendantsOf(top.pid!)) known.add(pid);
  return { top, target: top.pid!, port, output: () => out, exited };
}

/** A graphql-ws connection with an open subscription, and its close code to come. */
async function subscriber(port: number): Promise<{ closed: Promise<number> }> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, "graphql-transport-ws");
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    socket.on("message", (data) => {
      if (JSON.parse(String(data)).type !== "connection_ack") return;
      socket.send(
        JSON.stringify({
          id: "1",
          type: "subscribe",
          payload: { query: "subscription { etlRunEvents { status } }" },
        }),
      );
      resolve();
    });
  });
  // Wrapped: an async function returning a bare promise would wait for it.
  return { closed };
}

/** Waits until the run is RUNNING with batches committed, and returns it; fails if it ended first. */
async function runInFlight(db: pg.Client) {
  for (let i = 0; i < 600; i++) {
    // Per-batch counters live on the source runs (the run's own are rolled up at its end).
    const { rows } = await db.query(
      `SELECT r.id, r.status, coalesce(sum(s.written), 0)::int AS written
         FROM etl_run r LEFT JOIN source_run s ON s.run_id = r.id
        GROUP BY r.id ORDER BY r.id DESC LIMIT 1`,
    );
    if (rows[0] && rows[0].status !== "RUNNING")
      throw new Error(`the run ended before the signal: ${rows[0].status}`);
    if (rows[0]?.written > 0) return rows[0];
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no run with committed batches within 15 s");
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

type Variant = { name: string; signal: NodeJS.Signals; argv: () => string[]; env: Record<string, string> };
const VARIANTS: Variant[] = [
  { name: "npm start", signal: "SIGTERM", argv: () => ["npm", "start"], env: {} },
  { name: "npm start", signal: "SIGINT", argv: () => ["npm", "start"], env: {} },
  {
    name: `the Dockerfile's CMD (${CMD.join(" ")})${CAN_BE_PID1 ? " as PID 1" : ""}`,
    signal: "SIGTERM",
    argv: () => (CAN_BE_PID1 ? ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", ...CMD] : CMD),
    env: IMAGE_ENV,
  },
];

describe.skipIf(!postgresAdminUrl)("signals reach the service", () => {
  it("the Dockerfile's CMD starts node itself, and npm start execs it (no shell in between)", () => {
    expect(CMD[0]).toBe("node");
    expect(JSON.parse(readFileSync("package.json", "utf8")).scripts.start).toBe(`exec ${CMD.join(" ")}`);
  });

  it.each(VARIANTS)(
    "$signal to $name: run FAILED (interrupted) with whole batches, WebSockets 1001, port released, no process left",
    async ({ signal, argv, env }) => {
      const { url, drop } = await createEmptyPostgresDatabase();
      cleanups.push(drop);
      const started = await start(argv(), {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/root",
        ...env,
        DATABASE_URL: url,
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "info",
        // The startup run: the seed CSV, one row per transaction, so that it is mid-way when the
        // signal lands.
        ETL_INTERVAL_SECONDS: "300",
        ETL_SOURCES: "csv",
        ETL_BATCH_SIZE: "1",
      });
      if (argv()[0] === "unshare") {
        // The container's main process: PID 1 of its namespace, the child of unshare here.
        const main = descendantsOf(started.top.pid!).find((p) =>
          commandOf(p).includes(CMD.slice(1).join(" ")),
        );
        expect(main).toBeDefined();
        expect(readFileSync(`/proc/${main}/status`, "utf8")).toMatch(/^NSpid:\s+\d+\s+1$/m);
        started.target = main!;
      }
      const { closed: closeCode } = await subscriber(started.port);
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      cleanups.push(() => db.end());
      const run = await runInFlight(db);
      const tree = [started.top.pid!, ...descendantsOf(started.top.pid!)];

      process.kill(started.target, signal);
      const code = await Promise.race([
        started.exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`still running 30 s after ${signal}:\n${started.output()}`)),
            30_000,
          ),
        ),
      ]);

      expect(code).toBe(0);
      const out = started.output();
      expect(out).toContain(`"signal":"${signal}","msg":"shutting down"`);
      expect(out).toContain('"msg":"stopped"');
      expect(await closeCode).toBe(1001);
      const { rows } = await db.query(
        `SELECT r.status, r.error, (SELECT sum(written)::int FROM source_run WHERE run_id = r.id) AS written
         FROM etl_run r WHERE r.id = $1`,
        [run.id],
      );
      expect(rows[0].status).toBe("FAILED");
      expect(rows[0].error).toContain(`interrupted by ${signal}`);
      // The batch in flight rolled back: the rows written are exactly the counted, committed ones.
      const observations = await db.query(`SELECT count(*)::int AS n FROM market_observation`);
      expect(observations.rows[0].n).toBe(rows[0].written);
      expect(rows[0].written).toBeLessThan(1092);
      expect(await portIsFree(started.port)).toBe(true);
      const left = tree.filter(isAlive);
      expect(left.map((p) => `${p} ${commandOf(p)}`)).toEqual([]);
    },
    150_000,
  );
});
