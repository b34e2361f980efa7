import { type Config, consensusSettings } from "./config/config.ts";
import type { Database } from "./db/database.ts";
import { createAuthFailureLimiter } from "./graphql/auth.ts";
import type { GraphQLServices } from "./graphql/context.ts";
import { createMarketFeed, type FeedClock } from "./graphql/live/market-feed.ts";
import { buildSchema } from "./graphql/schema.ts";
import type { Logger } from "./logger/logger.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { createEtlRunner } from "./pipeline/etl-runner.ts";
import { createEventBus } from "./pipeline/events.ts";
import { createFailureInjector } from "./pipeline/failure-injection.ts";
import { createPgEventTransport } from "./pipeline/pg-event-transport.ts";
import { createScheduler } from "./pipeline/scheduler.ts";
import { createScrubber, type Scrubber } from "./security/scrubber.ts";
import { createServer } from "./server/server.ts";
import { createYogaApp } from "./server/yoga-app.ts";
import { createSources } from "./sources/create-sources.ts";

/** Wrong API keys a client may send per minute before its further wrong keys get RATE_LIMITED. */
const AUTH_FAILURES_PER_MINUTE = 10;

/**
 * The composition root: config and an open database in, the wired service out. main.ts (the
 * service and the CLI), the tests and the benchmarks all build the service here, so what they
 * run is what production runs. Nothing starts until start(): building is free of side effects.
 */
export function createApp(options: {
  config: Config;
  db: Database;
  logger: Logger;
  /** Node's process metrics on /metrics (the service); off where many apps share a process. */
  processMetrics?: boolean;
  /** The scrubber the logger already uses (main.ts); else one for config.secrets. */
  scrub?: Scrubber;
  /**
   * Events to and from other processes (NOTIFY on PostgreSQL; default on). Tests and benches that
   * run one process turn it off, as they always ran: no NOTIFY inside every batch transaction.
   */
  crossProcessEvents?: boolean;
  /** The live feed's replay clock (tests pass a fake one). */
  clock?: FeedClock;
}) {
  const { config, db, logger } = options;
  // One scrubber for everything stored or served: logs, stored errors, the raw archive, GraphQL
  // responses, /metrics, /health.
  const scrub = options.scrub ?? createScrubber(config.secrets);
  const metrics: Metrics = createMetrics({ defaults: options.processMetrics ?? false });
  const consensus = consensusSettings(config);
  // On PostgreSQL, events reach every process through LISTEN/NOTIFY; PGlite stays in-process.
  const bus = createEventBus({
    transport:
      db.kind === "postgres" && options.crossProcessEvents !== false
        ? createPgEventTransport({ db, logger })
        : undefined,
    onListenerError: (error) => logger.error({ err: String(error) }, "event listener failed"),
  });
  const runner = createEtlRunner({
    db,
    sources: createSources(config.sources, {
      onRetry: (e) => {
        metrics.upstreamRetries.inc({ source: e.source, status: String(e.status ?? 0) });
        if (e.status === 429) metrics.upstreamRateLimited.inc({ source: e.source });
      },
      scrub,
    }),
    logger,
    bus,
    metrics,
    injector: createFailureInjector({
      failAfterRecords: config.etl.failAfterRecords,
      chaos: config.etl.chaos,
    }),
    batchSize: config.etl.batchSize,
    rejectedRowsKept: config.etl.rejectedRowsKept,
    rules: { maxSkewMs: consensus.maxSkewMs, maxPriceRatio: config.etl.identityMaxPriceRatio },
    driftPolicies: {
      COINGECKO: config.sources.coingecko.driftPolicy,
      COINPAPRIKA: config.sources.coinpaprika.driftPolicy,
      CSV: config.sources.csv.driftPolicy,
    },
    rawRetentionDays: config.etl.rawPayloadRetentionDays,
    observationRetention: {
      retentionDays: config.etl.observationRetentionDays,
      resumeHours: config.live.retentionHours,
    },
    runTimeoutMs: config.etl.runTimeoutMs,
    scrub,
    checks: { ...consensus, countDropPct: config.etl.runCountDropPct },
  });
  const feed = createMarketFeed({
    prisma: db.prisma,
    bus,
    logger,
    consensus,
    retentionHours: config.live.retentionHours,
    bufferSize: config.live.bufferSize,
    heartbeatMs: config.live.heartbeatSeconds * 1000,
    clock: options.clock,
  });
  const services: GraphQLServices = {
    runner,
    bus,
    feed,
    etlApiKey: config.etl.apiKey,
    consensus,
    enabledSources: config.sources.enabled,
    authLimiter: createAuthFailureLimiter({ maxFailures: AUTH_FAILURES_PER_MINUTE, windowMs: 60_000 }),
    subscriptionBufferSize: config.live.bufferSize,
    candleFinality: { seconds: config.live.candleFinalitySeconds },
  };
  const scheduler = createScheduler({ runner, intervalSeconds: config.etl.intervalSeconds, logger });
  let schema: ReturnType<typeof buildSchema> | null = null;
  // Built on first use: a CLI run or a pipeline test needs no schema.
  const schemaOnce = () => {
    schema ??= buildSchema();
    return schema;
  };
  const graphql = () => ({
    schema: schemaOnce(),
    db,
    logger,
    services,
    metrics,
    explorer: config.server.explorer,
    production: config.production,
    corsOrigins: config.server.corsOrigins,
    responseCacheTtlSeconds: config.server.responseCacheTtlSeconds,
    scrub,
    trustProxy: config.server.trustProxy,
    metricsOperationNamesMax: config.server.metricsOperationNamesMax,
  });

  return {
    config,
    db,
    logger,
    scrub,
    metrics,
    bus,
    runner,
    feed,
    services,
    scheduler,
    /** The GraphQL app without a listener (tests call it with yoga.fetch). */
    createYoga: (overrides: { fastReads?: boolean } = {}) => createYogaApp({ ...graphql(), ...overrides }),
    /** The HTTP + WebSocket listener on config.server's host and port (start() binds it). */
    createServer: () =>
      createServer({
        ...graphql(),
        port: config.server.port,
        host: config.server.host,
        shutdownTimeoutMs: config.server.shutdownTimeoutMs,
        maxSubscriptionsPerConnection: config.server.maxSubscriptionsPerConnection,
      }),
    /** Events from other processes, the live feed, and (with `schedule`) the ETL schedule. */
    async start({ schedule = false } = {}) {
      await bus.start();
      feed.start();
      if (schedule) scheduler.start();
    },
    /** The reverse of start(): the schedule, the feed, a run in flight (FAILED with `reason`), events. */
    async stop(reason: string) {
      scheduler.stop();
      // Before the server closes the sockets: every marketUpdates subscriber gets its RECONNECT.
      await feed.stop();
      await runner.stop(reason);
      await bus.stop();
    },
  };
}

export type App = ReturnType<typeof createApp>;
