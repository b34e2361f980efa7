import { type DestinationStream, type Logger, pino } from "pino";
import { createScrubber, type Scrubber } from "../security/scrubber.ts";

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
  /** The service's scrubber (main.ts builds one from config.secrets); else one from `secrets`. */
  scrubber?: Scrubber;
  secrets?: readonly string[];
  /** Defaults to stdout; the CLI's --json mode passes stderr. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const scrub = options.scrubber ?? createScrubber(options.secrets ?? []);
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
