import { createHash } from "node:crypto";
import ky from "ky";
import { createScrubber, type Scrubber } from "../security/scrubber.ts";
import { type RateLimiter, sleep } from "./rate-limiter.ts";
import type { FetchedPayload, SourceId } from "./record.ts";
import { describeBody, redactUrl, UpstreamError } from "./upstream-error.ts";

export interface RetryPolicy {
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  retryAfterMaxMs: number;
}

export interface RetryEvent {
  source: SourceId;
  attempt: number;
  status: number | null;
  delayMs: number;
  reason: string;
}

export interface HttpClientOptions extends RetryPolicy {
  /** Larger bodies are refused (permanent) without being buffered. */
  maxBodyBytes: number;
  source: SourceId;
  rateLimiter: RateLimiter;
  /** Sent with every request; names listed in secretHeaders are archived as [REDACTED]. */
  headers?: Record<string, string>;
  secretHeaders?: string[];
  onRetry?: (event: RetryEvent) => void;
  random?: () => number;
  /** Applied to every body and error text as it arrives (an upstream may echo the key it was sent). */
  scrub?: Scrubber;
}

/** What is read of an error response: enough to describe it, never the whole of a huge body. */
const ERROR_BODY_BYTES = 64 * 1024;
const NO_SECRETS = createScrubber([]);

class BodyTooLarge extends Error {}

/**
 * Reads a body as it streams, counting bytes: more than `limit` throws BodyTooLarge (or, with
 * `truncate`, stops there) so a huge body is never held in memory. The caller's signal aborts
 * the read itself: a body that stalls half-way fails at the deadline.
 */
async function readBody(
  response: Response,
  limit: number,
  truncate = false,
): Promise<{ bytes: Buffer; hash: string; truncated: boolean }> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (!truncate && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new BodyTooLarge(`body of ${declared} bytes is over HTTP_MAX_BODY_BYTES (${limit})`);
  }
  const hash = createHash("sha256");
  const parts: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const reader = response.body?.getReader();
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        truncated = true;
        if (truncate) break;
        throw new BodyTooLarge(`body over HTTP_MAX_BODY_BYTES (${limit}): more than ${limit} bytes arrived`);
      }
      hash.update(value);
      parts.push(Buffer.from(value));
    }
  }
  return { bytes: Buffer.concat(parts), hash: hash.digest("hex"), truncated };
}

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Capped exponential backoff with equal jitter: half fixed, half random. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export type HttpClient = ReturnType<typeof createHttpClient>;

/**
 * GETs a URL through the source's rate limiter, retrying transient faults (network errors,
 * 408, 429, 5xx) and honouring Retry-After up to a cap. Each attempt has one deadline,
 * HTTP_TIMEOUT_MS, for the whole response, body included (ky's own timeout stops at the
 * headers). Returns the payload as received (secrets scrubbed); throws a classified UpstreamError.
 */
export function createHttpClient(options: HttpClientOptions) {
  const secret = new Set((options.secretHeaders ?? []).map((h) => h.toLowerCase()));
  const archivedHeaders = Object.fromEntries(
    Object.entries(options.headers ?? {}).map(([k, v]) => [
      k,
      secret.has(k.toLowerCase()) ? "[REDACTED]" : v,
    ]),
  );

  const scrub = options.scrub ?? NO_SECRETS;

  return async function get(
    url: string,
    signal?: AbortSignal,
  ): Promise<FetchedPayload & { attempts: number }> {
    const safeUrl = redactUrl(url);
    let lastError: UpstreamError | undefined;
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      await options.rateLimiter.acquire(signal);
      let status: number | null = null;
      let retryAfterMs: number | null = null;
      let reason: string;
      // One deadline for the attempt, combined with the run's own signal (interrupts, run timeout).
      const deadline = attemptDeadline(options.timeoutMs, signal);
      const attemptSignal = deadline.signal;
      try {
        const response = await deadline.race(
          ky.get(url, {
            headers: { accept: "application/json", ...options.headers },
            timeout: false,
            retry: 0,
            throwHttpErrors: false,
            signal: attemptSignal,
          }),
        );
        status = response.status;
        if (response.ok) {
          const { bytes, hash } = await deadline.race(readBody(response, options.maxBodyBytes));
          return {
            request: { method: "GET", url: safeUrl, headers: archivedHeaders },
            status,
            contentType: response.headers.get("content-type"),
            body: scrub(bytes.toString("utf8")),
            contentHash: hash,
            sizeBytes: bytes.length,
            attempts: attempt,
          };
        }
        const { bytes, truncated } = await deadline.race(readBody(response, ERROR_BODY_BYTES, true));
        // Scrubbed before it is summarized, and as cut text when the 64 KB read stopped inside it;
        // describeBody scrubs again what it decodes: a key the upstream echoes never shows in part.
        const text = bytes.toString("utf8");
        reason = describeBody(truncated ? scrub.cut(text) : scrub(text), scrub);
        if (!RETRYABLE_STATUS(status)) {
          throw new UpstreamError({
            source: options.source,
            kind: "permanent",
            message: reason,
            url: safeUrl,
            status,
            attempts: attempt,
          });
        }
        retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        if (signal?.aborted) throw signal.reason ?? error;
        if (error instanceof BodyTooLarge) {
          throw new UpstreamError({
            source: options.source,
            kind: "permanent",
            message: error.message,
            url: safeUrl,
            status,
            attempts: attempt,
          });
        }
        reason = deadline.timedOut()
          ? `timed out after ${options.timeoutMs} ms${status === null ? "" : " while reading the body"}`
          : scrub(`network error: ${networkReason(error)}`);
      } finally {
        deadline.clear();
      }
      lastError = new UpstreamError({
        source: options.source,
        kind: "transient",
        message: reason,
        url: safeUrl,
        status,
        attempts: attempt,
      });
      if (attempt === options.maxAttempts) break;
      const delayMs =
        retryAfterMs !== null
          ? Math.min(retryAfterMs, options.retryAfterMaxMs)
          : backoffDelay(attempt, options, options.random);
      options.onRetry?.({ source: options.source, attempt, status, delayMs, reason });
      await sleep(delayMs, signal);
    }
    throw lastError!;
  };
}

/**
 * An attempt's deadline, linked to the caller's signal. Every await of the attempt is raced
 * against it: aborting fetch alone is not enough on Node 20, whose fetch can lose the link to an
 * abort signal once the garbage collector has run (seen here: after a few heavy tests a hung
 * upstream held a run for 90 s past a 400 ms timeout, until its socket closed). The abort still
 * goes out, best effort, to free the socket.
 */
function attemptDeadline(ms: number, parent?: AbortSignal) {
  const controller = new AbortController();
  let timedOut = false;
  let fail!: (reason: unknown) => void;
  const expired = new Promise<never>((_, reject) => {
    fail = reject;
  });
  expired.catch(() => undefined);
  const stop = (reason: unknown) => {
    controller.abort(reason);
    fail(reason);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop(new Error(`timed out after ${ms} ms`));
  }, ms);
  const onAbort = () => stop(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    race: <T>(work: Promise<T>): Promise<T> => Promise.race([work, expired]),
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? error.message;
}
