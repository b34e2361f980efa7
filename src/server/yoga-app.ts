import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { GraphQLSchema } from "graphql";
import { createYoga } from "graphql-yoga";
import type { TrustProxy } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { GraphQLContext, GraphQLServices } from "../graphql/context.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createScrubber, type Scrubber } from "../security/scrubber.ts";
import { createClientAddress } from "./client-address.ts";
import { useCountLimit } from "./count-limit.ts";
import { useFastReads } from "./fast-reads.ts";
import { createLocalGraphiQL } from "./graphiql.ts";
import {
  useIntrospection,
  useLimitErrorCodes,
  useLimits,
  useOperationMetrics,
  usePageSizeLimit,
} from "./graphql-plugins.ts";
import { useLazyRequestContext } from "./lazy-request-context.ts";
import { requestIdOf, useRequestMeta } from "./request-meta.ts";
import { useCommitInvalidatedCache } from "./response-cache.ts";
import { useScrubbedResults } from "./scrub-results.ts";
import { useSharedSubscriptions } from "./shared-subscriptions.ts";

/** What the GraphQL app needs: the schema, its services, and the limits and policies around it. */
export interface YogaAppOptions {
  schema: GraphQLSchema;
  db: Database;
  logger: Logger;
  services: GraphQLServices;
  metrics?: Metrics;
  explorer: boolean;
  production?: boolean;
  corsOrigins?: string[];
  /** Query results cached until the next pipeline event, at most this long; 0 or unset: off. */
  responseCacheTtlSeconds?: number;
  /** The service's scrubber: no response carries a configured secret. */
  scrub?: Scrubber;
  /** TRUST_PROXY: whose X-Forwarded-For names the client. */
  trustProxy?: TrustProxy;
  /** METRICS_OPERATION_NAMES_MAX: distinct operation names kept as a metric label. */
  metricsOperationNamesMax?: number;
  /** The one-statement path for hot reads (fast-reads.ts); off only to compare it with the general one. */
  fastReads?: boolean;
}

/** The per-request server context: HTTP gives `req`, graphql-ws the rest (see graphql-ws.ts). */
export interface ServerContext {
  req?: IncomingMessage;
  connectionParams?: Record<string, unknown>;
  /** graphql-ws: the Subscribe message's payload (plugins read params.query, as over HTTP). */
  params?: unknown;
  /** graphql-ws: set per operation by onSubscribe, so logs and extensions share one id. */
  requestId?: string;
  clientId?: string;
}

/**
 * The GraphQL app (yoga with its envelop plugins), without a listener: HTTP requests reach it
 * through http-routes.ts, WebSocket operations through graphql-ws.ts, tests through yoga.fetch.
 */
export function createYogaApp(options: YogaAppOptions) {
  const log = options.logger.child({ module: "graphql" });
  const clientAddress = createClientAddress(options.trustProxy ?? null);
  const graphiql = createLocalGraphiQL();
  return createYoga<ServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: "/graphql",
    graphiql: options.explorer
      ? { title: "coinflow GraphiQL", subscriptionsProtocol: "WS", defaultQuery: EXAMPLE_QUERY }
      : false,
    renderGraphiQL: graphiql.render,
    landingPage: false,
    batching: false,
    cors: options.corsOrigins?.length ? { origin: options.corsOrigins, methods: ["GET", "POST"] } : false,
    logging: {
      // yoga logs at debug several times per request: nothing is built unless debug is on.
      debug: (...args) => {
        if (log.isLevelEnabled("debug")) log.debug(args.map(String).join(" "));
      },
      info: (...args) => log.info(args.map(String).join(" ")),
      warn: (...args) => log.warn(args.map(String).join(" ")),
      error: (...args) =>
        log.error(args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" ")),
    },
    // `logger` and `clientId` are added by useLazyRequestContext, when first read.
    context: ({ request, connectionParams, requestId: given }) => {
      const requestId = given ?? (request ? requestIdOf(request) : randomUUID());
      const fromParams = connectionParams?.authorization;
      return {
        prisma: options.db.prisma,
        requestId,
        services: options.services,
        authorization:
          request?.headers.get("authorization") ?? (typeof fromParams === "string" ? fromParams : null),
      } as GraphQLContext;
    },
    plugins: [
      useLazyRequestContext(log, clientAddress),
      useRequestMeta(),
      options.explorer ? graphiql.assets : null,
      useLimitErrorCodes(),
      usePageSizeLimit(),
      useLimits({ production: options.production ?? false }),
      useCountLimit(),
      useIntrospection(options.explorer),
      ...(options.metrics ? [useOperationMetrics(options.metrics, options.metricsOperationNamesMax)] : []),
      useSharedSubscriptions(options.metrics),
      useFastReads({
        readRows: (text, values, prepare) => options.db.readRows(text, values, prepare),
        enabled: options.fastReads,
        metrics: options.metrics,
        logger: log,
      }),
      useCommitInvalidatedCache({
        bus: options.services.bus,
        ttlSeconds: options.responseCacheTtlSeconds ?? 0,
      }),
      // Last: whatever the plugins above produced, no secret leaves in a response.
      useScrubbedResults(options.scrub ?? createScrubber([])),
    ].filter((p) => p !== null),
  });
}

export const EXAMPLE_QUERY = `# coinflow: crypto market data from CoinGecko, CoinPaprika and CSV, unified.
{
  assets(first: 5) {
    totalCount
    edges {
      node {
        symbol
        name
        rank
        latestPrice { priceUsd observedAt sources { source priceUsd deviationPct included } }
      }
    }
  }
}
`;

export type YogaApp = ReturnType<typeof createYogaApp>;
