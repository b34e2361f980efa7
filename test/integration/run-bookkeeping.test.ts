import { expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

describeOnEachDatabase(
  (kind) => `run bookkeeping on ${kind}`,
  (scenario) => {
    it("an idempotencyKey that joined another trigger's running run returns that run after it ended", async () => {
      const app = createTestApp(scenario.db, scenario.replay, { env: { ETL_SOURCES: "coingecko" } });
      scenario.replay.fault("coingecko", { kind: "slow", ms: 800 });
      const first = await app.runner.start({ trigger: "API", idempotencyKey: "cron-a" });
      const joined = await app.runner.start({ trigger: "API", idempotencyKey: "cron-b" });
      expect(joined).toMatchObject({ alreadyRunning: true, run: { id: first.run.id } });
      await first.done;
      const retried = await app.runner.start({ trigger: "API", idempotencyKey: "cron-b" });
      expect(retried).toMatchObject({
        alreadyRunning: false,
        run: { id: first.run.id, status: "SUCCEEDED" },
      });
      expect(await scenario.db.prisma.etlRun.count()).toBe(1);
      app.stop();
    });

    it("raw-archive pruning keeps payloads a run saw within the retention window, drops the rest", async () => {
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { ETL_SOURCES: "csv", RAW_PAYLOAD_RETENTION_DAYS: "7" },
      });
      await app.runner.run({ trigger: "CLI" });
      const [seed] = await scenario.db.prisma.rawPayload.findMany();
      expect(seed).toBeDefined();
      // The seed file was first received (and last seen) ten days ago…
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      await scenario.db.prisma.rawPayload.update({
        where: { id: seed!.id },
        data: { receivedAt: tenDaysAgo },
      });
      await scenario.db.prisma.rawPayloadRun.updateMany({ data: { seenAt: tenDaysAgo } });
      // …and another payload was received then and never seen again.
      const stale = await scenario.db.prisma.rawPayload.create({
        data: {
          source: "CSV",
          contentHash: "stale",
          request: {},
          status: 200,
          body: "old",
          sizeBytes: 3,
          receivedAt: tenDaysAgo,
        },
      });
      // This run sees the unchanged seed file again: it links it, so its evidence must stay.
      const run = await app.runner.run({ trigger: "CLI" });
      const left = await scenario.db.prisma.rawPayload.findMany({ include: { runs: true } });
      expect(left.map((p) => p.id)).toEqual([seed!.id]);
      expect(left[0]!.runs.map((r) => r.runId)).toContain(run.runId);
      expect(await scenario.db.prisma.rawPayload.findUnique({ where: { id: stale.id } })).toBeNull();
      app.stop();
    });
  },
);
