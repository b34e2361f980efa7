import { readFileSync } from "node:fs";
import { printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { buildSchema } from "../../src/graphql/schema.ts";

describe("schema.graphql", () => {
  it("is the printed, sorted schema of the code (run `npm run schema` after changing types)", () => {
    expect(readFileSync("schema.graphql", "utf8")).toBe(`${printSchema(buildSchema())}\n`);
  });
});
