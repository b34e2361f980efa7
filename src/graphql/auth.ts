import { createHash, timingSafeEqual } from "node:crypto";
import { GraphQLError } from "graphql";
import { forbidden, unauthenticated } from "../services/errors.ts";
import type { GraphQLContext } from "./context.ts";

/** Counts failed API-key attempts per client in a sliding window (bounded map). */
export function createAuthFailureLimiter(options: {
  maxFailures: number;
  windowMs: number;
  maxClients?: number;
}) {
  const failures = new Map<string, number[]>();
  const maxClients = options.maxClients ?? 10_000;
  const recent = (client: string, now: number) =>
    (failures.get(client) ?? []).filter((t) => t > now - options.windowMs);
  return {
    blocked(client: string, now = Date.now()): boolean {
      return recent(client, now).length >= options.maxFailures;
    },
    fail(client: string, now = Date.now()): void {
      if (!failures.has(client) && failures.size >= maxClients) {
        const oldest = failures.keys().next().value;
        if (oldest !== undefined) failures.delete(oldest);
      }
      // Re-inserted so the map stays ordered by last failure: eviction drops the client that
      // failed least recently, never one failing right now.
      const times = [...recent(client, now), now];
      failures.delete(client);
      failures.set(client, times);
    },
  };
}

export type AuthFailureLimiter = ReturnType<typeof createAuthFailureLimiter>;

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Operations that change state need `Authorization: Bearer <ETL_API_KEY>` (over WebSocket:
 * connectionParams.authorization). Compared in constant time. The right key always works: only
 * failures are counted, per client, and a client over the limit gets RATE_LIMITED for its wrong
 * keys, never for the right one, so nobody can lock the operator's scheduler out by sending bad
 * keys from its address (or, behind a proxy, from the proxy's). The key's length is the defence
 * against guessing; the limit keeps a guesser from being cheap to serve and easy to miss.
 */
export function requireApiKey(ctx: GraphQLContext, operation: string): void {
  const key = ctx.services.etlApiKey;
  if (!key) {
    throw forbidden(
      `${operation} is disabled: set ETL_API_KEY on the server and send it as "Authorization: Bearer <key>"`,
    );
  }
  const match = /^Bearer\s+(.+)$/i.exec(ctx.authorization?.trim() ?? "");
  if (match && timingSafeEqual(digest(match[1]!.trim()), digest(key))) return;
  const limiter = ctx.services.authLimiter;
  if (limiter.blocked(ctx.clientId)) {
    throw new GraphQLError("too many failed API key attempts; wait a minute", {
      extensions: { code: "RATE_LIMITED", http: { status: 429 } },
    });
  }
  limiter.fail(ctx.clientId);
  throw unauthenticated(
    match ? "invalid API key" : 'missing API key: send "Authorization: Bearer <ETL_API_KEY>"',
  );
}
