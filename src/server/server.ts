import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { GraphQLSchema } from "graphql";
import { createYoga } from "graphql-yoga";
import type { Database } from "../db/database.ts";
import type { GraphQLContext } from "../graphql/context.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { checkHealth } from "./health.ts";
import { requestIdOf, useRequestMeta } from "./request-meta.ts";

export interface ServerOptions {
  schema: GraphQLSchema;
  db: Database;
  logger: Logger;
  metrics?: Metrics;
  port: number;
  host: string;
  explorer: boolean;
  shutdownTimeoutMs: number;
}

export function createYogaApp(options: Pick<ServerOptions, "schema" | "db" | "logger" | "explorer">) {
  const log = options.logger.child({ module: "graphql" });
  return createYoga<Record<string, never>, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: "/graphql",
    graphiql: options.explorer ? { title: "coinflow GraphiQL" } : false,
    landingPage: false,
    logging: {
      debug: (...args) => log.debug(args.map(String).join(" ")),
      info: (...args) => log.info(args.map(String).join(" ")),
      warn: (...args) => log.warn(args.map(String).join(" ")),
      error: (...args) => log.error(args.map(String).join(" ")),
    },
    context: ({ request }) => {
      const requestId = requestIdOf(request);
      return { prisma: options.db.prisma, requestId, logger: log.child({ requestId }) };
    },
    plugins: [useRequestMeta()],
  });
}

/** HTTP listener: /graphql (yoga), /health. Nothing listens until start(). */
export function createServer(options: ServerOptions) {
  const log = options.logger.child({ module: "server" });
  const yoga = createYogaApp(options);

  const http = createHttpServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
      const report = await checkHealth(options.db.prisma);
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
    await yoga.requestListener(req, res);
  });

  return {
    yoga,
    http,
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
    /** Stops accepting, lets in-flight requests finish (up to the timeout), then closes the rest. */
    async stop(): Promise<void> {
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
