#!/usr/bin/env node
// `prisma generate` offline: every Prisma CLI command first downloads the schema engine
// unless PRISMA_SCHEMA_ENGINE_BINARY names an existing file; generate never runs it, so any
// file will do (TOOLCHAIN.md). Harmless online too.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, resolve } from "node:path";

// postinstall passes --if-toolchain: an install without dev dependencies (npm ci --omit=dev) has no
// prisma CLI, and needs no client either unless it builds, which it cannot (scripts/build.mjs).
if (process.argv.includes("--if-toolchain") && !existsSync("node_modules/prisma/build/index.js")) {
  process.stderr.write("not generating the Prisma client: prisma is not installed (a dev dependency)\n");
  process.exit(0);
}

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
// Generators named by bin (prisma-pothos-types) must resolve when run outside `npm run`.
env.PATH = `${resolve("node_modules/.bin")}${delimiter}${env.PATH ?? ""}`;
const result = spawnSync(process.execPath, ["node_modules/prisma/build/index.js", "generate"], {
  env,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
