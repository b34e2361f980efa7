import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLogger } from "../../src/logger/logger.ts";
import { createScrubber } from "../../src/security/scrubber.ts";
import { createTestApp, TEST_API_KEY } from "../support/app.ts";
import type { TestDatabase } from "../support/databases.ts";
import { COINPAPRIKA_TICKERS, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";
import { wsClient } from "../support/ws-client.ts";

const CG_KEY = "CG-echoed-canary-5d1e9a";
const CP_KEY = "paprika-echoed-canary-77f0";
const SECRETS = [CG_KEY, CP_KEY, TEST_API_KEY];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "coinflow-secrets-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every row of every table of the database, as text (a full-database scan). */
async function everyRow(t: TestDatabase): Promise<string[]> {
  const tables = await t.db.prisma.$queryRaw<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
  const rows: string[] = [];
  for (const { name } of tables) {
    // Names from the catalog, quoted: no input reaches this SQL.
    const found = await t.db.prisma.$queryRawUnsafe<{ row: string }[]>(
      `SELECT t::text AS row FROM "${name}" t`,
    );
    rows.push(...found.map((r) => `${name}: ${r.row}`));
  }
  return rows;
}

describeOnEachDatabase(
  (kind) => `secrets an upstream echoes back, on ${kind}`,
  (scenario) => {
    it("appear in no row of any table, no GraphQL response (HTTP or WebSocket), log line, /metrics or /health", async () => {
      // CoinGecko answers 401 quoting the key it was sent; CoinPaprika sends one in a ticker's
      // name and in a bad price; a CSV row carries the ETL key where its date should be.
      scenario.replay.fault(
        "coingecko",
        { kind: "echo", status: 401, header: "x-cg-demo-api-key" },
        { always: true },
      );
      const tickers = loadFixture<Record<string, any>[]>(COINPAPRIKA_TICKERS).slice(0, 3);
      tickers[0] = { ...tickers[0], name: `Bitcoin ${CP_KEY}` };
      tickers[1] = { ...tickers[1], quotes: { USD: { ...tickers[1]!.quotes.USD, price: `x${CP_KEY}` } } };
      scenario.replay.setCoinPaprikaTickers(tickers);
      const csv = join(dir, `prices-${scenario.kind}.csv`);
      writeFileSync(csv, `date,symbol,price\n2024-01-01,BTC,42000\n${TEST_API_KEY},BTC,43000\n`);

      const lines: string[] = [];
      const logger = createLogger({
        level: "debug",
        scrubber: createScrubber(SECRETS),
        destination: new Writable({
          write(chunk, _enc, cb) {
            lines.push(String(chunk));
            cb();
          },
        }),
      });
      const app = createTestApp(scenario.db, scenario.replay, {
        env: {
          COINGECKO_API_KEY: CG_KEY,
          COINPAPRIKA_API_KEY: CP_KEY,
          ETL_API_KEY: TEST_API_KEY,
          CSV_SOURCE_PATHS: csv,
          HTTP_MAX_ATTEMPTS: "1",
        },
        logger,
      });
      const { server, url, wsUrl } = await app.listen();
      try {
        const run = await app.runner.run({ trigger: "CLI" });
        expect(run.status).toBe("PARTIAL");
        // The keys were really sent, and really echoed.
        expect(scenario.replay.requests.some((r) => r.headers["x-cg-demo-api-key"] === CG_KEY)).toBe(true);
        expect(run.sources.find((s) => s.source === "COINGECKO")?.error).toMatch(
          /invalid API key: \[REDACTED\]/,
        );

        const outputs: string[] = [];
        const queries = [
          "{ etlRuns(first: 10) { edges { node { error stoppedAt sources { error errorKind } } } } }",
          "{ sourceHealth { source lastError } }",
          `{ etlRun(id: "${run.runId}") { rejectedRecords(first: 50) { edges { node { raw reason location } } } } }`,
          "{ assets(first: 50) { edges { node { name symbol sources { sourceAssetId } } } } }",
          "{ marketData(first: 50) { edges { node { priceUsd asset { name } } } } }",
        ];
        for (const query of queries) {
          const res = await fetch(`${url}/graphql`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ query }),
          });
          outputs.push(await res.text());
        }
        const client = wsClient(wsUrl);
        for (const query of queries) {
          outputs.push(
            await new Promise<string>((resolve) => {
              client.subscribe(
                { query },
                {
                  next: (r) => resolve(JSON.stringify(r)),
                  error: (e) => resolve(String(e)),
                  complete: () => undefined,
                },
              );
            }),
          );
        }
        await client.dispose();
        outputs.push(await (await fetch(`${url}/metrics`)).text());
        outputs.push(await (await fetch(`${url}/health`)).text());
        const rows = await everyRow(scenario.database);
        expect(rows.some((r) => r.startsWith("rejected_record:"))).toBe(true);
        expect(rows.some((r) => r.startsWith("raw_payload:"))).toBe(true);
        const everything = [...rows, ...outputs, ...lines].join("\n");
        expect(everything).toContain("[REDACTED]");
        for (const secret of SECRETS) {
          const where = [...rows, ...outputs, ...lines]
            .filter((x) => x.includes(secret))
            .map((x) => x.slice(0, 160));
          expect(where).toEqual([]);
        }
      } finally {
        await server.stop();
        app.stop();
        scenario.replay.clearFaults();
      }
    });
  },
  { resetEachTest: false },
);
