import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createDatabase } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrator.ts";
import { createLogger } from "../../src/logger/logger.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of a reachable PostgreSQL server, or null when none is (suites skip loudly). */
    postgresAdminUrl: string | null;
    /** A migrated PGlite data directory to copy per test file (creating one takes seconds). */
    pgliteTemplateDir: string;
  }
}

const DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function setup(project: TestProject) {
  const adminUrl = process.env.TEST_DATABASE_URL || DEFAULT_ADMIN_URL;
  const ok = await reachable(adminUrl);
  if (!ok) {
    const message = `PostgreSQL is not reachable at ${adminUrl.replace(/:[^:@/]*@/, ":***@")}`;
    if (process.env.CI === "true") throw new Error(`${message}; CI requires it`);
    process.stderr.write(`\n\n*** ${message}: PostgreSQL suites are SKIPPED (set TEST_DATABASE_URL) ***\n\n`);
  }
  project.provide("postgresAdminUrl", ok ? adminUrl : null);

  const root = mkdtempSync(join(tmpdir(), "coinflow-pglite-template-"));
  const dir = join(root, "data");
  const logger = createLogger({ level: "warn" });
  const db = await createDatabase({ dataDir: dir, logger });
  await migrate(db, logger);
  await db.close();
  project.provide("pgliteTemplateDir", dir);
  return () => rmSync(root, { recursive: true, force: true });
}
