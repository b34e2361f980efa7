#!/usr/bin/env node
// A tiny Prisma generator that writes the full DMMF datamodel as JSON. Prisma 7's generated
// client has no Prisma.dmmf, and its runtime datamodel lacks db names and native types; the
// schema test needs both to compare the migrated database with the Prisma schema.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import gh from "@prisma/generator-helper";

gh.generatorHandler({
  onManifest: () => ({ prettyName: "DMMF datamodel JSON", defaultOutput: "./dmmf.json" }),
  onGenerate: async (options) => {
    const out = options.generator.output?.value;
    if (!out) throw new Error("dmmf generator: no output path");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(options.dmmf.datamodel, null, 2)}\n`);
  },
});
