import type { BoundedCount } from "../../services/bounded-count.ts";
import { builder } from "../builder.ts";

type Total = number | BoundedCount;
type Counted = { totalCount?: Total | (() => Total | Promise<Total>); counted?: Promise<BoundedCount> };

/** Counts once per connection, whichever of totalCount and totalCountIsEstimate asks first. */
function total(connection: unknown): Promise<BoundedCount> {
  const c = connection as Counted;
  c.counted ??= (async () => {
    const value = typeof c.totalCount === "function" ? await c.totalCount() : (c.totalCount ?? 0);
    return typeof value === "number" ? { count: value, isEstimate: false } : value;
  })();
  return c.counted;
}

/**
 * The one connection type of a node, named after it (`AssetConnection`, `AssetEdge`), with
 * `totalCount`: every field that pages this node shares it, as GraphQL clients expect. A parent
 * carries totalCount as a number or as a function, so it is only counted when asked for.
 */
export function connectionOf<Node extends Parameters<typeof builder.connectionObject>[0]["type"]>(
  node: Node,
  name: string,
) {
  return builder.connectionObject(
    {
      type: node,
      name: `${name}Connection`,
      fields: (t) => ({
        totalCount: t.int({
          description:
            "Every row the filter matches, across all pages: exact up to 10,000 rows, beyond that an estimate (see totalCountIsEstimate)",
          resolve: async (connection) => (await total(connection)).count,
        }),
        totalCountIsEstimate: t.boolean({
          description:
            "true when totalCount is an estimate: the planner's table size for an unfiltered connection, a lower bound for a filtered one",
          resolve: async (connection) => (await total(connection)).isEstimate,
        }),
      }),
    },
    { name: `${name}Edge` },
  );
}
