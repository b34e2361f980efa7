import { expect, it } from "vitest";
import { marketDataPageSql } from "../../src/services/market-data.ts";
import { dateIdCursor } from "../../src/services/pagination.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

/** Rows a plan's scans of market_observation (any partition) returned, from EXPLAIN's JSON. */
function observationRowsRead(plan: unknown): number {
  const node = plan as {
    "Relation Name"?: string;
    "Actual Rows"?: number;
    "Actual Loops"?: number;
    Plans?: unknown[];
  };
  const own = node["Relation Name"]?.startsWith("market_observation")
    ? (node["Actual Rows"] ?? 0) * (node["Actual Loops"] ?? 1)
    : 0;
  return own + (node.Plans ?? []).reduce<number>((sum, child) => sum + observationRowsRead(child), 0);
}

// A run's quotes often share one timestamp (CoinPaprika's last_updated, a CSV's date). Pages walk
// (observed_at, id): with only observed_at indexed, a page read every row of the newest timestamp
// and sorted them (2,751 rows for a page of 100 in the bench). The plan, not a timing, is checked:
// two runs of 2,000 quotes, each sharing its timestamp, and the first two pages of the newest.
// (Among the oldest timestamp's rows a cursor's row comparison is estimated at ~0 rows and the
// rest of that timestamp is sorted: bounded by one run's rows, and not covered here.)
describeOnEachDatabase(
  (kind) => `a marketData page among rows sharing one timestamp, on ${kind}`,
  (scenario) => {
    it("reads the page's rows, not every row of the timestamp", async () => {
      const p = scenario.db.prisma;
      const run = await p.etlRun.create({ data: { trigger: "CLI", requested: ["CSV"] } });
      await p.$executeRaw`
        INSERT INTO asset (symbol, name, updated_at)
        SELECT 'T' || i, 'Tie ' || i, now() FROM generate_series(1, 2000) AS i`;
      await p.$executeRaw`
        INSERT INTO market_observation (seq, asset_id, source, observed_at, price_usd, run_id)
        SELECT nextval('market_observation_seq_seq'), a.id, 'CSV', t.at, a.id, ${run.id}::int
        FROM asset a, (VALUES (now() - interval '65 minutes'), (now() - interval '1 hour')) AS t(at)
        WHERE a.symbol LIKE 'T%'`;
      await p.$executeRawUnsafe("ANALYZE market_observation");
      await p.$executeRawUnsafe("ANALYZE asset");
      const plans: unknown[] = [];
      const explain = async (text: string, values: readonly unknown[]) => {
        const [row] = (await scenario.db.readRows(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
          values,
          false,
        )) as unknown[][];
        const json = typeof row![0] === "string" ? JSON.parse(row![0] as string) : row![0];
        plans.push(json[0].Plan);
        return [];
      };
      const select = { columns: ["seq", "priceUsd"] as const, asset: ["symbol", "name"] as const };
      await marketDataPageSql(explain, { first: 100 }, null, select);
      const firstPage = await marketDataPageSql(
        (text, values) => scenario.db.readRows(text, values, false),
        { first: 100 },
        null,
        select,
      );
      expect(firstPage.rows).toHaveLength(100);
      // The second page, from the first one's cursor, among the same tied rows.
      const last = firstPage.rows.at(-1)!;
      await marketDataPageSql(
        explain,
        { first: 100, after: dateIdCursor(Math.round(last[1] as number), last[0] as string) },
        null,
        select,
      );
      expect(plans).toHaveLength(2);
      // 101 rows fetched (the page and one to know whether more follow), plus at most one
      // look-ahead row per partition the merge opens; 4,000 with the old observed_at index.
      for (const plan of plans) expect(observationRowsRead(plan)).toBeLessThanOrEqual(110);
    });
  },
);
