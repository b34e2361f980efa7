import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseKinds, type TestDatabase } from "../support/databases.ts";

// The expectation is derived from the DMMF datamodel written by prisma/generators/dmmf-json.mjs
// during `prisma generate`, not from a hand-written list.
interface DmmfField {
  name: string;
  dbName: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  type: string;
  isRequired: boolean;
  isList: boolean;
  isUnique: boolean;
  isId: boolean;
  nativeType: [string, string[]] | null;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
  uniqueFields: string[][];
}
const datamodel = JSON.parse(readFileSync("src/generated/dmmf.json", "utf8")) as {
  models: DmmfModel[];
  enums: { name: string; values: { name: string }[] }[];
};

const SCALAR_UDT: Record<string, string> = {
  String: "text",
  Int: "int4",
  BigInt: "int8",
  Float: "float8",
  Boolean: "bool",
  DateTime: "timestamp",
  Json: "jsonb",
};

function expectedUdt(field: DmmfField): string {
  if (field.kind === "enum") return field.isList ? `_${field.type}` : field.type;
  let udt = SCALAR_UDT[field.type];
  if (!udt) throw new Error(`no mapping for ${field.type}`);
  if (field.type === "DateTime" && field.nativeType?.[0] === "Timestamptz") udt = "timestamptz";
  return field.isList ? `_${udt}` : udt;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  udt_name: string;
  is_nullable: "YES" | "NO";
  datetime_precision: number | null;
}

describe.each(databaseKinds.filter((k) => k.available))("migrated schema on $kind", ({ create }) => {
  let t: TestDatabase;
  let columns: ColumnRow[];
  let uniqueSets: Map<string, Set<string>>;

  beforeAll(async () => {
    t = await create();
    const conn = await t.db.connect();
    columns = await conn.query<ColumnRow>(
      // A partition (market_observation's months and default) is its parent's storage, not a table
      // of its own: the parent is compared with the model.
      `SELECT table_name, column_name, udt_name, is_nullable, datetime_precision
         FROM information_schema.columns WHERE table_schema = 'public'
          AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)`,
    );
    const idx = await conn.query<{ table_name: string; cols: string[] | string }>(
      `SELECT t.relname AS table_name, array_agg(a.attname ORDER BY a.attname) AS cols
         FROM pg_index i
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
        WHERE i.indisunique
        GROUP BY t.relname, i.indexrelid`,
    );
    uniqueSets = new Map();
    for (const row of idx) {
      const cols = Array.isArray(row.cols) ? row.cols : row.cols.replace(/[{}]/g, "").split(",");
      const key = row.table_name;
      const set = uniqueSets.get(key) ?? new Set<string>();
      set.add([...cols].sort().join(","));
      uniqueSets.set(key, set);
    }
    await conn.release();
  });
  afterAll(() => t.dispose());

  it("has a table for every model and no table without a model", () => {
    const tables = new Set(columns.map((c) => c.table_name));
    tables.delete("_prisma_migrations");
    const modelTables = new Set(datamodel.models.map((m) => m.dbName ?? m.name));
    expect([...tables].sort()).toEqual([...modelTables].sort());
  });

  for (const model of datamodel.models) {
    const table = model.dbName ?? model.name;
    const colName = (fieldName: string) => {
      const f = model.fields.find((x) => x.name === fieldName);
      return f?.dbName ?? fieldName;
    };

    it(`${model.name}: every field's column, type and nullability match`, () => {
      const scalarFields = model.fields.filter((f) => f.kind === "scalar" || f.kind === "enum");
      const tableCols = columns.filter((c) => c.table_name === table);
      expect(tableCols.map((c) => c.column_name).sort()).toEqual(
        scalarFields.map((f) => f.dbName ?? f.name).sort(),
      );
      for (const f of scalarFields) {
        const col = tableCols.find((c) => c.column_name === (f.dbName ?? f.name));
        expect(col, `${table}.${f.name}`).toBeDefined();
        expect(col?.udt_name, `${table}.${f.name} type`).toBe(expectedUdt(f));
        // Prisma Migrate creates scalar lists without NOT NULL; everything else follows isRequired.
        if (!f.isList)
          expect(col?.is_nullable, `${table}.${f.name} nullability`).toBe(f.isRequired ? "NO" : "YES");
        if (f.nativeType?.[0] === "Timestamptz") {
          expect(col?.datetime_precision, `${table}.${f.name} precision`).toBe(
            Number(f.nativeType[1][0] ?? 6),
          );
        }
      }
    });

    it(`${model.name}: primary key and unique constraints match`, () => {
      const expected = new Set<string>();
      const id = model.fields.filter((f) => f.isId).map((f) => f.dbName ?? f.name);
      if (id.length > 0) expected.add(id.sort().join(","));
      if (model.primaryKey) expected.add(model.primaryKey.fields.map(colName).sort().join(","));
      for (const f of model.fields.filter((f) => f.isUnique)) expected.add(f.dbName ?? f.name);
      for (const u of model.uniqueFields) expected.add(u.map(colName).sort().join(","));
      expect([...(uniqueSets.get(table) ?? [])].sort()).toEqual([...expected].sort());
    });
  }
});
