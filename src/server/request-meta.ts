import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { mapStream } from "./map-stream.ts";

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface RequestMeta {
  id: string;
  started: number;
  /** A subscription's context: its events' latency is counted from `liveEventAt`. */
  context?: { liveEventAt?: number };
}

// Kept on the request object itself (a WeakMap entry per request costs the collector more).
const META = Symbol("coinflow.requestMeta");
type WithMeta = Request & { [META]?: RequestMeta };

const metaOf = (request: Request) => (request as WithMeta)[META];

/** The request id of a request: a sane inbound `x-request-id` is reused, anything else replaced. */
export function requestIdOf(request: Request): string {
  let meta = metaOf(request);
  if (!meta) {
    const inbound = request.headers.get("x-request-id");
    meta = { id: inbound && SANE_ID.test(inbound) ? inbound : randomUUID(), started: performance.now() };
    (request as WithMeta)[META] = meta;
  }
  return meta.id;
}

type SingleResult = { extensions?: Record<string, unknown>; errors?: readonly GraphQLError[] };

/**
 * One result with `extensions.requestId` and `extensions.latencyMs` (ms since `started`), and
 * masked errors carrying the request id. A copy, never the result itself: a cached result is
 * shared by every request it answers. Used for HTTP (below: each event of an SSE subscription
 * too) and graphql-ws (graphql-ws.ts).
 */
export function stampResult<R>(result: R, requestId: string, started: number): R {
  if (!result || typeof result !== "object" || Symbol.asyncIterator in result) return result;
  const single = result as SingleResult;
  return {
    ...single,
    // Masked errors say nothing about the cause: the request id lets an operator find it in the logs.
    ...(single.errors && {
      errors: single.errors.map((e) =>
        e.message === "Unexpected error."
          ? new GraphQLError(e.message, {
              nodes: e.nodes,
              path: e.path,
              extensions: { ...e.extensions, code: "INTERNAL_SERVER_ERROR", requestId },
            })
          : e,
      ),
    }),
    extensions: {
      ...single.extensions,
      requestId,
      latencyMs: Math.round((performance.now() - started) * 100) / 100,
    },
  } as R;
}

/**
 * Every response carries `extensions.requestId` and `extensions.latencyMs` and the
 * `x-request-id` header (DESIGN.md "GraphQL surface").
 */
export function useRequestMeta(): Plugin {
  return {
    onRequest({ request }) {
      requestIdOf(request);
    },
    onSubscribe({ args }) {
      const request = (args.contextValue as { request?: Request }).request;
      const meta = request && metaOf(request);
      if (meta) meta.context = args.contextValue as RequestMeta["context"];
    },
    onResultProcess({ request, result, setResult }) {
      const meta = metaOf(request);
      if (!meta) return;
      // A subscription over SSE: each event is stamped, its latency counted from its event.
      if (result && typeof result === "object" && Symbol.asyncIterator in result) {
        const events = mapStream(result as AsyncIterable<unknown>, (r) =>
          stampResult(r, meta.id, meta.context?.liveEventAt ?? meta.started),
        );
        setResult(events as typeof result);
        return;
      }
      const stamp = (r: unknown) => stampResult(r, meta.id, meta.started);
      setResult((Array.isArray(result) ? result.map(stamp) : stamp(result)) as typeof result);
    },
    onResponse({ request, response }) {
      const meta = metaOf(request);
      if (meta) response.headers.set("x-request-id", meta.id);
    },
  };
}
