import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isLeafType,
  isListType,
  isNonNullType,
  Kind,
  type SelectionSetNode,
} from "graphql";
import type { MarketDataFilter, MarketDataOrder, ObservationRow } from "../services/market-data.ts";
import {
  ASSET_COLUMNS,
  type AssetColumn,
  marketDataPageSql,
  OBSERVATION_COLUMNS,
  type ObservationColumn,
} from "../services/market-data.ts";
import type { GraphQLContext } from "./context.ts";

/**
 * The hot read, compiled: a query whose only field is `marketData` selecting page fields (edges,
 * cursors, pageInfo), observation columns and the asset's own columns is answered by one SQL
 * statement (marketDataPageSql) and shaped straight into the response, without the general
 * executor, Pothos' selection mapping or Prisma's query engine. Anything else (totalCount, a
 * relation beyond the asset, fragments, directives, a second root field) returns null here and
 * runs on the general path; so does any error, which the general path then reports as usual.
 */

type Shape =
  | { key: string; kind: "typename"; typename: string }
  | {
      key: string;
      kind: "leaf";
      read: (parent: Record<string, unknown>) => unknown;
      serialize: (v: unknown) => unknown;
      nonNull: boolean;
    }
  | { key: string; kind: "object"; field: string; fields: Shape[] }
  | { key: string; kind: "list"; field: string; fields: Shape[] };

interface Template {
  responseKey: string;
  fieldNode: FieldNode;
  field: GraphQLField<unknown, unknown>;
  fields: Shape[];
  columns: ObservationColumn[];
  asset: AssetColumn[] | null;
}

const templates = new WeakMap<DocumentNode, Map<string, Template | null>>();

/** The compiled plan of this document's operation, or null when it is not the hot shape (cached). */
export function marketDataTemplate(args: ExecutionArgs): Template | null {
  const key = args.operationName ?? "";
  let byName = templates.get(args.document);
  if (!byName) {
    byName = new Map();
    templates.set(args.document, byName);
  }
  if (!byName.has(key)) byName.set(key, compile(args));
  return byName.get(key) ?? null;
}

/**
 * Runs the hot read, or returns null to let the general executor answer (and report any error);
 * `onFallback` hears why.
 */
export async function runMarketDataRead(
  template: Template,
  args: ExecutionArgs,
  onFallback: (reason: string) => void = () => undefined,
): Promise<ExecutionResult | null> {
  const operation = getOperationAST(args.document, args.operationName);
  const variables = getVariableValues(
    args.schema,
    operation?.variableDefinitions ?? [],
    args.variableValues ?? {},
  );
  if (variables.errors) {
    onFallback("variables");
    return null;
  }
  const ctx = args.contextValue as GraphQLContext;
  try {
    const values = getArgumentValues(template.field, template.fieldNode, variables.coerced) as {
      first?: number | null;
      last?: number | null;
      after?: string | null;
      before?: string | null;
      orderBy?: MarketDataOrder | null;
      filter?: MarketDataFilter | null;
    };
    const page = await marketDataPageSql(ctx.prisma, values, values.filter, {
      columns: template.columns,
      asset: template.asset,
    });
    return {
      data: { [template.responseKey]: shape(page as unknown as Record<string, unknown>, template.fields) },
    };
  } catch (error) {
    onFallback((error as Error).message);
    return null;
  }
}

function shape(value: Record<string, unknown>, fields: Shape[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.kind === "typename") out[f.key] = f.typename;
    else if (f.kind === "leaf") {
      const v = f.read(value);
      if (v == null) {
        if (f.nonNull) throw new Error("null in a non-null field: the general path reports it");
        out[f.key] = null;
      } else out[f.key] = f.serialize(v);
    } else if (f.kind === "object") out[f.key] = shape(value[f.field] as Record<string, unknown>, f.fields);
    else out[f.key] = (value[f.field] as Record<string, unknown>[]).map((item) => shape(item, f.fields));
  }
  return out;
}

