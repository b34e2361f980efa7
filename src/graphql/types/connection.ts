import { builder } from "../builder.ts";

type Counted = { totalCount?: number | (() => number | Promise<number>) };

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
          description: "Every row the filter matches, across all pages",
          resolve: async (connection) => {
            const { totalCount } = connection as Counted;
            return typeof totalCount === "function" ? totalCount() : (totalCount ?? 0);
          },
        }),
      }),
    },
    { name: `${name}Edge` },
  );
}
