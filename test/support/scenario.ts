import { afterAll, beforeAll, beforeEach, describe } from "vitest";
import type { Database } from "../../src/db/database.ts";
import { databaseKinds, type TestDatabase } from "./databases.ts";
import {
  COINGECKO_TOP250,
  COINPAPRIKA_TICKERS,
  loadFixture,
  type ReplayServer,
  startReplayServer,
} from "./replay-server.ts";

export type DatabaseKind = (typeof databaseKinds)[number]["kind"];

/** What a suite's tests reach: valid from its first hook on (read them inside hooks and tests). */
export interface Scenario {
  readonly kind: DatabaseKind;
  /** The file's replay server, shared by the suites of every database kind. */
  readonly replay: ReplayServer;
  /** This suite's own migrated database. */
  readonly database: TestDatabase;
  /** Shorthand for `database.db`. */
  readonly db: Database;
}

export interface ScenarioOptions {
  /**
   * Before each test: empty every table, clear the replay server's faults and serve the recorded
   * payloads again, so that no test sees what an earlier one left. Off for suites that build
   * their data once in a `beforeAll` of their own and only read it.
   * @default true
   */
  resetEachTest?: boolean;
}

/**
 * The set-up that the database-backed integration tests share: one replay server on 127.0.0.1
 * for the file (started before its first test, closed after its last), and for each kind in
 * `databaseKinds` a suite with its own migrated database, disposed after the suite. A kind that is
 * not available here (PostgreSQL down) is reported as skipped, not left out.
 *
 * `body` runs while the suite is collected, before any hook: it declares tests and hooks, and
 * reads the scenario's fields only inside them. Its own `beforeAll` hooks run after the database
 * exists (vitest runs "before" hooks in the order they were declared).
 */
export function describeOnEachDatabase(
  title: (kind: DatabaseKind) => string,
  body: (scenario: Scenario) => void,
  options: ScenarioOptions = {},
): void {
  let replay: ReplayServer | undefined;
  beforeAll(async () => {
    replay = await startReplayServer();
  });
  afterAll(() => replay?.close());
  const started = () => {
    if (!replay)
      throw new Error("the replay server starts in beforeAll: read scenario.replay in a hook or test");
    return replay;
  };

  for (const { kind, create, available } of databaseKinds) {
    describe.skipIf(!available)(title(kind), () => {
      let database: TestDatabase | undefined;
      const created = () => {
        if (!database) throw new Error("the database is created in beforeAll: read it in a hook or test");
        return database;
      };
      beforeAll(async () => {
        database = await create();
      });
      afterAll(() => database?.dispose());
      if (options.resetEachTest ?? true) {
        beforeEach(async () => {
          await created().reset();
          const server = started();
          server.clearFaults();
          // Fresh copies: a test may change the items it was handed.
          server.setCoinGeckoPages([loadFixture<unknown[]>(COINGECKO_TOP250)]);
          server.setCoinPaprikaTickers(loadFixture<unknown[]>(COINPAPRIKA_TICKERS));
        });
      }
      body({
        kind,
        get replay() {
          return started();
        },
        get database() {
          return created();
        },
        get db() {
          return created().db;
        },
      });
    });
  }
}