function compile(args: ExecutionArgs): Template | null {
  if (args.document.definitions.some((d) => d.kind !== Kind.OPERATION_DEFINITION)) return null;
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation || operation.operation !== "query" || operation.directives?.length) return null;
  const [root, ...rest] = operation.selectionSet.selections;
  if (!root || rest.length > 0 || root.kind !== Kind.FIELD || root.name.value !== "marketData") return null;
  if (root.directives?.length) return null;
  const field = args.schema.getQueryType()?.getFields().marketData;
  if (!field) return null;
  const columns = new Set<ObservationColumn>();
  let asset: Set<AssetColumn> | null = null;
  const connection = getNamedType(field.type) as GraphQLObjectType;

  /** Shapes for a selection on `type`; `leaf` decides which leaves are allowed and how they read. */
  function selection(
    set: SelectionSetNode | undefined,
    type: GraphQLObjectType,
    child: (name: string, node: FieldNode, def: GraphQLField<unknown, unknown>) => Shape | null,
  ): Shape[] | null {
    if (!set) return null;
    const shapes: Shape[] = [];
    const keys = new Set<string>();
    for (const node of set.selections) {
      if (node.kind !== Kind.FIELD || node.directives?.length || node.arguments?.length) return null;
      const key = node.alias?.value ?? node.name.value;
      // The same key twice would be merged by the executor: leave that to it.
      if (keys.has(key)) return null;
      keys.add(key);
      if (node.name.value === "__typename") {
        shapes.push({ key, kind: "typename", typename: type.name });
        continue;
      }
      const def = type.getFields()[node.name.value];
      if (!def) return null;
      const shaped = child(node.name.value, node, def);
      if (!shaped) return null;
      shapes.push({ ...shaped, key });
    }
    return shapes;
  }
  const leaf = (
    def: GraphQLField<unknown, unknown>,
    read: (p: Record<string, unknown>) => unknown,
  ): Shape | null => {
    const named = getNamedType(def.type);
    if (!isLeafType(named)) return null;
    return {
      key: def.name,
      kind: "leaf",
      read,
      serialize: (v) => named.serialize(v),
      nonNull: isNonNullType(def.type),
    };
  };
  const objectType = (def: GraphQLField<unknown, unknown>) => getNamedType(def.type) as GraphQLObjectType;

  const assetFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    asset ??= new Set();
    const chosen = asset;
    const fields = selection(node.selectionSet, objectType(def), (name, _n, d) => {
      if (!(name in ASSET_COLUMNS)) return null;
      chosen.add(name as AssetColumn);
      return leaf(d, (a) => a[name]);
    });
    return fields && { key: def.name, kind: "object", field: "asset", fields };
  };
  const nodeFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    const fields = selection(node.selectionSet, objectType(def), (name, n, d) => {
      if (name === "asset") return assetFields(n, d);
      if (!(name in OBSERVATION_COLUMNS)) return null;
      columns.add(name as ObservationColumn);
      // The id column is a bigint: the type's resolver sends it as a string, and so does this.
      return leaf(d, name === "id" ? (o) => String(o.id) : (o) => o[name]);
    });
    return fields && { key: def.name, kind: "object", field: "node", fields };
  };
  const edgeFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    if (!isListOfObjects(def)) return null;
    const fields = selection(node.selectionSet, objectType(def), (name, n, d) => {
      if (name === "cursor") return leaf(d, (e) => e.cursor);
      if (name === "node") return nodeFields(n, d);
      return null;
    });
    return fields && { key: def.name, kind: "list", field: "edges", fields };
  };
  const PAGE_INFO = new Set(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"]);
  const fields = selection(root.selectionSet, connection, (name, n, d) => {
    if (name === "edges") return edgeFields(n, d);
    if (name === "pageInfo") {
      const info = selection(n.selectionSet, objectType(d), (p, _n, pd) =>
        PAGE_INFO.has(p) ? leaf(pd, (i) => i[p]) : null,
      );
      return info && { key: name, kind: "object", field: "pageInfo", fields: info };
    }
    return null;
  });
  if (!fields) return null;
  return {
    responseKey: root.alias?.value ?? root.name.value,
    fieldNode: root,
    field,
    fields,
    columns: [...columns],
    asset: asset ? [...(asset as Set<AssetColumn>)] : null,
  };
}

function isListOfObjects(def: GraphQLField<unknown, unknown>): boolean {
  return isListType(getNullableType(def.type));
}
