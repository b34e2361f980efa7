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
import type { MarketDataFilter, MarketDataOrder, ReadRows } from "../services/market-data.ts";
import {
  AS_EPOCH_MS,
  ASSET_COLUMNS,
  type AssetColumn,
  marketDataPageSql,
  OBSERVATION_COLUMNS,
  type ObservationColumn,
  pageColumns,
} from "../services/market-data.ts";
import { dateIdCursor } from "../services/pagination.ts";

/**
 * The hot read, compiled: a query whose only field is `marketData` selecting page fields (edges,
 * cursors, pageInfo), observation columns and the asset's own columns is answered by one SQL
 * statement (marketDataPageSql) and shaped straight into the response, without the general
 * executor, Pothos' selection mapping or Prisma's query engine. Anything else (totalCount, a
 * relation beyond the asset, fragments, directives, a second root field) returns null here and
 * runs on the general path; so does any error, which the general path then reports as usual.
 *
 * Each row stays the driver's array: an edge, its node and the node's asset all read the same
 * array (by the column's index in pageColumns), so a page allocates only its response objects.
 */

/** What a shape reads: the connection, its pageInfo, or a row (edge, node and asset alike). */
type Source = Record<string, unknown> | unknown[];

type Shape =
  | { key: string; kind: "typename"; typename: string }
  | {
      key: string;
      kind: "leaf";
      read: (parent: Source) => unknown;
      serialize: (v: unknown) => unknown;
      nonNull: boolean;
    }
  | { key: string; kind: "object"; read: (parent: Source) => Source; fields: Shape[] }
  | { key: string; kind: "list"; read: (parent: Source) => Source[]; fields: Shape[] };

interface Template {
  responseKey: string;
  fieldNode: FieldNode;
  field: GraphQLField<unknown, unknown>;
  fields: Shape[];
  columns: ObservationColumn[];
  asset: AssetColumn[] | null;
}

/** The connection value the shapes read: rows as edges, and the page info. */
interface Connection extends Record<string, unknown> {
  edges: unknown[][];
  pageInfo: Record<string, unknown>;
}

const cursorOf = (row: unknown[]) => dateIdCursor(Math.round(row[1] as number), row[0] as string);

/**
 * DateTime's serialization of an epoch-ms value, remembered: a page's rows share a few
 * timestamps (one per run and source), and every request reads the same recent ones again.
 * Bounded: cleared when full.
 */
const isoStrings = new Map<number, string>();
function isoString(epochMs: number): string {
  const ms = Math.round(epochMs);
  let iso = isoStrings.get(ms);
  if (iso === undefined) {
    iso = new Date(ms).toISOString();
    if (isoStrings.size >= 10_000) isoStrings.clear();
    isoStrings.set(ms, iso);
  }
  return iso;
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
  readRows: ReadRows,
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
  try {
    const values = getArgumentValues(template.field, template.fieldNode, variables.coerced) as {
      first?: number | null;
      last?: number | null;
      after?: string | null;
      before?: string | null;
      orderBy?: MarketDataOrder | null;
      filter?: MarketDataFilter | null;
    };
    const page = await marketDataPageSql(readRows, values, values.filter, {
      columns: template.columns,
      asset: template.asset,
    });
    const first = page.rows[0];
    const last = page.rows.at(-1);
    const connection: Connection = {
      edges: page.rows,
      pageInfo: {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: page.hasPreviousPage,
        startCursor: first ? cursorOf(first) : null,
        endCursor: last ? cursorOf(last) : null,
      },
    };
    return { data: { [template.responseKey]: shape(connection, template.fields) } };
  } catch (error) {
    onFallback((error as Error).message);
    return null;
  }
}

