import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * JSON-lines logger. Secrets are removed twice: by path (Authorization and API-key headers,
 * wherever an object logs them) and by value (every configured secret is scrubbed from the final
 * line, so a key inside an error message or URL cannot leak either).
 */
export const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "*.headers.authorization",
  "*.headers.Authorization",
  '*.headers["x-cg-demo-api-key"]',
  '*.headers["x-cg-pro-api-key"]',
  "apiKey",
  "*.apiKey",
  "connectionParams.authorization",
  "*.connectionParams.authorization",
];

export interface LoggerOptions {
  level: string;
  secrets?: readonly string[];
  /** Defaults to stdout; the CLI's --json mode passes stderr. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const scrub = createScrubber(options.secrets ?? []);
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: "coinflow" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** Replaces every occurrence of a secret value (and its URL-encoded form) with [REDACTED]. */
export function createScrubber(secrets: readonly string[]): (text: string) => string {
  const needles = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s)]))]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length);
  if (needles.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join("[REDACTED]");
    return out;
  };
}
