import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ExecutionArgs, GraphQLError, type GraphQLSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";
import type { Database } from "../db/database.ts";
import type { GraphQLContext, GraphQLServices } from "../graphql/context.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import {
  useIntrospection,
  useLimitErrorCodes,
  useLimits,
  useOperationMetrics,
  usePageSizeLimit,
  withLimitCode,
} from "./graphql-plugins.ts";
import { checkHealth } from "./health.ts";
import { requestIdOf, useRequestMeta } from "./request-meta.ts";
import { useCommitInvalidatedCache } from "./response-cache.ts";
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
}

interface ServerContext {
  req?: IncomingMessage;
  connectionParams?: Record<string, unknown>;
}

const clientOf = (req: IncomingMessage | undefined) => req?.socket.remoteAddress ?? "unknown";

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
  >,
) {
  const log = options.logger.child({ module: "graphql" });
  return createYoga<ServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: "/graphql",
    graphiql: options.explorer
      ? { title: "coinflow GraphiQL", subscriptionsProtocol: "WS", defaultQuery: EXAMPLE_QUERY }
      : false,
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
    context: ({ request, req, connectionParams }) => {
      const requestId = request ? requestIdOf(request) : randomUUID();
      const fromParams = connectionParams?.authorization;
      return {
        prisma: options.db.prisma,
        requestId,
        logger: log.child({ requestId }),
        services: options.services,
        authorization:
          request?.headers.get("authorization") ?? (typeof fromParams === "string" ? fromParams : null),
        clientId: clientOf(req),
      };
    },
    plugins: [
      useRequestMeta(),
      useLimitErrorCodes(),
      usePageSizeLimit(),
      useLimits({ production: options.production ?? false }),
      useIntrospection(options.explorer),
      ...(options.metrics ? [useOperationMetrics(options.metrics)] : []),
      useCommitInvalidatedCache({
        bus: options.services.bus,
        ttlSeconds: options.responseCacheTtlSeconds ?? 0,
      }),
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
        res.end(req.method === "HEAD" ? undefined : JSON.stringify(report));
        return;
      }
      if (path === "/metrics" && req.method === "GET" && options.metrics) {
        const { registry } = options.metrics;
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(await registry.metrics());
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
      execute: (args) =>
        (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) =>
        (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      connectionInitWaitTimeout: 3_000,
      onSubscribe: async (ctx, _id, payload) => {
        // The same envelop as HTTP: limits, masking, auth and request ids apply to WebSocket too.
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          connectionParams: ctx.connectionParams,
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
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: { ...(await contextFactory()), backpressure: () => drained(socket) },
          rootValue: { execute, subscribe },
        };
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
