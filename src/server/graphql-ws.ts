import { randomUUID } from "node:crypto";
import { type ExecutionArgs, GraphQLError } from "graphql";
import type { WebSocket, WebSocketServer } from "ws";
import type { GraphQLContext } from "../graphql/context.ts";
import type { Logger } from "../logger/logger.ts";
import type { Scrubber } from "../security/scrubber.ts";
import type { ClientAddress } from "./client-address.ts";
import { withLimitCode } from "./graphql-plugins.ts";
import { stampResult } from "./request-meta.ts";
import { scrubResult } from "./scrub-results.ts";
import { createFrameSplicer } from "./shared-frames.ts";
import { attachGraphQLWs } from "./ws-transport.ts";
import type { YogaApp } from "./yoga-app.ts";

/** A graphql-ws operation's context: when it started, and (subscriptions) when its event arrived. */
type WsContext = GraphQLContext & { wsStartedAt: number };

/** Above this many unsent bytes on a WebSocket, subscriptions wait (and their buffers conflate). */
const WS_HIGH_WATER_BYTES = 256 * 1024;

/** A client that has not answered a ping within this long is dropped (as graphql-ws/use/ws did). */
const PING_EVERY_MS = 12_000;

const congested = (socket: WebSocket) =>
  socket.bufferedAmount > WS_HIGH_WATER_BYTES && socket.readyState === socket.OPEN;

/**
 * Resolves once the socket is back under the mark; undefined while it is under it, so the feed
 * goes on without waiting a microtask per update.
 */
function drained(socket: WebSocket): Promise<void> | undefined {
  if (!congested(socket)) return undefined;
  return (async () => {
    while (congested(socket)) await new Promise((resolve) => setTimeout(resolve, 20));
  })();
}

/**
 * graphql-ws on /graphql through yoga's envelop (the same limits, auth, masking and request ids
 * as HTTP), with per-connection operation limits, send-buffer backpressure and a ping heartbeat.
 * Returns dispose(), which closes every socket with 1001 first.
 */
export function serveGraphQLWs(options: {
  wss: WebSocketServer;
  yoga: YogaApp;
  scrub: Scrubber;
  clientAddress: ClientAddress;
  maxOperations: number;
  logger: Logger;
}) {
  const { wss, yoga, scrub, clientAddress, maxOperations, logger } = options;
  // A subscription event's result is shared by every subscriber of the same operation
  // (shared-subscriptions.ts): scrubbed once, and its data serialized once (shared-frames.ts),
  // not once per socket.
  const frames = createFrameSplicer();
  const prepared = new WeakMap<object, unknown>();
  const prepare = <R extends { data?: unknown; errors?: unknown }>(result: R): R => {
    let ready = prepared.get(result) as R | undefined;
    if (ready === undefined) {
      const clean = scrubResult(result, scrub);
      ready = clean.errors || clean.data == null ? clean : { ...clean, data: frames.standIn(clean.data) };
      prepared.set(result, ready);
    }
    return ready;
  };
  attachGraphQLWs(
    {
      // The envelop's own execute/subscribe, handed over in rootValue by onSubscribe (yoga's
      // graphql-ws recipe), so plugins wrap WebSocket operations as they wrap HTTP ones.
      execute: (args) =>
        (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) =>
        (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      connectionInitWaitTimeout: 3_000,
      onSubscribe: async (ctx, _id, payload) => {
        const wsStartedAt = performance.now();
        const requestId = randomUUID();
        // ctx.subscriptions holds every open operation of this connection, this one included.
        if (Object.keys(ctx.subscriptions).length > maxOperations) {
          return [
            new GraphQLError(
              `too many operations open on this connection (MAX_SUBSCRIPTIONS_PER_CONNECTION = ${maxOperations}): complete one first`,
              { extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit: maxOperations, requestId } },
            ),
          ];
        }
        // The same envelop as HTTP: limits, masking, auth and request ids apply to WebSocket too.
        // params: plugins (the response cache among them) read the operation from context.params.
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          connectionParams: ctx.connectionParams,
          params: payload,
          requestId,
          // The client of a WebSocket is the client of its upgrade request.
          clientId: clientAddress(ctx.extra.request),
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
        const contextValue: WsContext = {
          ...((await contextFactory()) as GraphQLContext),
          backpressure: () => drained(socket),
          wsStartedAt,
        };
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
      },
      // Every result as HTTP sends it: request id and latency (a subscription event's latency is
      // counted from its event), masked errors with the request id, no secret.
      onNext: (_ctx, _id, _payload, args, result) => {
        const c = args.contextValue as WsContext;
        const started = c.liveEventAt ?? c.wsStartedAt;
        // Scrubbed before stamping: what the stamp adds (request id, latency) holds no secret.
        return stampResult(prepare(result), c.requestId, started) as never;
      },
    },
    wss,
    { logger, beforeSend: frames.splice, highWaterBytes: WS_HIGH_WATER_BYTES },
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
  }, PING_EVERY_MS);
  heartbeat.unref();
  wss.on("connection", (socket) => {
    (socket as unknown as { isAlive?: boolean }).isAlive = true;
    socket.on("pong", () => {
      (socket as unknown as { isAlive?: boolean }).isAlive = true;
    });
  });

  return {
    async dispose(): Promise<void> {
      clearInterval(heartbeat);
      for (const socket of wss.clients) socket.close(1001, "server shutting down");
      wss.removeAllListeners();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
