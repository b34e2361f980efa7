import { type Config, ConfigError, loadConfig } from "./config/config.ts";
import { createDatabase, type Database } from "./db/database.ts";
import { migrate } from "./db/migrator.ts";
import { retryWithBackoff } from "./db/startup-retry.ts";
import { buildSchema } from "./graphql/schema.ts";
import { createLogger, type Logger } from "./logger/logger.ts";
import { createServer } from "./server/server.ts";

/**
 * The composition root: the only file that wires modules together.
 *   tsx src/main.ts serve     HTTP + WebSocket server and the schedule (npm start)
 *   tsx src/main.ts migrate   apply pending migrations (npm run db:migrate)
 */
async function main(command: string) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, secrets: config.secrets });
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled rejection"));

  const db = await openDatabase(config, logger);
  if (command === "migrate") {
    await db.close();
    return;
  }
  const server = createServer({
    schema: buildSchema(),
    db,
    logger,
    port: config.server.port,
    host: config.server.host,
    explorer: config.server.explorer,
    shutdownTimeoutMs: config.server.shutdownTimeoutMs,
  });
  await server.start();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.stop();
    await db.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/** Opens and migrates the database, retrying with backoff while PostgreSQL is unreachable. */
async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  const log = logger.child({ module: "startup" });
  log.info({ database: config.db.url ? "postgres" : `pglite:${config.db.dataDir}` }, "opening database");
  const db = await createDatabase({ url: config.db.url, dataDir: config.db.dataDir, logger });
  await retryWithBackoff(() => migrate(db, logger), {
    attempts: config.db.url ? 10 : 1,
    onRetry: (error, attempt, delayMs) =>
      log.error({ err: error.message, attempt, retryInMs: delayMs }, "database unreachable, retrying"),
  });
  return db;
}

const command = process.argv[2] ?? "serve";
if (!["serve", "migrate"].includes(command)) {
  process.stderr.write(`unknown command "${command}"; expected serve or migrate\n`);
  process.exit(2);
}
main(command).catch((error) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
