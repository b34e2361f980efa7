import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export interface Collector<T> {
  events: T[];
  /** Resolves when at least n events arrived (or rejects after the timeout). */
  until: (n: number | ((events: T[]) => boolean), timeoutMs?: number) => Promise<T[]>;
  stop: () => void;
  errors: unknown[];
}

export function wsClient(url: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({ url, webSocketImpl: WebSocket, connectionParams, lazy: true, retryAttempts: 0 });
}

/** Subscribes over graphql-ws and collects `data` payloads. */
export function collect<T = any>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Collector<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters: (() => void)[] = [];
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) errors.push(value.errors);
        if (value.data) events.push(value.data as T);
        for (const w of waiters.splice(0)) w();
      },
      error: (e) => {
        errors.push(e);
        for (const w of waiters.splice(0)) w();
      },
      complete: () => undefined,
    },
  );
  return {
    events,
    errors,
    stop: unsubscribe,
    until: (n, timeoutMs = 20_000) =>
      new Promise<T[]>((resolve, reject) => {
        const done = typeof n === "number" ? () => events.length >= n : () => n(events);
        const timer = setTimeout(
          () =>
            reject(new Error(`timed out with ${events.length} events; errors: ${JSON.stringify(errors)}`)),
          timeoutMs,
        );
        const check = () => {
          if (done()) {
            clearTimeout(timer);
            resolve(events);
          } else if (errors.length > 0) {
            clearTimeout(timer);
            reject(new Error(JSON.stringify(errors)));
          } else waiters.push(check);
        };
        check();
      }),
  };
}
