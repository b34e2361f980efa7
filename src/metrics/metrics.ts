import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Every Prometheus metric of the service, in one place (README lists them). One registry per
 * process; tests create their own.
 */
export function createMetrics(options: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    runs: new Counter({
      name: "etl_runs_total",
      help: "ETL runs by final status",
      labelNames: ["status"],
      registers,
    }),
    records: new Counter({
      name: "etl_records_total",
      help: "Records by source and outcome (written, unchanged, rejected, quarantined)",
      labelNames: ["source", "outcome"],
      registers,
    }),
    runDuration: new Histogram({
      name: "etl_run_duration_seconds",
      help: "Duration of whole ETL runs",
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    sourceDuration: new Histogram({
      name: "etl_source_duration_seconds",
      help: "Duration of one source within a run",
      labelNames: ["source"],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    sourceUp: new Gauge({
      name: "etl_source_up",
      help: "1 when the source's last run succeeded, 0 when it failed",
      labelNames: ["source"],
      registers,
    }),
    lastSuccess: new Gauge({
      name: "etl_source_last_success_timestamp_seconds",
      help: "Unix time of the source's last successful run",
      labelNames: ["source"],
      registers,
    }),
    driftEvents: new Counter({
      name: "etl_drift_events_total",
      help: "Schema drift events by source and kind",
      labelNames: ["source", "kind"],
      registers,
    }),
    upstreamRetries: new Counter({
      name: "etl_upstream_retries_total",
      help: "Retried upstream requests by source and status (0 = network error or timeout)",
      labelNames: ["source", "status"],
      registers,
    }),
    upstreamRateLimited: new Counter({
      name: "etl_upstream_rate_limited_total",
      help: "Upstream 429 answers by source",
      labelNames: ["source"],
      registers,
    }),
    graphqlOperations: new Counter({
      name: "graphql_operations_total",
      help: "GraphQL operations by type, name and outcome",
      labelNames: ["type", "name", "outcome"],
      registers,
    }),
    fastReads: new Counter({
      name: "graphql_fast_reads_total",
      help: "Hot reads answered by one SQL statement, or fallen back to the general path (then run twice)",
      labelNames: ["outcome"],
      registers,
    }),
    subscriptionEvents: new Counter({
      name: "graphql_subscription_events_total",
      help: "Subscription events executed for their subscriber (own) or reused from one with the same operation (shared)",
      labelNames: ["execution"],
      registers,
    }),
    graphqlDuration: new Histogram({
      name: "graphql_operation_duration_seconds",
      help: "GraphQL operation duration by type",
      labelNames: ["type"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
