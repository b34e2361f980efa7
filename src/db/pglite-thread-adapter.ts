import type { SqlDriverAdapterFactory } from "@prisma/client/runtime/client";
import type { AdapterTransaction, SqlDriverAdapter, SqlQuery } from "./pglite-protocol.ts";
import type { PgliteThread } from "./pglite-thread.ts";

const ADAPTER_NAME = "pglite-prisma-adapter";

/**
 * Prisma's driver adapter for the database in its worker thread: each call is forwarded to
 * pglite-prisma-adapter running beside PGlite there, so conversions (types, errors) are the
 * adapter's own and transactions keep its semantics (PGlite's one transaction lock: serialized,
 * and statements outside a transaction wait for it to end).
 */
export function createPgliteThreadAdapter(thread: PgliteThread): SqlDriverAdapterFactory {
  const queryable = (tx?: number) => ({
    provider: "postgres" as const,
    adapterName: ADAPTER_NAME,
    queryRaw: (query: SqlQuery) => thread.request({ op: "queryRaw", query, tx }),
    executeRaw: (query: SqlQuery) => thread.request<number>({ op: "executeRaw", query, tx }),
  });
  const adapter = {
    ...queryable(),
    executeScript: (script: string) => thread.request<void>({ op: "executeScript", script }),
    async startTransaction(isolationLevel) {
      const { tx, options } = await thread.request<{ tx: number; options: AdapterTransaction["options"] }>({
        op: "startTransaction",
        isolationLevel,
      });
      return {
        ...queryable(tx),
        options,
        commit: () => thread.request<void>({ op: "commit", tx }),
        rollback: () => thread.request<void>({ op: "rollback", tx }),
      } as AdapterTransaction;
    },
    getConnectionInfo: () => ({ supportsRelationJoins: true }),
    dispose: async () => undefined,
  } as SqlDriverAdapter;
  return {
    provider: "postgres",
    adapterName: ADAPTER_NAME,
    connect: async () => adapter,
  };
}
