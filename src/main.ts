import pino from "pino";
import { createApp } from "./app.ts";
import { type Config, ConfigError, envValue, loadConfig } from "./config/config.ts";
import { createDatabase, type Database } from "./db/database.ts";
import { migrate } from "./db/migrator.ts";
import { retryWithBackoff } from "./db/startup-retry.ts";
import { startDemoUpstream } from "./demo/demo-upstream.ts";
import { createLogger, type Logger } from "./logger/logger.ts";
import { type EtlArgs, formatRunJson, parseEtlArgs } from "./pipeline/etl-cli.ts";
import { createScrubber } from "./security/scrubber.ts";
import { resetDriftBaseline } from "./services/drift.ts";

/**
 * The command line: argv, config, the database and the process's signals. The wiring itself is
 * createApp's (app.ts). Built to dist/ (npm run build); tsx runs it from src/ in development
 * (npm run dev) and in tests.
 *   node dist/main.js serve     HTTP + WebSocket server and the schedule (npm start, the image's CMD)
 *   node dist/main.js etl       one ETL run (npm run etl)
 *   node dist/main.js migrate   apply pending migrations (npm run db:migrate)
 *   node dist/main.js demo      serve with recorded payloads replayed locally as moving prices
 */
const COMMANDS = ["serve", "etl", "migrate", "demo"] as const;
type Command = (typeof COMMANDS)[number];

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(command: Command, argv: string[]) {
  let config: Config;
  let demoUpstream: Awaited<ReturnType<typeof startDemoUpstream>> | null = null;
  try {
    if (command === "demo") {
      // Offline demo: the recorded payloads replayed on 127.0.0.1 with moving prices, a short
      // schedule, and its own embedded database unless one is configured.
      demoUpstream = await startDemoUpstream();
      config = loadConfig({
        COINGECKO_BASE_URL: demoUpstream.coingeckoBase,
        COINPAPRIKA_BASE_URL: demoUpstream.coinpaprikaBase,
        ETL_INTERVAL_SECONDS: envValue("ETL_INTERVAL_SECONDS") ?? "10",
        DATA_DIR: envValue("DATA_DIR") ?? "./.data-demo",
        COINPAPRIKA_MAX_ASSETS: envValue("COINPAPRIKA_MAX_ASSETS") ?? "250",
      });
    } else {
      config = loadConfig();
    }
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  let etlArgs: EtlArgs = { json: false };
  if (command === "etl") {
    try {
      etlArgs = parseEtlArgs(argv);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  // One scrubber for everything stored or served: logs, stored errors, the raw archive, GraphQL
  // responses, /metrics, /health.
  const scrub = createScrubber(config.secrets);
  // With --json, stdout carries only the result line; logs go to stderr.
  const logger = createLogger({
    level: config.logLevel,
    scrubber: scrub,
    destination: etlArgs.json ? pino.destination({ dest: 2, sync: true }) : undefined,
  });
  process.on("unhandledRejection", (reason) => logger.error({ err: String(reason) }, "unhandled rejection"));

  let db: Database;
  try {
    db = await openDatabase(config, logger);
  } catch (error) {
    if (etlArgs.json) process.stdout.write(`${formatRunJson({ error: (error as Error).message })}\n`);
    fail(`cannot open the database: ${(error as Error).message}`, 1);
  }
  if (command === "migrate") {
    await db.close();
    return;
  }

  const app = createApp({ config, db, logger, scrub, processMetrics: command === "serve" });

  if (command === "etl") {
    if (etlArgs.resetDrift) {
      await resetDriftBaseline(db.prisma, etlArgs.resetDrift);
      logger.info(
        { source: etlArgs.resetDrift },
        "drift baseline reset; the next successful run sets a new one",
      );
    }
    const interrupt = (signal: string) => void app.runner.stop(`interrupted by ${signal}`);
    process.once("SIGINT", () => interrupt("SIGINT"));
    process.once("SIGTERM", () => interrupt("SIGTERM"));
    let code = 1;
    try {
      const summary = await app.runner.run({ trigger: "CLI", sources: etlArgs.sources });
      if (etlArgs.json) process.stdout.write(`${formatRunJson(summary)}\n`);
      code = summary.status === "FAILED" ? 1 : 0;
    } catch (error) {
      logger.error({ err: (error as Error).message }, "run could not complete");
      if (etlArgs.json) process.stdout.write(`${formatRunJson({ error: (error as Error).message })}\n`);
    }
    await db.close();
    process.exit(code);
  }

  const server = app.createServer();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await app.stop(`interrupted by ${signal}`);
    await server.stop();
    await db.close();
    await demoUpstream?.close();
    logger.info("stopped");
    process.exit(0);
  };
  // Registered before listening: a signal right after the "listening" line must shut down cleanly.
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  await app.start();
  await server.start();
  // The schedule starts last: its first run begins once the server answers.
  app.scheduler.start();
}

/** Opens and migrates the database, retrying with backoff while PostgreSQL is unreachable. */
async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  const log = logger.child({ module: "startup" });
  log.info({ database: config.db.url ? "postgres" : `pglite:${config.db.dataDir}` }, "opening database");
  const db = await createDatabase({
    url: config.db.url,
    dataDir: config.db.dataDir,
    logger,
    heartbeatMs: config.db.heartbeatMs,
  });
  try {
    await retryWithBackoff(() => migrate(db, logger), {
      attempts: config.db.url ? 8 : 1,
      onRetry: (error, attempt, delayMs) =>
        log.error(
          { err: error.message || String(error), attempt, retryInMs: delayMs },
          "database unreachable, retrying",
        ),
    });
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  return db;
}

const command = (process.argv[2] ?? "serve") as Command;
if (!COMMANDS.includes(command)) fail(`unknown command "${command}"; expected ${COMMANDS.join(", ")}`);
main(command, process.argv.slice(3)).catch((error) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
