import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../src/db/database.ts";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

const ABOVE_INT4 = "2147483648";

describeOnEachDatabase(
  (kind) => `id arguments on ${kind}`,
  (scenario) => {
    let app: ReturnType<typeof createTestApp>;
    // Built once and only read: the tests below share it (no reset between them).
    beforeAll(async () => {
      app = createTestApp(scenario.db, scenario.replay, { env: { ETL_SOURCES: "csv" } });
      await app.runner.run({ trigger: "CLI" });
    });
    afterAll(() => app.stop());

    it.each([
      ["etlRun(id:)", `{ etlRun(id: "${ABOVE_INT4}") { id } }`, "id"],
      ["asset(id:)", `{ asset(id: "${ABOVE_INT4}") { id } }`, "id"],
      [
        "assets(filter: { ids })",
        `{ assets(filter: { ids: ["${ABOVE_INT4}"] }) { totalCount } }`,
        "filter.ids",
      ],
      ["latestPrices(assetIds:)", `{ latestPrices(assetIds: ["${ABOVE_INT4}"]) { priceUsd } }`, "assetIds"],
      [
        "marketData(filter: { assetIds })",
        `{ marketData(filter: { assetIds: ["${ABOVE_INT4}"] }) { totalCount } }`,
        "filter.assetIds",
      ],
      ["priceHistory(asset:)", `{ priceHistory(asset: "${ABOVE_INT4}", interval: D1) { close } }`, "asset"],
      [
        "compareRuns(base:)",
        `{ compareRuns(base: "${ABOVE_INT4}", head: "1") { sources { source } } }`,
        "base",
      ],
    ])("%s above int4 answers BAD_USER_INPUT naming the argument", async (_name, query, argument) => {
      const r = await app.gql(query);
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument });
    });

    it("compareRuns reads price moves only when largestPriceMoves is selected", async () => {
      let priceMoveQueries = 0;
      const counting = scenario.db.prisma.$extends({
        query: {
          async $queryRaw({ args, query }) {
            if (JSON.stringify(args).includes("FROM run_price")) priceMoveQueries++;
            return query(args);
          },
        },
      });
      const probe = createTestApp(
        { ...scenario.db, prisma: counting as unknown as Database["prisma"] },
        scenario.replay,
      );
      const without = await probe.gql(`{ compareRuns(base: "1", head: "1") { sources { source written } } }`);
      expect(without.body.errors).toBeUndefined();
      expect(priceMoveQueries).toBe(0);
      const withMoves = await probe.gql(
        `{ compareRuns(base: "1", head: "1") { largestPriceMoves { changePct } } }`,
      );
      expect(withMoves.body.errors).toBeUndefined();
      expect(priceMoveQueries).toBe(1);
      probe.stop();
    });
  },
  { resetEachTest: false },
);
