// `npm run schema`: prints the sorted schema to schema.graphql (committed; a test compares).
import { writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { buildSchema } from "../src/graphql/schema.ts";

writeFileSync("schema.graphql", `${printSchema(buildSchema())}\n`);
process.stdout.write("wrote schema.graphql\n");
