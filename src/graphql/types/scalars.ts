import { GraphQLError, Kind } from "graphql";
import { builder } from "../builder.ts";

builder.scalarType("DateTime", {
  description: "An ISO-8601 instant in UTC.",
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError("DateTime must be an ISO-8601 string");
    return parseDate(ast.value);
  },
});

/** Years a DateTime may name: JavaScript's own range reaches 271,821 BC, which no column stores. */
const YEARS = { min: 1, max: 9999 };

function parseDate(value: unknown): Date {
  const date = typeof value === "string" || typeof value === "number" ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError(`Invalid DateTime: ${String(value)}`);
  const year = date.getUTCFullYear();
  if (year < YEARS.min || year > YEARS.max)
    throw new GraphQLError(`Invalid DateTime: ${String(value)} (years ${YEARS.min} to ${YEARS.max})`);
  return date;
}

/** Sequence numbers: a JSON number (safe below 2^53), parsed from an Int literal, a number or a numeric string. */
builder.scalarType("BigInt", {
  description: "A 64-bit integer, serialized as a JSON number (exact below 2^53).",
  serialize: (value) => Number(value),
  parseValue: (value) => parseBigInt(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT && ast.kind !== Kind.STRING)
      throw new GraphQLError("BigInt must be an integer");
    return parseBigInt(ast.value);
  },
});

const INT8 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

function parseBigInt(value: unknown): bigint {
  const n =
    typeof value === "number" && Number.isSafeInteger(value)
      ? BigInt(value)
      : typeof value === "string" && /^-?\d{1,20}$/.test(value)
        ? BigInt(value)
        : null;
  // A database bigint's range: beyond it the value names no row, and the driver would fail on it.
  if (n === null || n < INT8.min || n > INT8.max) throw new GraphQLError(`Invalid BigInt: ${String(value)}`);
  return n;
}

builder.scalarType("JSON", {
  description: "Arbitrary JSON.",
  serialize: (value) => value,
  parseValue: (value) => value,
});
