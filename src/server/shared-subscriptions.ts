import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Metrics } from "../metrics/metrics.ts";
import { mapStream } from "./map-stream.ts";
import { createRecentResults } from "./recent-results.ts";
import { createSubscriptionKeys } from "./subscription-key.ts";

type Executed = ExecutionResult | Promise<ExecutionResult>;

/** How long a result is offered to other subscribers of the same event (recent-results.ts). */
const SHARE_WINDOW_MS = 2_000;

/**
 * Executes a subscription event once for every subscriber that asked the same thing.
 *
 * The live feed hands one event object to every matching subscriber (market-feed.ts); executed
 * per subscriber, 1,000 subscribers of one document built 1,000 identical results per update,
 * ~70 % of the server's time under fan-out (BENCHMARKS.md, capacity). Here a result is found by
 * the event object and the subscription's key (subscription-key.ts: document, operation, the
 * variables its fields read, authorization), for a short window (recent-results.ts).
 * The first subscriber's context executes it; the per-subscriber parts of a context (request id,
 * backpressure, latency stamp) are read by no field, except that a field's log line would carry
 * that subscriber's request id. Primitive events (driftWarnings yields ids) execute per subscriber.
 *
 * Plugins still run per subscription: limits and auth when it subscribes, masking and the
 * request id on each result (envelop's onSubscribeResult; graphql-ws.ts's onNext).
 */
export function useSharedSubscriptions(metrics?: Metrics): Plugin {
  const keyOf = createSubscriptionKeys();
  const results = createRecentResults<Executed>({ windowMs: SHARE_WINDOW_MS });

  function executeEvent(event: unknown, key: string | null, args: ExecutionArgs): Executed {
    const own = () => execute({ ...args, rootValue: event });
    if (key === null || event === null || typeof event !== "object") {
      metrics?.subscriptionEvents.inc({ execution: "own" });
      return own();
    }
    const shared = results.get(event, key);
    if (shared) {
      metrics?.subscriptionEvents.inc({ execution: "shared" });
      return shared;
    }
    metrics?.subscriptionEvents.inc({ execution: "own" });
    const result = own();
    results.set(event, key, result);
    return result;
  }

  async function subscribe(args: ExecutionArgs) {
    // As graphql-js' subscribe: errors from the field's subscribe (bad arguments) are the result.
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in stream)) return stream;
    const key = keyOf(args);
    return mapStream(stream, (event) => executeEvent(event, key, args));
  }

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribe as never);
    },
  };
}
