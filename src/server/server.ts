import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { createScrubber } from "../security/scrubber.ts";
import { createClientAddress } from "./client-address.ts";
import { serveGraphQLWs } from "./graphql-ws.ts";
import { createHttpRoutes } from "./http-routes.ts";
import { createYogaApp, type YogaAppOptions } from "./yoga-app.ts";

export interface ServerOptions extends YogaAppOptions {
  port: number;
  host: string;
  shutdownTimeoutMs: number;
  /** Largest accepted request body (HTTP and WebSocket message). */
  maxBodyBytes?: number;
  /** MAX_SUBSCRIPTIONS_PER_CONNECTION: operations open at once on one graphql-ws connection. */
  maxSubscriptionsPerConnection?: number;
}

/**
 * The listener and its lifecycle: one HTTP server for the routes (http-routes.ts) and graphql-ws
 * (graphql-ws.ts) on the same port, both in front of one yoga app (yoga-app.ts).
 */
export function createServer(options: ServerOptions) {
  const log = options.logger.child({ module: "server" });
  const yoga = createYogaApp(options);
  const maxBody = options.maxBodyBytes ?? 1_000_000;
  const scrub = options.scrub ?? createScrubber([]);
  const http = createHttpServer(
    createHttpRoutes({
      yoga,
      db: options.db,
      logger: log,
      enabledSources: options.services.enabledSources,
      metrics: options.metrics,
      scrub,
      maxBodyBytes: maxBody,
    }),
  );
  const wss = new WebSocketServer({ server: http, path: "/graphql", maxPayload: maxBody });
  const ws = serveGraphQLWs({
    wss,
    yoga,
    scrub,
    clientAddress: createClientAddress(options.trustProxy ?? null),
    maxOperations: options.maxSubscriptionsPerConnection ?? 50,
    logger: log,
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
      await ws.dispose();
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
