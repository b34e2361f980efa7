import type { Plugin } from "graphql-yoga";
import { marketDataTemplate, runMarketDataRead } from "../graphql/market-data-read.ts";

/**
 * Hot reads skip the general executor: an operation of the compiled shape (market-data-read.ts)
 * executes as one SQL statement shaped into the response; every other operation, and any hot one
 * that fails, runs as before. Below the response cache and the limits: a cache hit or a refused
 * operation never gets here, and what this returns is cached like any result.
 */
export function useFastReads(enabled = true): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!enabled) return;
      const template = marketDataTemplate(args);
      if (!template) return;
      setExecuteFn(async (a) => (await runMarketDataRead(template, a)) ?? executeFn(a));
    },
  };
}
