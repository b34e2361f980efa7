import { badInput } from "./errors.ts";
import { MAX_ID } from "./parse-id.ts";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface ConnectionArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

export interface PageRequest {
  size: number;
  cursor: unknown[] | null;
  /** true when paging backwards (last/before). */
  backward: boolean;
}

/**
 * The page-size rule, in one place: `first`/`last` in 0..500, refused (never clamped) above. The
 * server's usePageSizeLimit applies it to every `first`/`last` argument of an operation before it
 * executes (literals at validation, variables at execution).
 */
export function pageSizeProblem(name: string, value: unknown): string | null {
  return typeof value === "number" && (value < 0 || value > MAX_PAGE_SIZE)
    ? `${name}: must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`
    : null;
}

/** Pothos' own connections clamp at `maxSize`: set to the rule's bound, they never do. */
export const POTHOS_PAGE = { maxSize: MAX_PAGE_SIZE } as const;

/** Reads connection arguments (sizes already checked by the rule above): one direction, a cursor. */
export function pageRequest(args: ConnectionArgs, arity: number): PageRequest {
  if (args.first != null && args.last != null) throw badInput("last", "use either first or last, not both");
  if (args.after != null && args.before != null)
    throw badInput("before", "use either after or before, not both");
  const backward = args.last != null || args.before != null;
  const raw = backward ? args.before : args.after;
  return {
    size: (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE,
    cursor: raw == null ? null : decodeCursor(raw, arity, backward ? "before" : "after"),
    backward,
  };
}

/**
 * Keyset cursors on (sort key, id), opaque to clients. Written as `~` and one tagged value per
 * key, each after its own `~`: `d` a date (epoch ms, base 36), `i` a bigint, `n` a number, `s` a
 * string (URI-encoded, `~` too), `z` null. Built without JSON or Buffer: a page of 500 rows
 * encodes 500 of them per request. The cursors issued before (base64url JSON arrays) still
 * decode, to the same values, so a client paging across an upgrade loses nothing.
 */
export function encodeCursor(values: readonly unknown[]): string {
  let cursor = "";
  for (const v of values) cursor += `~${cursorValue(v)}`;
  return cursor;
}

function cursorValue(v: unknown): string {
  if (v instanceof Date) return `d${v.getTime().toString(36)}`;
  if (typeof v === "bigint") return `i${v}`;
  if (typeof v === "number") return `n${v}`;
  if (v === null || v === undefined) return "z";
  return `s${encodeURIComponent(String(v)).replaceAll("~", "%7E")}`;
}

/** encodeCursor([date, id]) for a date given in epoch ms and a bigint id given as its digits. */
export function dateIdCursor(epochMs: number, id: string): string {
  return `~d${epochMs.toString(36)}~i${id}`;
}

/** The values a cursor holds, as the sort keys' parsers take them: dates as ISO strings, bigints as digits. */
export function decodeCursor(cursor: string, arity: number, argument = "after"): unknown[] {
  try {
    const values = cursor.startsWith("~") ? cursor.slice(1).split("~").map(decodeValue) : decodeJson(cursor);
    if (Array.isArray(values) && values.length === arity) return values;
  } catch {
    // fall through
  }
  throw badInput(argument, "not a cursor returned by this connection");
}

function decodeValue(part: string): unknown {
  const body = part.slice(1);
  switch (part[0]) {
    case "d":
      if (!/^-?[0-9a-z]{1,12}$/.test(body)) break;
      // toISOString throws (RangeError) beyond JavaScript's dates: a bad cursor, as above.
      return new Date(Number.parseInt(body, 36)).toISOString();
    case "i":
      if (/^-?\d{1,20}$/.test(body)) return body;
      break;
    case "n": {
      const n = Number(body);
      if (body !== "" && Number.isFinite(n)) return n;
      break;
    }
    case "s":
      return decodeURIComponent(body);
    case "z":
      if (body === "") return null;
  }
  throw new Error("not a cursor value");
}

/** A cursor of the first format: base64url of a JSON array (dates as ISO strings, bigints as strings). */
function decodeJson(cursor: string): unknown {
  return JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Page<T> {
  edges: Edge<T>[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
}

/** Builds a page from rows fetched with `size + 1` in the fetch direction. */
export function toPage<T>(rows: T[], request: PageRequest, cursorOf: (row: T) => unknown[]): Page<T> {
  const hasMore = rows.length > request.size;
  const kept = rows.slice(0, request.size);
  if (request.backward) kept.reverse();
  const edges = kept.map((node) => ({ cursor: encodeCursor(cursorOf(node)), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: request.backward ? request.cursor !== null : hasMore,
      hasPreviousPage: request.backward ? hasMore : request.cursor !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/**
 * A Prisma `where` for rows after (or before) a keyset cursor on a non-null sort field plus id,
 * in the given direction.
 */
export function keysetWhere(
  field: string,
  direction: "asc" | "desc",
  cursor: readonly unknown[],
  parse: (v: unknown) => unknown,
  idKind: "int" | "bigint" = "int",
): Record<string, unknown> {
  const op = direction === "asc" ? "gt" : "lt";
  const value = parse(cursor[0]);
  const id = parseId(cursor[1], idKind);
  return { OR: [{ [field]: { [op]: value } }, { [field]: value, id: { [op]: id } }] };
}

function parseId(v: unknown, kind: "int" | "bigint"): bigint | number {
  const text = typeof v === "number" ? String(v) : v;
  if (typeof text === "string" && /^\d{1,19}$/.test(text)) {
    if (kind === "bigint" && BigInt(text) <= 2n ** 63n - 1n) return BigInt(text);
    // Cursors name int4 ids: a bigger one is not ours (and the driver would fail on it).
    if (Number(text) <= MAX_ID) return Number(text);
  }
  throw badInput("after", "not a cursor returned by this connection");
}

/** Parses a cursor value that must be an ISO date. */
export function cursorDate(v: unknown): Date {
  const d = typeof v === "string" ? new Date(v) : null;
  if (!d || Number.isNaN(d.getTime())) throw badInput("after", "not a cursor returned by this connection");
  return d;
}

export const flip = (d: "asc" | "desc"): "asc" | "desc" => (d === "asc" ? "desc" : "asc");
