// Start-up cost: time from spawning the service to its first /health 200, and its resident memory
// once idle after start-up, for tsx running src/ (how npm start ran before #15) against node running
// dist/ (npm start and the image's CMD now), on PostgreSQL and on embedded PGlite. Rounds are
// interleaved; medians reported. ETL_INTERVAL_SECONDS=0: nothing runs but the server.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { rssOf, stop } from "./processes.ts";
import { log, median, row } from "./results.ts";

const RUNNERS = {
  tsx: ["--import", "tsx", "src/main.ts", "serve"],
  "node dist": ["dist/main.js", "serve"],
} as const;
/** How long the process sits idle after its first /health 200 before its RSS is read. */
const SETTLE_MS = 3_000;
const TARGET_RSS_MB = 200;

async function once(argv: readonly string[], env: Record<string, string>, port: number) {
  const started = performance.now();
  const child = spawn(process.execPath, [...argv], {
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      ETL_INTERVAL_SECONDS: "0",
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${argv.join(" ")} exited with ${child.exitCode}`);
      if (performance.now() - started > 90_000) throw new Error(`${argv.join(" ")}: no /health in 90 s`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      await sleep(20);
    }
    const readyMs = performance.now() - started;
    await sleep(SETTLE_MS);
    return { readyMs, rssMb: rssOf(child.pid!) / 2 ** 20 };
  } finally {
    await stop(child);
  }
}

/** postgresUrl: a migrated or empty database (migrations run at the first start, not measured). */
export async function benchStartup(postgresUrl: string, quick: boolean) {
  const rounds = quick ? 2 : 5;
  const pgliteDir = mkdtempSync(join(tmpdir(), "coinflow-bench-startup-"));
  const databases = {
    PostgreSQL: { DATABASE_URL: postgresUrl },
    PGlite: { DATA_DIR: join(pgliteDir, "data") },
  };
  try {
    for (const [db, env] of Object.entries(databases)) {
      // A first start of each database applies the migrations (and PGlite's initdb): restarts are
      // what is measured, as on every deploy after the first.
      await once(RUNNERS["node dist"], env, 4_700);
      const results: Record<string, { readyMs: number[]; rssMb: number[] }> = {
        tsx: { readyMs: [], rssMb: [] },
        "node dist": { readyMs: [], rssMb: [] },
      };
      for (let r = 0; r < rounds; r++) {
        for (const [name, argv] of Object.entries(RUNNERS)) {
          const m = await once(argv, env, 4_700);
          results[name]!.readyMs.push(m.readyMs);
          results[name]!.rssMb.push(m.rssMb);
          log(`startup ${db} ${name} round ${r + 1}: ${m.readyMs.toFixed(0)} ms, ${m.rssMb.toFixed(0)} MB`);
        }
      }
      const before = results.tsx!;
      const after = results["node dist"]!;
      row({
        scenario: `startup (${db})`,
        metric: "ms from spawn to /health 200, node dist/main.js vs tsx src/main.ts",
        value: median(after.readyMs),
        baseline: median(before.readyMs),
        target: "<= 1",
        check: (ratio) => ratio <= 1,
      });
      row({
        scenario: `startup (${db})`,
        metric: `idle RSS MB ${SETTLE_MS / 1000} s after start-up, node dist/main.js vs tsx src/main.ts`,
        value: median(after.rssMb),
        baseline: median(before.rssMb),
        target: db === "PostgreSQL" ? `<= ${TARGET_RSS_MB} MB` : null,
        check: db === "PostgreSQL" ? (_, value) => value <= TARGET_RSS_MB : undefined,
      });
    }
  } finally {
    rmSync(pgliteDir, { recursive: true, force: true });
  }
}
