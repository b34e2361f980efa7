import { consensusSettings } from "../../src/config/config.ts";
import type { Database } from "../../src/db/database.ts";
import { createAuthFailureLimiter } from "../../src/graphql/auth.ts";
import type { GraphQLServices } from "../../src/graphql/context.ts";
import { createMarketFeed } from "../../src/graphql/live/market-feed.ts";
import { buildSchema } from "../../src/graphql/schema.ts";
import type { Logger } from "../../src/logger/logger.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { createEventBus } from "../../src/pipeline/events.ts";
import { createServer, createYogaApp } from "../../src/server/server.ts";
import { createPgliteTestDatabase, quietLogger } from "./databases.ts";
import { createTestRunner } from "./pipeline.ts";
import { type ReplayServer, startReplayServer } from "./replay-server.ts";

export const TEST_API_KEY = "test-etl-key-0123456789";

/**
 * The whole stack in one process, wired like main.ts: runner + feed + yoga (and, on demand, the
 * HTTP/WebSocket server on 127.0.0.1:0).
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
  } = {},
) {
  const bus = createEventBus();
  const { runner, metrics, config, scrub } = createTestRunner(db, replay, options.env ?? {}, {
    bus,
    logger: options.logger,
  });
  const consensus = consensusSettings(config);
  const feed = createMarketFeed({
    prisma: db.prisma,
    bus,
    logger: options.logger ?? quietLogger,
    consensus,
    retentionHours: options.retentionHours ?? 24,
    bufferSize: options.bufferSize ?? 1000,
  });
  const services: GraphQLServices = {
    runner,
    bus,
    feed,
    etlApiKey: options.apiKey === null ? undefined : (options.apiKey ?? TEST_API_KEY),
    consensus,
    enabledSources: ["COINGECKO", "COINPAPRIKA", "CSV"].filter((s) =>
      config.sources.enabled.includes(s.toLowerCase() as never),
    ) as GraphQLServices["enabledSources"],
    authLimiter: createAuthFailureLimiter({ maxFailures: 10, windowMs: 60_000 }),
    subscriptionBufferSize: options.bufferSize ?? 1000,
  };
  const common = {
    schema: buildSchema(),
    db,
    logger: options.logger ?? quietLogger,
    services,
    metrics: metrics ?? createMetrics(),
    explorer: options.explorer ?? true,
    production: options.production ?? false,
    responseCacheTtlSeconds: options.responseCacheTtlSeconds ?? 0,
    scrub,
    trustProxy: config.server.trustProxy,
    maxSubscriptionsPerConnection: config.server.maxSubscriptionsPerConnection,
    metricsOperationNamesMax: config.server.metricsOperationNamesMax,
  };
  feed.start();
  const yoga = createYogaApp(common);

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
    bus,
    config,
    runner,
    feed,
    services,
    metrics: common.metrics,
    yoga,
    gql,
    /** Binds the real HTTP + WebSocket server on 127.0.0.1:0. */
    async listen() {
      const server = createServer({ ...common, port: 0, host: "127.0.0.1", shutdownTimeoutMs: 1000 });
      const { port } = await server.start();
      return { server, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
    },
    stop() {
      feed.stop();
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
      app.stop();
      await t.dispose();
      await replay.close();
    },
  };
}
