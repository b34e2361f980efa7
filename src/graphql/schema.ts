import { type GraphQLSchema, lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
import "./types/scalars.ts";
import "./types/enums.ts";
import "./types/asset.ts";
import "./types/latest-price.ts";
import "./types/candle.ts";
import "./types/market-observation.ts";
import "./types/etl-run.ts";
import "./types/etl-stats.ts";
import "./types/source-health.ts";
import "./types/run-comparison.ts";
import "./types/mutations.ts";
import "./types/subscriptions.ts";

let schema: GraphQLSchema | undefined;

/** Assembles the type files into the executable schema (sorted, as printed to schema.graphql). */
export function buildSchema(): GraphQLSchema {
  schema ??= lexicographicSortSchema(builder.toSchema());
  return schema;
}
