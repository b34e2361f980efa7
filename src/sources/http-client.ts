import { createHash } from "node:crypto";
import ky, { TimeoutError } from "ky";
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
  source: SourceId;
  rateLimiter: RateLimiter;
  /** Sent with every request; names listed in secretHeaders are archived as [REDACTED]. */
  headers?: Record<string, string>;
  secretHeaders?: string[];
  onRetry?: (event: RetryEvent) => void;
  random?: () => number;
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
 * GETs a URL through the source's rate limiter with a per-request timeout, retrying transient
 * faults (network errors, 408, 429, 5xx) and honouring Retry-After up to a cap. Returns the
 * payload as received; throws a classified UpstreamError.
 */
export function createHttpClient(options: HttpClientOptions) {
  const secret = new Set((options.secretHeaders ?? []).map((h) => h.toLowerCase()));
  const archivedHeaders = Object.fromEntries(
    Object.entries(options.headers ?? {}).map(([k, v]) => [
      k,
      secret.has(k.toLowerCase()) ? "[REDACTED]" : v,
    ]),
  );

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
      try {
        const response = await ky.get(url, {
          headers: { accept: "application/json", ...options.headers },
          timeout: options.timeoutMs,
          retry: 0,
          throwHttpErrors: false,
          signal,
        });
        status = response.status;
        const bytes = Buffer.from(await response.arrayBuffer());
        const body = bytes.toString("utf8");
        if (response.ok) {
          return {
            request: { method: "GET", url: safeUrl, headers: archivedHeaders },
            status,
            contentType: response.headers.get("content-type"),
            body,
            contentHash: createHash("sha256").update(bytes).digest("hex"),
            sizeBytes: bytes.length,
            attempts: attempt,
          };
        }
        reason = describeBody(body);
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
        reason =
          error instanceof TimeoutError
            ? `timed out after ${options.timeoutMs} ms`
            : `network error: ${networkReason(error)}`;
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

function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? error.message;
}
