import type { IncomingMessage } from "node:http";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "../logger/logger.ts";
import type { ClientAddress } from "./client-address.ts";

/**
 * The per-request context's `logger` (a child carrying the request id) and `clientId` (the
 * caller's address, through TRUST_PROXY) are made when a resolver first reads them, then kept:
 * most operations read neither, and building both cost every request ~10 µs (a pino child
 * serializes its bindings; proxy-addr parses headers). A `clientId` given by the transport
 * (graphql-ws passes the upgrade request's) is kept as it is. The context factory (yoga's
 * `context`, run before any plugin's onContextBuilding) has already set `requestId` and `req`.
 */
export function useLazyRequestContext(log: Logger, clientAddress: ClientAddress): Plugin {
  return {
    onContextBuilding({ context }) {
      const c = context as Record<string, unknown> & { requestId?: string; req?: IncomingMessage };
      lazy(c, "logger", () => log.child({ requestId: c.requestId }));
      if (c.clientId === undefined) lazy(c, "clientId", () => clientAddress(c.req));
    },
  };
}

function lazy(target: object, key: string, make: () => unknown) {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get() {
      const value = make();
      Object.defineProperty(target, key, { configurable: true, enumerable: true, writable: true, value });
      return value;
    },
  });
}
