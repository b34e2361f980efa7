import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestRunner } from "../support/pipeline.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

// Issue #13: CSV files with id columns, symbols, names and prices drawn from the recorded coins,
// right and wrong (row numbers as ids, another coin's id or name, prices 100x off, old dates).
// The invariant: no CSV observation lands on an asset whose symbol differs from its row's symbol.
type Item = Record<string, any>;
const gecko = loadFixture<Item[]>(COINGECKO_TOP250);
const pairs = loadFixture<{ pairs: { coingecko: string; coinpaprika: string | null }[] }>(
  "test/fixtures/identity/coingecko-coinpaprika-top100.json",
).pairs;
const pool = pairs.map((p) => {
  const coin = gecko.find((c) => c.id === p.coingecko)!;
  return {
    cgId: coin.id as string,
    cpId: p.coinpaprika,
    symbol: (coin.symbol as string).toUpperCase(),
    name: coin.name as string,
    price: coin.current_price as number,
  };
});

const coin = fc.constantFrom(...pool);
const row = fc.record({
  coin,
  other: coin,
  id: fc.constantFrom("row-number", "coingecko", "coinpaprika", "other-coingecko", "made-up", "none"),
  symbol: fc.constantFrom("own", "own", "other", "unknown"),
  name: fc.constantFrom("own", "other", "none"),
  factor: fc.oneof(
    fc.double({ min: 0.8, max: 1.25, noNaN: true }),
    fc.double({ min: 1e-4, max: 1e-2, noNaN: true }),
    fc.double({ min: 50, max: 1000, noNaN: true }),
  ),
  recent: fc.boolean(),
});
const files = fc.array(fc.array(row, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "coinflow-identity-prop-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeOnEachDatabase(
  (kind) => `generated CSV identities on ${kind}`,
  (scenario) => {
    // Built once: the property's runs add CSV rows on top of the known coins.
    beforeAll(async () => {
      // The known coins: CoinGecko's top 250 and CoinPaprika's top 500 of the recorded payloads.
      await createTestRunner(scenario.db, scenario.replay, {
        ETL_SOURCES: "coingecko,coinpaprika",
      }).runner.run({
        trigger: "CLI",
      });
    });

    it("never attaches a row's price to an asset with another symbol", async () => {
      let n = 0;
      let minute = 0;
      await fc.assert(
        fc.asyncProperty(files, async (generated) => {
          // Every row gets its own timestamp: an observation leads back to exactly one row.
          const rows = new Map<number, { symbol: string; price: number }>();
          const paths = generated.map((fileRows, f) => {
            const lines = fileRows.map((r, i) => {
              const base = r.recent ? Date.parse("2023-05-13T00:00:00Z") : Date.parse("2019-03-01T00:00:00Z");
              const at = base + minute++ * 60_000;
              const symbol =
                r.symbol === "own" ? r.coin.symbol : r.symbol === "other" ? r.other.symbol : `ZQ${i}X`;
              const id = {
                "row-number": String(i + 1),
                coingecko: r.coin.cgId,
                coinpaprika: r.coin.cpId ?? "",
                "other-coingecko": r.other.cgId,
                "made-up": `c${i}`,
                none: "",
              }[r.id];
              const name = r.name === "own" ? r.coin.name : r.name === "other" ? r.other.name : "";
              const price = Number((r.coin.price * r.factor).toPrecision(8));
              rows.set(at, { symbol, price });
              return [id, symbol, `"${name}"`, price, new Date(at).toISOString()].join(",");
            });
            const path = join(dir, `run${n}-file${f}.csv`);
            writeFileSync(path, `id,symbol,name,price,date\n${lines.join("\n")}\n`);
            return path;
          });
          n++;
          const { runner } = createTestRunner(scenario.db, scenario.replay, {
            ETL_SOURCES: "csv",
            CSV_SOURCE_PATHS: paths.join(","),
          });
          const run = await runner.run({ trigger: "CLI" });
          const s = run.sources[0]!;
          expect(s.fetched).toBe(s.written + s.unchanged + s.rejected + s.quarantined);
          const written = await scenario.db.prisma.marketObservation.findMany({
            where: { runId: run.runId },
            include: { asset: true },
          });
          for (const o of written) {
            const origin = rows.get(o.observedAt.getTime());
            expect(origin, `an observation no row produced: ${o.observedAt.toISOString()}`).toBeDefined();
            expect(o.asset.symbol, `row ${JSON.stringify(origin)} landed on ${o.asset.symbol}`).toBe(
              origin!.symbol,
            );
            expect(o.priceUsd).toBe(origin!.price);
          }
        }),
        { numRuns: 20, seed: 20261201 },
      );
    });
  },
  { resetEachTest: false },
);
