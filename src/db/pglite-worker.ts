// The embedded database's thread (started by pglite-thread.ts). PGlite is PostgreSQL compiled to
// WebAssembly: every statement runs synchronously on the thread that owns it, so on the main
// thread a burst of writes stalled the server (1.1-1.2 s in the soak). Here it stalls only this
// thread. pglite-prisma-adapter runs here too, beside the database, so Prisma's queries cross the
// thread boundary as plain values and come back already converted.
import { parentPort, workerData } from "node:worker_threads";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import {
  type AdapterTransaction,
  type SqlDriverAdapter,
  serializeError,
  type WorkerMessage,
  type WorkerRequest,
} from "./pglite-protocol.ts";

interface OpenTransaction {
  prisma?: AdapterTransaction;
  sql?: Transaction;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

const port = parentPort;
if (!port) throw new Error("pglite-worker.ts runs as a worker thread (see pglite-thread.ts)");
const post = (message: WorkerMessage) => port.postMessage(message);

const { dataDir } = workerData as { dataDir: string };
let pglite: PGlite;
let adapter: SqlDriverAdapter;
const transactions = new Map<number, OpenTransaction>();
let nextTx = 1;

/**
 * A SqlConnection transaction: PGlite holds its transaction lock while fn's promise is pending,
 * so other statements (Prisma's, outside any transaction) wait as they did in one thread.
 */
function beginSql(): Promise<number> {
  return new Promise((resolve, reject) => {
    let finish!: () => void;
    const done = pglite
      .transaction(async (tx) => {
        const id = nextTx++;
        transactions.set(id, {
          sql: tx,
          commit: async () => {
            finish();
            await done;
          },
          rollback: async () => {
            await tx.rollback();
            finish();
            await done;
          },
        });
        resolve(id);
        await new Promise<void>((r) => {
          finish = r;
        });
      })
      .catch((error: unknown) => {
        reject(error);
        throw error;
      });
    // Rejections reach the caller of begin (above) or of commit/rollback (await done).
    done.catch(() => undefined);
  });
}

function open(tx: number): OpenTransaction {
  const t = transactions.get(tx);
  if (!t) throw new Error(`no open transaction ${tx} in the PGlite worker`);
  return t;
}

async function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.op) {
    case "queryRaw":
      return (request.tx ? requirePrisma(request.tx) : adapter).queryRaw(request.query);
    case "executeRaw":
      return (request.tx ? requirePrisma(request.tx) : adapter).executeRaw(request.query);
    case "executeScript":
      // The adapter's executeScript does not await exec (its errors would be lost): run it here.
      await pglite.exec(request.script);
      return undefined;
    case "startTransaction": {
      const tx = await adapter.startTransaction(request.isolationLevel);
      const id = nextTx++;
      transactions.set(id, { prisma: tx, commit: () => tx.commit(), rollback: () => tx.rollback() });
      return { tx: id, options: tx.options };
    }
    case "query": {
      const q = request.tx ? requireSql(request.tx) : pglite;
      return (await q.query(request.sql, request.params)).rows;
    }
    case "exec": {
      const q = request.tx ? requireSql(request.tx) : pglite;
      await q.exec(request.sql);
      return undefined;
    }
    case "begin":
      return beginSql();
    case "commit":
    case "rollback": {
      const t = open(request.tx);
      transactions.delete(request.tx);
      await (request.op === "commit" ? t.commit() : t.rollback());
      return undefined;
    }
    case "close":
      await pglite.close();
      return undefined;
  }
}

function requirePrisma(tx: number): AdapterTransaction {
  const t = open(tx).prisma;
  if (!t) throw new Error(`transaction ${tx} is not a Prisma transaction`);
  return t;
}

function requireSql(tx: number): Transaction {
  const t = open(tx).sql;
  if (!t) throw new Error(`transaction ${tx} is not a SQL transaction`);
  return t;
}

try {
  pglite = dataDir.startsWith("memory://") ? new PGlite() : new PGlite(dataDir);
  await pglite.waitReady;
  adapter = await new PrismaPGlite(pglite).connect();
  // One session: what it LISTENs to arrives here, whichever connection asked.
  pglite.onNotification((channel, payload) => post({ type: "notification", channel, payload }));
  port.on("message", (message: { id: number; request: WorkerRequest }) => {
    handle(message.request).then(
      (value) => post({ type: "reply", id: message.id, value }),
      (error: unknown) => post({ type: "reply", id: message.id, error: serializeError(error) }),
    );
  });
  post({ type: "ready" });
} catch (error) {
  post({ type: "failed", error: serializeError(error) });
}
