import type { Plugin } from "graphql-yoga";
import { marketDataTemplate, runMarketDataRead } from "../graphql/market-data-read.ts";
import type { Logger } from "../logger/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { ReadRows } from "../services/market-data.ts";

/**
 * Hot reads skip the general executor: an operation of the compiled shape (market-data-read.ts)
 * executes as one SQL statement shaped into the response; every other operation, and any hot one
 * that fails, runs as before (counted as a fallback: it then runs twice). Below the response cache
 * and the limits: a cache hit or a refused operation never gets here, and what this returns is
 * cached like any result.
 */
export function useFastReads(options: {
  /** Database.readRows: the statement runs on the driver, not through Prisma. */
  readRows: ReadRows;
  enabled?: boolean;
  metrics?: Metrics;
  logger?: Logger;
}): Plugin {
  if (options.enabled === false) return {};
  const { metrics, logger, readRows } = options;
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const template = marketDataTemplate(args);
      if (!template) return;
      setExecuteFn(async (a) => {
        const result = await runMarketDataRead(template, a, readRows, (reason) => {
          metrics?.fastReads.inc({ outcome: "fallback" });
          logger?.debug({ reason }, "hot read fell back to the general path");
        });
        if (result) {
          metrics?.fastReads.inc({ outcome: "answered" });
          return result;
        }
        return executeFn(a);
      });
    },
  };
}
