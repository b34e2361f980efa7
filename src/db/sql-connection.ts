/**
 * A single database connection for the work a pool must not do: session advisory locks,
 * LISTEN, migrations. On PostgreSQL it is a dedicated pg.Client; on PGlite, the one connection.
 */
export interface SqlRunner {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** Runs a script of several statements (no parameters). */
  exec(sql: string): Promise<void>;
}

export interface SqlConnection extends SqlRunner {
  /** Runs fn inside BEGIN/COMMIT on this connection; rolls back when fn throws. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Resolves when the connection dies (server restart, pg_terminate_backend). */
  readonly closed: Promise<Error | undefined>;
  release(): Promise<void>;
}
