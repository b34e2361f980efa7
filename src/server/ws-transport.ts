import type { IncomingMessage } from "node:http";
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from "graphql-ws";
import type { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../logger/logger.ts";

export interface WsExtra {
  request: IncomingMessage;
  socket: WebSocket;
}

/**
 * graphql-ws's protocol on a `ws` server: what graphql-ws/use/ws does, with one change. Its send
 * resolves once the frame has reached the kernel, and graphql-ws awaits each send before it takes
 * an operation's next result: one write system call per message. With 500 updates a batch for
 * each of 1,000 subscribers that was a third of the server's time (BENCHMARKS.md, capacity).
 * Here send hands the frame to the socket and returns, and the socket is corked until the end of
 * the event loop's turn: every frame a connection is sent in one turn (the live feed delivers in
 * 10 ms slices, time-slices.ts) leaves in one writev. Only once the socket's unsent bytes, corked
 * ones included, pass `highWaterBytes` does send wait for its frame to be written: then the
 * operation waits, whatever it is, so each holds at most one frame beyond the mark (the feed and
 * the bus iterators also check the mark before they take an update: graphql-ws.ts, backpressure).
 * Keep-alive pings are graphql-ws.ts's; internal errors close with 1011 and are logged.
 */
export function attachGraphQLWs(
  options: ServerOptions<Record<string, unknown>, WsExtra>,
  wss: WebSocketServer,
  transport: {
    logger: Logger;
    /** The serialized message about to be sent (shared-frames.ts splices shared data in). */
    beforeSend?: (message: string) => string;
    /** Above this many unsent bytes on a socket, a send resolves only once its frame is written. */
    highWaterBytes: number;
  },
) {
  const { logger, beforeSend = (message: string) => message, highWaterBytes } = transport;
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  const fail = (socket: WebSocket, where: string) => (error: unknown) => {
    logger.error(
      { err: error instanceof Error ? error.message : String(error), where },
      "graphql-ws internal error",
    );
    if (socket.readyState === socket.OPEN)
      socket.close(CloseCode.InternalServerError, "Internal server error");
  };
  wss.on("error", (error) => {
    for (const socket of wss.clients) fail(socket, "server")(error);
  });
  wss.on("connection", (socket, request) => {
    socket.once("error", fail(socket, "socket"));
    // The upgraded request's TCP socket is the one ws writes to.
    const tcp = request.socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      tcp.uncork();
    };
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          let message: string;
          try {
            message = beforeSend(data);
          } catch (error) {
            return fail(socket, "send")(error);
          }
          // A send after the close is dropped, as graphql-ws/use/ws drops it.
          if (socket.readyState !== socket.OPEN) return;
          if (!corked) {
            corked = true;
            tcp.cork();
            setImmediate(uncork);
          }
          if (socket.bufferedAmount + message.length <= highWaterBytes) return socket.send(message);
          // Resolves on a close too (ws calls back with an error): the operation then ends.
          return new Promise<void>((resolve) => socket.send(message, () => resolve()));
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on("message", (message) => {
            handle(String(message)).catch(fail(socket, "message"));
          }),
      },
      { socket, request },
    );
    socket.once("close", (code, reason) => {
      closed(code, String(reason)).catch(fail(socket, "close"));
    });
  });
}
