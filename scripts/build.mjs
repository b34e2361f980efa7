#!/usr/bin/env node
// npm run build (also run by postinstall and before npm start / etl / db:migrate / demo):
// compiles src/ to dist/ with tsc. Incremental (tsc -b): a no-op taking about a second when dist/
// is current, so `npm start` never runs code older than src/.
// With --if-toolchain (postinstall, pre-scripts) an install without dev dependencies
// (npm ci --omit=dev) keeps whatever dist/ it has instead of failing: the Docker image builds
// dist/ in its build stage and copies it (and installs with --ignore-scripts anyway).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const tsc = "node_modules/typescript/bin/tsc";
if (!existsSync(tsc)) {
  const soft = process.argv.includes("--if-toolchain");
  if (soft && existsSync("dist/main.js")) process.exit(0);
  process.stderr.write(
    `${soft ? "not building dist/" : "cannot build"}: typescript is not installed (npm ci with dev dependencies builds it)\n`,
  );
  process.exit(soft ? 0 : 1);
}
const result = spawnSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], { stdio: "inherit" });
process.exit(result.status ?? 1);
