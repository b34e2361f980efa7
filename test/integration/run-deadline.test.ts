import { expect, it } from "vitest";
import { createTestApp } from "../support/app.ts";
import { describeOnEachDatabase } from "../support/scenario.ts";

describeOnEachDatabase(
  (kind) => `a stalled upstream body on ${kind}`,
  (scenario) => {
    it("fails the source at HTTP_TIMEOUT_MS (the run goes on PARTIAL) and releases the lock", async () => {
      scenario.replay.fault("coingecko", { kind: "stall" }, { always: true });
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { HTTP_TIMEOUT_MS: "500", HTTP_MAX_ATTEMPTS: "1", ETL_SOURCES: "coingecko,csv" },
      });
      const run = await app.runner.run({ trigger: "CLI" });
      process.stderr.write(`${scenario.kind}: stalled source failed, run PARTIAL in ${run.durationMs} ms\n`);
      expect(run.status).toBe("PARTIAL");
      expect(run.sources.find((s) => s.source === "COINGECKO")?.error).toMatch(
        /timed out after 500 ms while reading the body/,
      );
      scenario.replay.clearFaults();
      expect((await app.runner.run({ trigger: "CLI", sources: ["COINGECKO"] })).status).toBe("SUCCEEDED");
      app.stop();
    });

    it("fails a run that overruns ETL_RUN_TIMEOUT_SECONDS, says so, releases the lock, and /health tells", async () => {
      // The HTTP deadline is far away: only the run's own deadline can end this run.
      scenario.replay.fault("coingecko", { kind: "stall" }, { always: true });
      const app = createTestApp(scenario.db, scenario.replay, {
        env: { HTTP_TIMEOUT_MS: "120000", ETL_RUN_TIMEOUT_SECONDS: "1", ETL_SOURCES: "coingecko" },
      });
      const { server, url } = await app.listen();
      try {
        const started = await app.runner.start({ trigger: "CLI" });
        await new Promise((r) => setTimeout(r, 300));
        const during = await (await fetch(`${url}/health`)).json();
        expect(during.lastRun).toMatchObject({ id: started.run.id, status: "RUNNING" });
        const summary = await started.done;
        // A figure for RELIABILITY.md.
        process.stderr.write(
          `${scenario.kind}: run timed out and FAILED ${summary.durationMs} ms after it started\n`,
        );
        expect(summary.status).toBe("FAILED");
        expect(summary.error).toMatch(
          /^timed out: the run was still going after 1 s \(ETL_RUN_TIMEOUT_SECONDS\)/,
        );
        const res = await fetch(`${url}/health`);
        expect(res.status).toBe(200);
        expect((await res.json()).lastRun).toMatchObject({
          id: started.run.id,
          status: "FAILED",
          error: expect.stringMatching(/^timed out/),
        });
        // The lock is free: a second run starts (not "already running") and finishes.
        scenario.replay.clearFaults();
        const second = await app.runner.start({ trigger: "CLI" });
        expect(second.alreadyRunning).toBe(false);
        expect((await second.done).status).toBe("SUCCEEDED");
      } finally {
        await server.stop();
        app.stop();
      }
    });
  },
);
