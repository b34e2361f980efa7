import type { Database } from "../db/database.ts";
import type { SqlConnection } from "../db/sql-connection.ts";

/** The cluster-wide run lock key (a session advisory lock, distinct from the migrator's). */
export const RUN_LOCK_KEY = 4_242_001;

export interface RunLock {
  /** Aborted when the lock's connection dies: the run must stop, another process may now run. */
  lost: AbortSignal;
  release(): Promise<void>;
}

// PGlite is one process's database (DATA_DIR lock): an in-process flag is the whole lock.
const pgliteHeld = new WeakSet<Database>();

/**
 * Tries to take the run lock without waiting. On PostgreSQL it is a session advisory lock held on
 * a dedicated connection (never a pooled one, which could release it on another session).
 */
export async function tryRunLock(db: Database): Promise<RunLock | null> {
  const lost = new AbortController();
  if (db.kind === "pglite") {
    if (pgliteHeld.has(db)) return null;
    pgliteHeld.add(db);
    return { lost: lost.signal, release: async () => void pgliteHeld.delete(db) };
  }
  // Heartbeat on: a half-open connection must not hold the cluster's lock (and a run) for hours.
  const conn: SqlConnection = await db.connect({ applicationName: "coinflow-run-lock", heartbeat: true });
  let rows: { locked: boolean }[];
  try {
    rows = await conn.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [RUN_LOCK_KEY]);
  } catch (error) {
    await conn.release();
    throw error;
  }
  if (!rows[0]?.locked) {
    await conn.release();
    return null;
  }
  let released = false;
  void conn.closed.then((error) => {
    if (!released) lost.abort(error ?? new Error("run lock connection closed"));
  });
  return {
    lost: lost.signal,
    async release() {
      released = true;
      await conn.query("SELECT pg_advisory_unlock($1)", [RUN_LOCK_KEY]).catch(() => undefined);
      await conn.release();
    },
  };
}
