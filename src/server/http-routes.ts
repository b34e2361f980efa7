import type { IncomingMessage, ServerResponse } from "node:http";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Scrubber } from "../security/scrubber.ts";
import type { SourceId } from "../sources/record.ts";
import { checkHealth } from "./health.ts";
import { serveStatic } from "./static.ts";
import type { YogaApp } from "./yoga-app.ts";

/**
 * The HTTP routes: /health and /health/ready, /metrics, the static live page, and /graphql
 * (yoga: queries, mutations, SSE subscriptions, GraphiQL), with the request-body limit.
 */
export function createHttpRoutes(options: {
  yoga: YogaApp;
  db: Database;
  logger: Logger;
  enabledSources: SourceId[];
  metrics?: Metrics;
  scrub: Scrubber;
  maxBodyBytes: number;
}) {
  const { yoga, scrub } = options;
  const log = options.logger;
  const maxBody = options.maxBodyBytes;
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    try {
      if (
        (path === "/health" || path === "/health/ready") &&
        (req.method === "GET" || req.method === "HEAD")
      ) {
        const report = await checkHealth(options.db.prisma, options.enabledSources);
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
  };
}