function shape(value: Source, fields: Shape[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.kind === "typename") out[f.key] = f.typename;
    else if (f.kind === "leaf") {
      const v = f.read(value);
      if (v == null) {
        if (f.nonNull) throw new Error("null in a non-null field: the general path reports it");
        out[f.key] = null;
      } else out[f.key] = f.serialize(v);
    } else if (f.kind === "object") out[f.key] = shape(f.read(value), f.fields);
    else {
      const items = f.read(value);
      const list = new Array(items.length);
      for (let i = 0; i < items.length; i++) list[i] = shape(items[i]!, f.fields);
      out[f.key] = list;
    }
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
  // Where each selected column sits in a row, known once the whole selection is read (below).
  const slots = new Map<string, { index: number }>();
  const slot = (column: string) => {
    let s = slots.get(column);
    if (!s) {
      s = { index: -1 };
      slots.set(column, s);
    }
    return s;
  };
  const column = (name: string) => {
    const s = slot(name);
    return (row: Source) => (row as unknown[])[s.index];
  };

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
    read: (p: Source) => unknown,
    serialize?: (v: unknown) => unknown,
  ): Shape | null => {
    const named = getNamedType(def.type);
    if (!isLeafType(named)) return null;
    return {
      key: def.name,
      kind: "leaf",
      read,
      serialize: serialize ?? ((v) => named.serialize(v)),
      nonNull: isNonNullType(def.type),
    };
  };
  const record = (p: Source) => p as Record<string, unknown>;
  const same = (p: Source) => p;
  const objectType = (def: GraphQLField<unknown, unknown>) => getNamedType(def.type) as GraphQLObjectType;

  const assetFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    asset ??= new Set();
    const chosen = asset;
    const fields = selection(node.selectionSet, objectType(def), (name, _n, d) => {
      if (!Object.hasOwn(ASSET_COLUMNS, name)) return null;
      chosen.add(name as AssetColumn);
      return leaf(d, column(`asset.${name}`));
    });
    return fields && { key: def.name, kind: "object", read: same, fields };
  };
  const nodeFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    const fields = selection(node.selectionSet, objectType(def), (name, n, d) => {
      if (name === "asset") return assetFields(n, d);
      if (!Object.hasOwn(OBSERVATION_COLUMNS, name)) return null;
      columns.add(name as ObservationColumn);
      // Timestamps come as epoch ms: DateTime's serialization of the same instant.
      return AS_EPOCH_MS.has(name as ObservationColumn)
        ? leaf(d, column(name), (ms) => isoString(ms as number))
        : leaf(d, column(name));
    });
    return fields && { key: def.name, kind: "object", read: same, fields };
  };
  const edgeFields = (node: FieldNode, def: GraphQLField<unknown, unknown>): Shape | null => {
    if (!isListOfObjects(def)) return null;
    const fields = selection(node.selectionSet, objectType(def), (name, n, d) => {
      if (name === "cursor") return leaf(d, (row) => cursorOf(row as unknown[]));
      if (name === "node") return nodeFields(n, d);
      return null;
    });
    return fields && { key: def.name, kind: "list", read: (c) => (c as Connection).edges, fields };
  };
  const PAGE_INFO = new Set(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"]);
  const fields = selection(root.selectionSet, connection, (name, n, d) => {
    if (name === "edges") return edgeFields(n, d);
    if (name === "pageInfo") {
      const info = selection(n.selectionSet, objectType(d), (p, _n, pd) =>
        PAGE_INFO.has(p) ? leaf(pd, (i) => record(i)[p]) : null,
      );
      return info && { key: name, kind: "object", read: (c) => (c as Connection).pageInfo, fields: info };
    }
    return null;
  });
  if (!fields) return null;
  const select = { columns: [...columns], asset: asset ? [...(asset as Set<AssetColumn>)] : null };
  pageColumns(select).forEach((name, index) => {
    slot(name).index = index;
  });
  return { responseKey: root.alias?.value ?? root.name.value, fieldNode: root, field, fields, ...select };
}

function isListOfObjects(def: GraphQLField<unknown, unknown>): boolean {
  return isListType(getNullableType(def.type));
}
