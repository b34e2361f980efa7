import type { IncomingMessage } from "node:http";
import proxyaddr from "proxy-addr";
import type { TrustProxy } from "../config/config.ts";

/**
 * Who is calling, for per-client limits. With TRUST_PROXY unset the socket's address is the
 * client (an X-Forwarded-For header is the caller's own claim and is ignored). With a hop count
 * or a list of proxy addresses, proxy-addr walks X-Forwarded-For from the socket outwards and
 * stops at the first address that is not a trusted proxy: a client cannot pick its own identity
 * by sending the header, only the trusted proxies' additions count. Over WebSocket the upgrade
 * request is the request.
 */
/** Who is calling: the client's address from a request (or a WebSocket's upgrade request). */
export type ClientAddress = (req: IncomingMessage | undefined) => string;

export function createClientAddress(trust: TrustProxy = null): ClientAddress {
  const trusted =
    trust === null
      ? () => false
      : "hops" in trust
        ? (_addr: string, i: number) => i < trust.hops
        : proxyaddr.compile(trust.addresses);
  return (req) => {
    if (!req?.socket) return "unknown";
    try {
      return proxyaddr(req, trusted);
    } catch {
      return req.socket.remoteAddress ?? "unknown";
    }
  };
}
