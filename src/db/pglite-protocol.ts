import type { SqlDriverAdapterFactory } from "@prisma/client/runtime/client";

/**
 * The messages between the main thread and the PGlite worker (pglite-worker.ts). Every request
 * carries an id that its one reply repeats; notifications come unasked. Values cross by structured
 * clone (bigint, Date, Uint8Array included), errors as SerializedError.
 */
export type SqlDriverAdapter = Awaited<ReturnType<SqlDriverAdapterFactory["connect"]>>;
export type AdapterTransaction = Awaited<ReturnType<SqlDriverAdapter["startTransaction"]>>;
export type SqlQuery = Parameters<SqlDriverAdapter["queryRaw"]>[0];
export type IsolationLevel = Parameters<SqlDriverAdapter["startTransaction"]>[0];

export type WorkerRequest =
  // Prisma's driver-adapter calls, answered by pglite-prisma-adapter inside the worker.
  | { op: "queryRaw"; query: SqlQuery; tx?: number }
  | { op: "executeRaw"; query: SqlQuery; tx?: number }
  | { op: "executeScript"; script: string }
  | { op: "startTransaction"; isolationLevel?: IsolationLevel }
  // SqlConnection calls (migrator, tests, scripts): rows as objects, PGlite's own type parsing.
  | { op: "query"; sql: string; params?: unknown[]; tx?: number }
  | { op: "exec"; sql: string; tx?: number }
  | { op: "begin" }
  // Both kinds of transaction end the same way.
  | { op: "commit"; tx: number }
  | { op: "rollback"; tx: number }
  | { op: "close" };

export type WorkerMessage =
  | { type: "ready" }
  | { type: "failed"; error: SerializedError }
  | { type: "reply"; id: number; value?: unknown; error?: SerializedError }
  | { type: "notification"; channel: string; payload: string };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** DriverAdapterError's mapped error: Prisma turns it into P2002 and friends. */
  cause?: unknown;
  /** The server's fields (code, severity, detail, constraint, …) of a PostgreSQL error. */
  fields: Record<string, string>;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {} };
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === "string" || typeof value === "number") fields[key] = String(value);
  }
  const cause = typeof error.cause === "object" && error.cause !== null ? { ...error.cause } : undefined;
  return { name: error.name, message: error.message, stack: error.stack, cause, fields };
}

/**
 * The worker's error, rebuilt in the main thread. Prisma recognizes a driver adapter's error by
 * its name and its `cause` object (not by class), so unique-key violations still become P2002.
 */
export class PgliteWorkerError extends Error {
  constructor(serialized: SerializedError) {
    super(serialized.message);
    Object.assign(this, serialized.fields);
    this.name = serialized.name;
    if (serialized.cause !== undefined) this.cause = serialized.cause;
    if (serialized.stack) this.stack = `${serialized.stack}\n    (in the PGlite worker thread)`;
  }
}
