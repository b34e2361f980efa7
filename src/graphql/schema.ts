import { type GraphQLSchema, lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
import "./types/scalars.ts";
import "./types/enums.ts";
import "./types/asset.ts";
import "./types/market-data.ts";
import "./types/etl-run.ts";
import "./types/run-stats.ts";
import "./types/mutations.ts";
import "./types/subscriptions.ts";

let schema: GraphQLSchema | undefined;

/** Assembles the type files into the executable schema (sorted, as printed to schema.graphql). */
export function buildSchema(): GraphQLSchema {
  schema ??= lexicographicSortSchema(builder.toSchema());
  return schema;
}
