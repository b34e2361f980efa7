import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";
import { createTestRunner } from "../support/pipeline.ts";
import {
  COINGECKO_TOP250,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "../support/replay-server.ts";

let replay: ReplayServer;
let t: TestDatabase;
let dir: string;
beforeAll(async () => {
  replay = await startReplayServer();
  t = await createPgliteTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "coinflow-prop-"));
});
afterAll(async () => {
  await t.dispose();
  await replay.close();
  rmSync(dir, { recursive: true, force: true });
});

const cell = fc.oneof(
  fc.constantFrom(
    "BTC",
    "eth",
    "$87,000",
    "1.7T",
    "NaN",
    "",
    "-1",
    "0",
    "2024-01-02",
    "31-02-2024",
    "💥",
    '"a,b"',
    "\u0000",
  ),
  fc.double({ noNaN: false }).map(String),
  fc.string({ maxLength: 12 }),
);

/** CSV files people actually produce, and worse: ragged rows, random bytes, huge lines, no rows. */
const csvFile = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        "symbol,price,date",
        "Ticker,LastPrice,RecordedDate",
        "id,name,price_usd,market_cap",
        "a,b,c",
      ),
      fc.array(fc.array(cell, { minLength: 0, maxLength: 6 }), { maxLength: 40 }),
    )
    .map(([header, rows]) => `${header}\n${rows.map((r) => r.join(",")).join("\n")}\n`),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.constantFrom(
    "",
    "symbol,price,date\n",
    "\uFEFFsymbol,price\r\n",
    `symbol,price\nBTC,${"9".repeat(1_000_000)}\n`,
  ),
);

describe("generated bad input through the whole pipeline", () => {
  it("CSV files: no crash, and fetched = written + unchanged + rejected + quarantined", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(csvFile, async (content) => {
        const file = join(dir, `f${n++}.csv`);
        writeFileSync(file, content);
        const { runner } = createTestRunner(t.db, replay, { ETL_SOURCES: "csv", CSV_SOURCE_PATHS: file });
        const run = await runner.run({ trigger: "CLI" });
        const s = run.sources[0]!;
        expect(run.status).toBe("SUCCEEDED");
        expect(s.fetched).toBe(s.written + s.unchanged + s.rejected + s.quarantined);
      }),
      { numRuns: 25, seed: 20261125 },
    );
  });

  it("mutated CoinGecko pages: no crash, and the counts add up", async () => {
    const page = loadFixture<Record<string, unknown>[]>(COINGECKO_TOP250).slice(0, 40);
    const keys = Object.keys(page[0]!);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 39 }), fc.constantFrom(...keys), cell), {
          maxLength: 30,
        }),
        async (edits) => {
          const items = page.map((i) => ({ ...i }));
          for (const [i, key, value] of edits) items[i]![key] = value;
          replay.setCoinGeckoPages([items]);
          const { runner } = createTestRunner(t.db, replay, { ETL_SOURCES: "coingecko" });
          const run = await runner.run({ trigger: "CLI" });
          const s = run.sources[0]!;
          expect(s.status).toBe("SUCCEEDED");
          expect(s.fetched).toBe(40);
          expect(s.fetched).toBe(s.written + s.unchanged + s.rejected + s.quarantined);
        },
      ),
      { numRuns: 25, seed: 20261125 },
    );
  });
});
