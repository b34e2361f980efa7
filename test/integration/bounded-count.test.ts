import { expect, it } from "vitest";
import { boundedCount } from "../../src/services/bounded-count.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

describeOnEachDatabase(
  (kind) => `totalCount's bounded count on ${kind}`,
  (scenario) => {
    const addAssets = (n: number) =>
      scenario.db.prisma.$executeRaw`
        INSERT INTO asset (symbol, name) SELECT 'S' || g, 'N' || g FROM generate_series(1, ${n}::int) g`;
    const count = (threshold: number, unfiltered = true) =>
      boundedCount(
        scenario.db.prisma,
        "asset",
        unfiltered,
        (take) => scenario.db.prisma.asset.count({ take }),
        threshold,
      );

    it("counts exactly, unflagged, while the rows fit under the threshold", async () => {
      await addAssets(40);
      expect(await count(40)).toEqual({ count: 40, isEstimate: false });
    });

    it("above the threshold, an unfiltered count is the planner's estimate, flagged, within 2x after ANALYZE", async () => {
      await addAssets(3000);
      await scenario.db.prisma.$executeRaw`ANALYZE asset`;
      const result = await count(100);
      expect(result.isEstimate).toBe(true);
      expect(result.count).toBeGreaterThanOrEqual(1500);
      expect(result.count).toBeLessThanOrEqual(6000);
    });

    it("above the threshold, a filtered count is the capped count, flagged as an estimate", async () => {
      await addAssets(300);
      expect(await count(100, false)).toEqual({ count: 101, isEstimate: true });
    });
  },
);
