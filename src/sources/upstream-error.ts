import { createScrubber, type Scrubber } from "../security/scrubber.ts";
import type { SourceId } from "./record.ts";

export type FaultKind = "transient" | "permanent";

/**
 * A classified upstream failure. Transient (timeouts, resets, 408, 429, 5xx) are worth retrying;
 * permanent (other 4xx, corrupt payloads) are not. The URL never carries secrets.
 */
export class UpstreamError extends Error {
  readonly kind: FaultKind;
  readonly source: SourceId;
  readonly status: number | null;
  readonly url: string;
  readonly attempts: number;

  constructor(init: {
    source: SourceId;
    kind: FaultKind;
    message: string;
    url: string;
    status?: number | null;
    attempts?: number;
  }) {
    const status = init.status ?? null;
    const attempts = init.attempts ?? 1;
    super(
      `${init.source} ${init.kind} error: ${init.message} (${status === null ? "no response" : `HTTP ${status}`}, ` +
        `${init.url}, ${attempts} attempt${attempts === 1 ? "" : "s"})`,
    );
    this.name = "UpstreamError";
    this.kind = init.kind;
    this.source = init.source;
    this.status = status;
    this.url = init.url;
    this.attempts = attempts;
  }
}

const SECRET_PARAM = /key|token|secret|auth|signature|password/i;

/** Removes secrets from a URL: credentials and key-like query parameters. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username) url.username = "REDACTED";
    if (url.password) url.password = "REDACTED";
    for (const name of [...url.searchParams.keys()]) {
      if (SECRET_PARAM.test(name)) url.searchParams.set(name, "REDACTED");
    }
    return url.toString();
  } catch {
    return raw.replace(/([?&][^=]*(?:key|token|secret)[^=]*=)[^&]*/gi, "$1REDACTED");
  }
}

/** A one-line summary of an error body: JSON message, HTML title or the first characters of text. */
const NO_SECRETS = createScrubber([]);

export function describeBody(body: string, scrub: Scrubber = NO_SECRETS): string {
  // Scrubbed after decoding (JSON escapes can spell a key: "\u0043G-…") and cut as cut text, so
  // an echoed key shows in no part.
  const summary = (s: string, max: number) => {
    const clean = scrub(s);
    return clean.length > max ? scrub.cut(clean.slice(0, max)) : clean;
  };
  const text = body.trim();
  if (text === "") return "empty body";
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const status = json.status as Record<string, unknown> | undefined;
    const message = status?.error_message ?? json.error ?? json.message ?? json.error_message;
    if (typeof message === "string") return summary(message, 200);
  } catch {
    // not JSON: fall through
  }
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  if (title) return `HTML page: ${summary(title, 160)}`;
  if (/^<!doctype html|^<html/i.test(text)) return "HTML page";
  return summary(text.replace(/\s+/g, " "), 200);
}
