import { createApp } from "../../src/app.ts";
import type { Config } from "../../src/config/config.ts";
import type { Database } from "../../src/db/database.ts";
import type { FeedClock } from "../../src/graphql/live/market-feed.ts";
import type { Logger } from "../../src/logger/logger.ts";
import { createPgliteTestDatabase, quietLogger } from "./databases.ts";
import { testConfig } from "./pipeline.ts";
import { type ReplayServer, startReplayServer } from "./replay-server.ts";

export const TEST_API_KEY = "test-etl-key-0123456789";

/**
 * The whole stack in one process as createApp builds it for the service: runner + feed + yoga
 * (and, on demand, the HTTP/WebSocket server on 127.0.0.1:0).
 */
export function createTestApp(
  db: Database,
  replay: ReplayServer,
  options: {
    env?: Record<string, string>;
    apiKey?: string | null;
    explorer?: boolean;
    production?: boolean;
    retentionHours?: number;
    bufferSize?: number;
    /** Off unless asked for: most tests write outside the pipeline (resets), which no event announces. */
    responseCacheTtlSeconds?: number;
    /** Defaults to a silent one; tests that read the logs pass their own. */
    logger?: Logger;
    /** The feed's replay clock (test/support/fake-clock.ts). */
    clock?: FeedClock;
  } = {},
) {
  const parsed = testConfig(replay, {
    ...(options.apiKey === null ? {} : { ETL_API_KEY: options.apiKey ?? TEST_API_KEY }),
    ...options.env,
  });
  const config: Config = {
    ...parsed,
    production: options.production ?? false,
    server: {
      ...parsed.server,
      explorer: options.explorer ?? true,
      responseCacheTtlSeconds: options.responseCacheTtlSeconds ?? 0,
      port: 0,
      host: "127.0.0.1",
      shutdownTimeoutMs: 1000,
    },
    live: {
      ...parsed.live,
      retentionHours: options.retentionHours ?? 24,
      bufferSize: options.bufferSize ?? 1000,
    },
  };
  const app = createApp({
    config,
    db,
    logger: options.logger ?? quietLogger,
    crossProcessEvents: false,
    clock: options.clock,
  });
  app.feed.start();
  const yoga = app.createYoga();

  /** POSTs a GraphQL operation in-process (yoga.fetch). */
  async function gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<{
    status: number;
    body: {
      data?: T;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
      extensions?: Record<string, unknown>;
    };
    headers: Headers;
  }> {
    const res = await yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json(), headers: res.headers };
  }

  return {
    app,
    bus: app.bus,
    config,
    runner: app.runner,
    feed: app.feed,
    services: app.services,
    metrics: app.metrics,
    yoga,
    gql,
    /** Binds the real HTTP + WebSocket server on 127.0.0.1:0. */
    async listen() {
      const server = app.createServer();
      const { port } = await server.start();
      return { server, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
    },
    /** Stops the feed: every marketUpdates subscriber is sent its RECONNECT (at most 2 s). */
    stop() {
      return app.feed.stop();
    },
  };
}

export type TestStack = Awaited<ReturnType<typeof startStack>>;

/**
 * The whole stack on a real port: a replay server for the sources, a PGlite database of its own,
 * the app wired like main.ts, listening on 127.0.0.1. close() stops them in reverse order.
 */
export async function startStack(options: Parameters<typeof createTestApp>[2] = {}) {
  const replay = await startReplayServer();
  const t = await createPgliteTestDatabase();
  const app = createTestApp(t.db, replay, options);
  const http = await app.listen();
  return {
    replay,
    t,
    app,
    http,
    async close() {
      await http.server.stop();
      await app.stop();
      await t.dispose();
      await replay.close();
    },
  };
}
