import { expect, it } from "vitest";
import { createTestApp, TEST_API_KEY } from "../support/app.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

// Issue #13 case 7: quarantine must hold what it quarantines, and release it on request.
type Item = Record<string, any>;
const cg = () => loadFixture<Item[]>(COINGECKO_TOP250);
const AUTH = { authorization: `Bearer ${TEST_API_KEY}` };

/** CoinGecko renamed current_price to price_current; prices moved and the time advanced. */
function drifted(hours: number) {
  return cg().map(({ current_price, last_updated, ...rest }) => ({
    ...rest,
    price_current: current_price * 1.1,
    last_updated: new Date(Date.parse(last_updated) + hours * 3_600_000).toISOString(),
  }));
}

describeOnEachDatabase(
  (kind) => `quarantine on ${kind}`,
  (scenario) => {
    it("holds a stream that lost a required field run after run, and releases it with the detected rename", async () => {
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { ETL_SOURCES: "coingecko", DRIFT_POLICY_COINGECKO: "quarantine" },
      });
      await app.runner.run({ trigger: "CLI" });
      const btcPrice = () =>
        scenario.db.prisma.latestPrice.findFirstOrThrow({
          where: { source: "COINGECKO", asset: { sources: { some: { sourceAssetId: "bitcoin" } } } },
        });
      expect((await btcPrice()).priceUsd).toBe(26816);

      scenario.replay.setCoinGeckoPages([drifted(1)]);
      const held = await app.runner.run({ trigger: "CLI" });
      expect(held.sources[0]).toMatchObject({ fetched: 250, quarantined: 250, written: 0, rejected: 0 });
      const listed = await app.gql<any>(
        `query($id: ID!) { etlRun(id: $id) { quarantine { source stream records missingFields releasedAt } } }`,
        { id: String(held.runId) },
      );
      expect(listed.body.data.etlRun.quarantine).toEqual([
        {
          source: "COINGECKO",
          stream: "coins/markets?page=1",
          records: 250,
          missingFields: ["current_price"],
          releasedAt: null,
        },
      ]);

      // The next run meets the same payload: still held, not rejected (the baseline did not move on).
      const stillHeld = await app.runner.run({ trigger: "CLI" });
      expect(stillHeld.sources[0]).toMatchObject({ quarantined: 250, written: 0, rejected: 0 });
      expect((await btcPrice()).priceUsd).toBe(26816);

      const release = `mutation($run: ID!) { releaseQuarantine(runId: $run, source: COINGECKO) { alreadyRunning run { id status } } }`;
      const anonymous = await app.gql<any>(release, { run: String(held.runId) });
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      const released = await app.gql<any>(release, { run: String(held.runId) }, AUTH);
      expect(released.body.errors).toBeUndefined();
      const releaseRunId = Number(released.body.data.releaseQuarantine.run.id);
      // The mutation returns at once with the RUNNING run: wait for its end.
      let summary = await scenario.db.prisma.etlRun.findUniqueOrThrow({
        where: { id: releaseRunId },
        include: { sources: true },
      });
      for (let i = 0; summary.status === "RUNNING" && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        summary = await scenario.db.prisma.etlRun.findUniqueOrThrow({
          where: { id: releaseRunId },
          include: { sources: true },
        });
      }
      expect(summary.status).toBe("SUCCEEDED");
      expect(summary.sources[0]).toMatchObject({ fetched: 250, written: 250, rejected: 0, quarantined: 0 });
      expect((await btcPrice()).priceUsd).toBeCloseTo(26816 * 1.1, 6);
      const stream = await scenario.db.prisma.quarantinedStream.findFirstOrThrow({
        where: { runId: held.runId },
      });
      expect(stream).toMatchObject({ releaseRunId, releasedAt: expect.any(Date) });

      // Released once: asking again finds nothing to release.
      const twice = await app.gql<any>(release, { run: String(held.runId) }, AUTH);
      expect(twice.body.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");

      // The rename is accepted: later payloads of the new shape are read, not held, not rejected.
      scenario.replay.setCoinGeckoPages([drifted(2)]);
      const after = await app.runner.run({ trigger: "CLI" });
      expect(after.sources[0]).toMatchObject({ fetched: 250, written: 250, rejected: 0, quarantined: 0 });
      app.stop();
    });

    it("releases a later held run with the rename an earlier one detected, as history behind newer data, then the earlier run", async () => {
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { ETL_SOURCES: "coingecko", DRIFT_POLICY_COINGECKO: "quarantine" },
      });
      await app.runner.run({ trigger: "CLI" });
      // Run 2's payload named and ranked Bitcoin differently: an older listing than run 3's.
      scenario.replay.setCoinGeckoPages([
        (drifted(1) as Item[]).map((c) =>
          c.id === "bitcoin" ? { ...c, name: "Bitcoin (old listing)", market_cap_rank: 7 } : c,
        ),
      ]);
      const run2 = await app.runner.run({ trigger: "CLI" });
      scenario.replay.setCoinGeckoPages([drifted(2)]);
      const run3 = await app.runner.run({ trigger: "CLI" });
      expect(run3.sources[0]).toMatchObject({ quarantined: 250 });
      // Only the first run to see the rename reports it.
      expect(
        await scenario.db.prisma.driftEvent.count({ where: { runId: run3.runId, kind: "RENAMED" } }),
      ).toBe(0);

      const released3 = await app.runner.run({
        trigger: "CLI",
        release: { runId: run3.runId, source: "COINGECKO" },
      });
      expect(released3.sources[0]).toMatchObject({ fetched: 250, written: 250, rejected: 0 });
      // Run 2's snapshot is an hour older than what run 3's release wrote: still history to keep,
      // not "unchanged" by the watermark; the latest price stays the newer one.
      const released2 = await app.runner.run({
        trigger: "CLI",
        release: { runId: run2.runId, source: "COINGECKO" },
      });
      expect(released2.sources[0]).toMatchObject({ fetched: 250, written: 250, unchanged: 0, rejected: 0 });
      const btc = {
        source: "COINGECKO" as const,
        asset: { sources: { some: { sourceAssetId: "bitcoin" } } },
      };
      expect(await scenario.db.prisma.marketObservation.count({ where: btc })).toBe(3);
      const latest = await scenario.db.prisma.latestPrice.findFirstOrThrow({ where: btc });
      expect(latest.observedAt.toISOString()).toBe(
        (drifted(2) as Item[]).find((c) => c.id === "bitcoin")!.last_updated,
      );
      expect(await scenario.db.prisma.quarantinedStream.count({ where: { releasedAt: null } })).toBe(0);
      // History does not rename or re-rank: the newest listing (run 3's) still decides.
      const asset = await scenario.db.prisma.asset.findFirstOrThrow({
        where: { sources: { some: { sourceAssetId: "bitcoin" } } },
        include: { sources: true },
      });
      expect(asset).toMatchObject({ name: "Bitcoin", rank: 1 });
      expect(asset.sources.find((m) => m.source === "COINGECKO")?.rank).toBe(1);
      app.stop();
    });

    it("keeps a stream held, and fails the release's source, when its release rejects most records", async () => {
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { ETL_SOURCES: "coingecko", DRIFT_POLICY_COINGECKO: "quarantine" },
      });
      await app.runner.run({ trigger: "CLI" });
      // The price is gone, not renamed: nothing in the held payload can be read.
      scenario.replay.setCoinGeckoPages([cg().map(({ current_price: _, ...rest }) => rest)]);
      const held = await app.runner.run({ trigger: "CLI" });
      expect(held.sources[0]).toMatchObject({ quarantined: 250 });
      const release = await app.runner.run({
        trigger: "CLI",
        release: { runId: held.runId, source: "COINGECKO" },
      });
      expect(release.sources[0]).toMatchObject({
        status: "FAILED",
        fetched: 250,
        written: 0,
        unchanged: 0,
        rejected: 250,
        error: expect.stringMatching(/^release rejected 250 of 250 records .*the streams stay held$/),
      });
      expect(
        await scenario.db.prisma.quarantinedStream.count({ where: { runId: held.runId, releasedAt: null } }),
      ).toBe(1);
      // The baseline did not take the broken shape: the next such payload is held again.
      const again = await app.runner.run({ trigger: "CLI" });
      expect(again.sources[0]).toMatchObject({ quarantined: 250, rejected: 0 });
      app.stop();
    });
  },
);
