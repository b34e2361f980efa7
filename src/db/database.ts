import type { Socket } from "node:net";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import { lockDataDir } from "./pglite-lock.ts";
import { type PgliteThread, startPgliteThread } from "./pglite-thread.ts";
import { createPgliteThreadAdapter } from "./pglite-thread-adapter.ts";
import type { SqlConnection, SqlRunner } from "./sql-connection.ts";

export type { PrismaClient } from "../generated/prisma/client.ts";
/** The client inside a `$transaction` callback. */
export type Tx = import("../generated/prisma/client.ts").Prisma.TransactionClient;

export interface Database {
  kind: "postgres" | "pglite";
  prisma: PrismaClient;
  /** A dedicated connection (locks, LISTEN, migrations). Release it when done. */
  connect(options?: ConnectOptions): Promise<SqlConnection>;
  /** The driver pool (PostgreSQL only): COPY and other driver-level work. */
  pool?: pg.Pool;
  /**
   * One parameterized read statement outside Prisma, rows as arrays in select order: the hot
   * read path (market-data-read.ts), which pays neither Prisma's runtime nor the driver adapter.
   * Values come as the driver parses them; select only types both databases give alike (text,
   * int4, float8). On PostgreSQL it runs on the pool; with `prepare`, the statement is prepared
   * once per connection (see preparedNames) and its generic plan kept, so only give it for
   * statements whose one plan suits every value. On PGlite it runs on its thread.
   */
  readRows(text: string, values: readonly unknown[], prepare?: boolean): Promise<unknown[][]>;
  close(): Promise<void>;
}

/**
 * Distinct statements kept prepared per pooled connection: PostgreSQL then plans a shape once
 * (its generic plan) instead of per request, which costs more than executing these reads (a
 * page of 100 with its assets: ~0.6 ms of database CPU planned per request, ~0.2 ms prepared;
 * the table is partitioned, and the planner considers every partition). Statement
 * texts are built from a query's selection, which clients choose: beyond this many, a new text
 * runs unnamed (planned each time), so a client cannot grow every backend's memory without bound.
 */
export const MAX_PREPARED_READS = 200;

/** The name `text` is prepared under, or undefined once MAX_PREPARED_READS names are taken. */
export function preparedNames(max = MAX_PREPARED_READS): (text: string) => string | undefined {
  const names = new Map<string, string>();
  return (text) => {
    let name = names.get(text);
    if (name === undefined && names.size < max) {
      name = `coinflow_read_${names.size}`;
      names.set(text, name);
    }
    return name;
  };
}

export interface ConnectOptions {
  /** Shown in pg_stat_activity (operators, and tests that terminate a given connection). */
  applicationName?: string;
  /** LISTEN notifications on this connection. */
  onNotification?: (payload: string) => void;
  /**
   * Long-lived idle connections (run lock, LISTEN): a `SELECT 1` every heartbeatMs that must
   * answer within heartbeatMs, else the connection is dropped and `closed` resolves. A server
   * that vanished without a FIN (host down, network partition) is noticed in seconds, not hours.
   */
  heartbeat?: boolean;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; unset = embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory; "memory://" for an in-memory database. */
  dataDir: string;
  logger: Logger;
  poolSize?: number;
  /** DB_HEARTBEAT_MS, for connections opened with `heartbeat`. */
  heartbeatMs?: number;
}

/** Idle time before the kernel starts probing a silent TCP peer. */
const KEEPALIVE_DELAY_MS = 10_000;

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  const db = options.url ? createPostgres(options.url, options) : await createPglite(options.dataDir);
  // Prisma starts its query compiler (WASM) on first use: 50-90 ms of synchronous work that would
  // otherwise land in the first run or request and stall everything sharing the event loop. Done
  // here, it happens while the process starts: $connect loads the compiler, and one compiled model
  // query finishes warming it. The query may fail (no tables before the first migration, or no
  // server yet): compiling is all it is for.
  await db.prisma.$connect();
  await db.prisma.etlRun.findFirst({ select: { id: true }, where: { id: -1 } }).catch(() => undefined);
  return db;
}

