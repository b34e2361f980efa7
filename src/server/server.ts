import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ExecutionArgs, GraphQLError, type GraphQLSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";
import type { TrustProxy } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import type { GraphQLContext, GraphQLServices } from "../graphql/context.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createScrubber, type Scrubber } from "../security/scrubber.ts";
import { createClientAddress } from "./client-address.ts";
import { createLocalGraphiQL } from "./graphiql.ts";
import {
  useIntrospection,
  useLimitErrorCodes,
  useLimits,
  useOperationMetrics,
  usePageSizeLimit,
  withLimitCode,
} from "./graphql-plugins.ts";
import { checkHealth } from "./health.ts";
import { requestIdOf, stampResult, useRequestMeta } from "./request-meta.ts";
import { useCommitInvalidatedCache } from "./response-cache.ts";
import { scrubResult, useScrubbedResults } from "./scrub-results.ts";
import { serveStatic } from "./static.ts";

export interface ServerOptions {
  schema: GraphQLSchema;
  db: Database;
  logger: Logger;
  services: GraphQLServices;
  metrics?: Metrics;
  port: number;
  host: string;
  explorer: boolean;
  production?: boolean;
  corsOrigins?: string[];
  shutdownTimeoutMs: number;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /** Query results cached until the next pipeline event, at most this long; 0 or unset: off. */
  responseCacheTtlSeconds?: number;
  /** The service's scrubber: no response, /metrics or /health output carries a configured secret. */
  scrub?: Scrubber;
  /** TRUST_PROXY: whose X-Forwarded-For names the client. */
  trustProxy?: TrustProxy;
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION: operations open at once on one graphql-ws connection. */
  maxSubscriptionsPerConnection?: number;
  /** METRICS_OPERATION_NAMES_MAX: distinct operation names kept as a metric label. */
  metricsOperationNamesMax?: number;
}

interface ServerContext {
  req?: IncomingMessage;
  connectionParams?: Record<string, unknown>;
  /** graphql-ws: the Subscribe message's payload (plugins read params.query, as over HTTP). */
  params?: unknown;
  /** graphql-ws: set per operation by onSubscribe, so logs and extensions share one id. */
  requestId?: string;
  clientId?: string;
}

/** A graphql-ws operation's context: when it started, and (subscriptions) when its event arrived. */
type WsContext = GraphQLContext & { wsStartedAt: number };

/** Above this many unsent bytes on a WebSocket, subscriptions wait (and their buffers conflate). */
const WS_HIGH_WATER_BYTES = 256 * 1024;

