import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GraphQLContext } from "../graphql/context.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { mapStream } from "./map-stream.ts";

type Executed = ExecutionResult | Promise<ExecutionResult>;

/**
 * Executes a subscription event once for every subscriber that asked the same thing.
 *
 * The live feed hands one event object to every matching subscriber (market-feed.ts); executed
 * per subscriber, 1,000 subscribers of one document built 1,000 identical results per update,
 * ~70 % of the server's time under fan-out (BENCHMARKS.md, capacity). Here a result is keyed by
 * the event object and by what decides it: the parsed document (yoga's parser cache hands the same
 * DocumentNode to the same query text), the operation name, the variables and the caller's
 * authorization (no field under a subscription reads it today; keyed anyway, so a field that one
 * day does cannot leak one caller's result to another). The first subscriber's context executes
 * it: per-subscriber context (request id, backpressure, latency stamp) is never read by a field.
 * Results live as long as their event object (a WeakMap): once every subscriber has passed it,
 * both are garbage. Primitive events (driftWarnings yields ids) execute per subscriber.
 *
 * Plugins still run per subscription: limits and auth when it subscribes, masking and the
 * request id on each result (envelop's onSubscribeResult; graphql-ws.ts's onNext).
 */
export function useSharedSubscriptions(metrics?: Metrics): Plugin {
  const documentIds = new WeakMap<DocumentNode, number>();
  let documents = 0;
  const results = new WeakMap<object, Map<string, Executed>>();

  function keyOf(args: ExecutionArgs): string {
    let documentId = documentIds.get(args.document);
    if (documentId === undefined) {
      documentId = documents++;
      documentIds.set(args.document, documentId);
    }
    const authorization = (args.contextValue as Partial<GraphQLContext> | undefined)?.authorization ?? "";
    return `${documentId}\u0000${args.operationName ?? ""}\u0000${JSON.stringify(args.variableValues ?? {})}\u0000${authorization}`;
  }

  function executeEvent(event: unknown, key: string, args: ExecutionArgs): Executed {
    const own = () => execute({ ...args, rootValue: event });
    if (event === null || typeof event !== "object") {
      metrics?.subscriptionEvents.inc({ execution: "own" });
      return own();
    }
    let byKey = results.get(event);
    if (!byKey) {
      byKey = new Map();
      results.set(event, byKey);
    }
    const shared = byKey.get(key);
    if (shared) {
      metrics?.subscriptionEvents.inc({ execution: "shared" });
      return shared;
    }
    metrics?.subscriptionEvents.inc({ execution: "own" });
    const result = own();
    byKey.set(key, result);
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