function createPostgres(url: string, options: DatabaseOptions): Database {
  const log = options.logger.child({ module: "db" });
  const pool = new pg.Pool({
    connectionString: url,
    application_name: "coinflow",
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  });
  // An idle client killed by the server (restart, pg_terminate_backend) emits here; without a
  // listener Node would crash the process. The pool replaces it on next checkout.
  pool.on("error", (error) => log.warn({ err: error.message }, "idle database connection lost"));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const preparedName = preparedNames();
  return {
    kind: "postgres",
    prisma,
    pool,
    async readRows(text, values, prepare = false) {
      const result = await pool.query({
        name: prepare ? preparedName(text) : undefined,
        text,
        values: values as unknown[],
        rowMode: "array",
      });
      return result.rows as unknown[][];
    },
    async connect(connectOptions?: ConnectOptions) {
      const client = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: 5_000,
        application_name: connectOptions?.applicationName ?? "coinflow",
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      });
      // pg has no public way to drop a connection that stopped answering: its socket.
      const destroy = () =>
        (client as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
      if (connectOptions?.onNotification) {
        const onNotification = connectOptions.onNotification;
        client.on("notification", (n) => {
          if (n.payload) onNotification(n.payload);
        });
      }
      let resolveClosed!: (error: Error | undefined) => void;
      const closed = new Promise<Error | undefined>((resolve) => {
        resolveClosed = resolve;
      });
      client.on("error", (error) => {
        log.warn({ err: error.message }, "dedicated database connection lost");
        resolveClosed(error);
      });
      client.on("end", () => resolveClosed(undefined));
      await client.connect();
      const heartbeatMs = options.heartbeatMs ?? 10_000;
      let beating = false;
      const heartbeat = connectOptions?.heartbeat
        ? setInterval(async () => {
            if (beating) return;
            beating = true;
            try {
              // pg reads query_timeout per query (its types only know it on the client config).
              await client.query({ text: "SELECT 1", query_timeout: heartbeatMs } as pg.QueryConfig);
            } catch (error) {
              clearInterval(heartbeat);
              const lost = new Error(`database heartbeat failed: ${(error as Error).message}`);
              log.warn({ err: lost.message }, "dedicated database connection lost");
              resolveClosed(lost);
              destroy();
            } finally {
              beating = false;
            }
          }, heartbeatMs)
        : undefined;
      heartbeat?.unref();
      void closed.then(() => clearInterval(heartbeat));
      const runner: SqlRunner = {
        query: async <R>(text: string, params?: unknown[]) => (await client.query(text, params)).rows as R[],
        exec: async (sql: string) => {
          await client.query(sql);
        },
      };
      return {
        ...runner,
        closed,
        async transaction(fn) {
          await client.query("BEGIN");
          try {
            const result = await fn(runner);
            await client.query("COMMIT");
            return result;
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw error;
          }
        },
        async release() {
          clearInterval(heartbeat);
          // A graceful end waits for the server's goodbye, which a vanished server never sends.
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            client.end().catch(() => undefined),
            new Promise<void>((resolve) => {
              timer = setTimeout(() => {
                destroy();
                resolve();
              }, 2_000);
            }),
          ]);
          clearTimeout(timer);
        },
      };
    },
    async close() {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

/**
 * The embedded database runs in a worker thread (pglite-thread.ts): its queries no longer stall
 * the server's event loop. It is still this process's database alone (the DATA_DIR lock, taken
 * here in the main thread, names this process), with one session that every caller shares.
 */
async function createPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith("memory://");
  const unlock = inMemory ? () => undefined : lockDataDir(dataDir);
  let thread: PgliteThread;
  try {
    thread = await startPgliteThread(dataDir);
  } catch (error) {
    unlock();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: createPgliteThreadAdapter(thread) });
  const runner = (tx?: number): SqlRunner => ({
    query: <R>(sql: string, params?: unknown[]) => thread.request<R[]>({ op: "query", sql, params, tx }),
    exec: (sql: string) => thread.request<void>({ op: "exec", sql, tx }),
  });
  return {
    kind: "pglite",
    prisma,
    // Rows come as objects from the thread; their keys are in select order (aliases are unique).
    async readRows(text, values) {
      const rows = await thread.request<Record<string, unknown>[]>({
        op: "query",
        sql: text,
        params: values as unknown[],
      });
      return rows.map((row) => Object.values(row));
    },
    async connect(connectOptions?: ConnectOptions) {
      const onNotification = connectOptions?.onNotification;
      const stopListening = onNotification
        ? thread.onNotification((_channel, payload) => onNotification(payload))
        : () => undefined;
      return {
        ...runner(),
        // The one session lives as long as the worker: it is lost only when the thread dies.
        closed: thread.exited,
        async transaction(fn) {
          const tx = await thread.request<number>({ op: "begin" });
          let result: Awaited<ReturnType<typeof fn>>;
          try {
            result = await fn(runner(tx));
          } catch (error) {
            await thread.request({ op: "rollback", tx }).catch(() => undefined);
            throw error;
          }
          await thread.request({ op: "commit", tx });
          return result;
        },
        async release() {
          stopListening();
        },
      };
    },
    async close() {
      await prisma.$disconnect();
      await thread.close();
      unlock();
    },
  };
}