async function drained(socket: WebSocket): Promise<void> {
  while (socket.bufferedAmount > WS_HIGH_WATER_BYTES && socket.readyState === socket.OPEN) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function createYogaApp(
  options: Pick<
    ServerOptions,
    | "schema"
    | "db"
    | "logger"
    | "explorer"
    | "services"
    | "metrics"
    | "production"
    | "corsOrigins"
    | "responseCacheTtlSeconds"
    | "scrub"
    | "trustProxy"
    | "metricsOperationNamesMax"
  >,
) {
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
      debug: (...args) => log.debug(args.map(String).join(" ")),
      info: (...args) => log.info(args.map(String).join(" ")),
      warn: (...args) => log.warn(args.map(String).join(" ")),
      error: (...args) =>
        log.error(args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : String(a))).join(" ")),
    },
    context: ({ request, req, connectionParams, requestId: given, clientId }) => {
      const requestId = given ?? (request ? requestIdOf(request) : randomUUID());
      const fromParams = connectionParams?.authorization;
      return {
        prisma: options.db.prisma,
        requestId,
        logger: log.child({ requestId }),
        services: options.services,
        authorization:
          request?.headers.get("authorization") ?? (typeof fromParams === "string" ? fromParams : null),
        clientId: clientId ?? clientAddress(req),
      };
    },
    plugins: [
      useRequestMeta(),
      options.explorer ? graphiql.assets : null,
      useLimitErrorCodes(),
      usePageSizeLimit(),
      useLimits({ production: options.production ?? false }),
      useIntrospection(options.explorer),
      ...(options.metrics ? [useOperationMetrics(options.metrics, options.metricsOperationNamesMax)] : []),
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

/** HTTP + WebSocket listener: /graphql (yoga, graphql-ws, SSE), /health, /metrics, the live page. */
export function createServer(options: ServerOptions) {
  const log = options.logger.child({ module: "server" });
  const yoga = createYogaApp(options);
  const maxBody = options.maxBodyBytes ?? 1_000_000;
  const scrub = options.scrub ?? createScrubber([]);
  const clientAddress = createClientAddress(options.trustProxy ?? null);
  const maxOperations = options.maxSubscriptionsPerConnection ?? 50;

  const http = createHttpServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    try {
      if (
        (path === "/health" || path === "/health/ready") &&
        (req.method === "GET" || req.method === "HEAD")
      ) {
        const report = await checkHealth(options.db.prisma, options.services.enabledSources);
        res.writeHead(report.status === "ok" ? 200 : 503, {
          "content-type": "application/json",
          "cache-control": "no-store",
        });
        res.end(req.method === "HEAD" ? undefined : JSON.stringify(scrub.deep(report)));
        return;
      }
      if (path === "/metrics" && req.method === "GET" && options.metrics) {
        const { registry } = options.metrics;
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(scrub(await registry.metrics()));
        return;
      }
      if (
        path !== "/graphql" &&
        (req.method === "GET" || req.method === "HEAD") &&
        (await serveStatic(path, req, res))
      ) {
        return;
      }
      if (Number(req.headers["content-length"] ?? 0) > maxBody) {
        res.writeHead(413, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            errors: [
              { message: `request body over ${maxBody} bytes`, extensions: { code: "PAYLOAD_TOO_LARGE" } },
            ],
          }),
        );
        req.resume();
        return;
      }
      await yoga.requestListener(req, res);
    } catch (error) {
      log.error({ err: (error as Error).message, path }, "request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ message: "Unexpected error." }] }));
    }
  });

  const wss = new WebSocketServer({ server: http, path: "/graphql", maxPayload: maxBody });
  const ws = useServer<Record<string, unknown>, { request: IncomingMessage; socket: WebSocket }>(
    {
      // The envelop's own execute/subscribe, handed over in rootValue by onSubscribe (yoga's
      // graphql-ws recipe), so plugins wrap WebSocket operations as they wrap HTTP ones.
      execute: (args) =>
        (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) =>
        (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      connectionInitWaitTimeout: 3_000,
      onSubscribe: async (ctx, _id, payload) => {
        const wsStartedAt = performance.now();
        const requestId = randomUUID();
        // ctx.subscriptions holds every open operation of this connection, this one included.
        if (Object.keys(ctx.subscriptions).length > maxOperations) {
          return [
            new GraphQLError(
              `too many operations open on this connection (MAX_SUBSCRIPTIONS_PER_CONNECTION = ${maxOperations}): complete one first`,
              { extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit: maxOperations, requestId } },
            ),
          ];
        }
        // The same envelop as HTTP: limits, masking, auth and request ids apply to WebSocket too.
        // params: plugins (the response cache among them) read the operation from context.params.
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          connectionParams: ctx.connectionParams,
          params: payload,
          requestId,
          // The client of a WebSocket is the client of its upgrade request.
          clientId: clientAddress(ctx.extra.request),
        });
        // Limits reject by throwing from parse (tokens) and validate (depth, aliases, cost): answer
        // with an error message, as HTTP does, instead of a dropped operation.
        let document: ReturnType<typeof parse>;
        try {
          document = parse(payload.query);
          const errors = validate(schema, document);
          if (errors.length > 0) return errors.map(withLimitCode);
        } catch (error) {
          if (error instanceof GraphQLError) return [withLimitCode(error)];
          throw error;
        }
        const socket = ctx.extra.socket;
        const contextValue: WsContext = {
          ...((await contextFactory()) as GraphQLContext),
          backpressure: () => drained(socket),
          wsStartedAt,
        };
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
      },
      // Every result as HTTP sends it: request id and latency (a subscription event's latency is
      // counted from its event), masked errors with the request id, no secret.
      onNext: (_ctx, _id, _payload, args, result) => {
        const c = args.contextValue as WsContext;
        const started = c.liveEventAt ?? c.wsStartedAt;
        return scrubResult(stampResult(result, c.requestId, started), scrub) as never;
      },
    },
    wss,
  );

  // WebSocket keep-alive: a client that stops answering pings is dropped.
  const heartbeat = setInterval(() => {
    for (const socket of wss.clients) {
      const alive = socket as unknown as { isAlive?: boolean };
      if (alive.isAlive === false) {
        socket.terminate();
        continue;
      }
      alive.isAlive = false;
      socket.ping();
    }
  }, 30_000);
  heartbeat.unref();
  wss.on("connection", (socket) => {
    (socket as unknown as { isAlive?: boolean }).isAlive = true;
    socket.on("pong", () => {
      (socket as unknown as { isAlive?: boolean }).isAlive = true;
    });
  });

  return {
    yoga,
    http,
    wss,
    async start(): Promise<{ port: number }> {
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(options.port, options.host, () => {
          http.off("error", reject);
          resolve();
        });
      });
      const { port } = http.address() as AddressInfo;
      log.info(
        { port, host: options.host, graphiql: options.explorer },
        `listening on http://${options.host}:${port}/graphql`,
      );
      return { port };
    },
    /** Stops accepting, closes WebSockets with 1001, lets in-flight requests finish (up to the timeout). */
    async stop(): Promise<void> {
      clearInterval(heartbeat);
      for (const socket of wss.clients) socket.close(1001, "server shutting down");
      await Promise.resolve(ws.dispose()).catch(() => undefined);
      if (!http.listening) return;
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const timer = setTimeout(() => http.closeAllConnections(), options.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

export type Server = ReturnType<typeof createServer>;
