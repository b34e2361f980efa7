import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Database } from "../../src/db/database.ts";
import { createEventBus } from "../../src/pipeline/events.ts";
import { createPgEventTransport } from "../../src/pipeline/pg-event-transport.ts";
import { tryRunLock } from "../../src/pipeline/run-lock.ts";
import { createEmptyPostgresDatabase, postgresAdminUrl, quietLogger } from "../support/databases.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";

/**
 * The run lock and LISTEN connections through a TCP proxy that goes silent (a vanished server:
 * no FIN, no RST, so the kernel still thinks the peer is there).
 */
describe.skipIf(!postgresAdminUrl)("dedicated connections when the server goes silent (PostgreSQL)", () => {
  let empty: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    empty = await createEmptyPostgresDatabase();
  });
  afterAll(() => empty.drop());

  async function throughProxy() {
    const target = new URL(empty.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(empty.url);
    url.port = String(proxy.port);
    const db: Database = await createDatabase({
      url: url.toString(),
      dataDir: "unused",
      logger: quietLogger,
      heartbeatMs: 300,
    });
    return { proxy, db };
  }

  it("the run lock is reported lost within two heartbeats, and releasing it does not hang", async () => {
    const { proxy, db } = await throughProxy();
    try {
      const lock = await tryRunLock(db);
      expect(lock).not.toBeNull();
      const lost = new Promise<unknown>((resolve) =>
        lock!.lost.addEventListener("abort", () => resolve(lock!.lost.reason), { once: true }),
      );
      proxy.blackhole();
      const silentAt = performance.now();
      const reason = await Promise.race([
        lost,
        new Promise((_, reject) => setTimeout(() => reject(new Error("lock never reported lost")), 8_000)),
      ]);
      // A figure for RELIABILITY.md.
      process.stderr.write(
        `run lock reported lost ${Math.round(performance.now() - silentAt)} ms after the server went silent\n`,
      );
      expect(String(reason)).toMatch(/heartbeat/);
      await lock!.release();
    } finally {
      await proxy.close();
      await db.close().catch(() => undefined);
    }
  });

  it("the LISTEN connection notices the silence and reconnects", async () => {
    const { proxy, db } = await throughProxy();
    let reconnects = 0;
    const bus = createEventBus({ transport: createPgEventTransport({ db, logger: quietLogger }) });
    bus.onReconnect(() => reconnects++);
    try {
      await bus.start();
      const before = proxy.accepted;
      proxy.blackhole();
      // Reconnecting goes through the same silent proxy, so it cannot succeed; what matters is
      // that the dead listener was noticed and a new connection attempted.
      for (let i = 0; i < 80 && proxy.accepted <= before; i++) await new Promise((r) => setTimeout(r, 100));
      expect(proxy.accepted).toBeGreaterThan(before);
    } finally {
      await proxy.close();
      await bus.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
    }
    expect(reconnects).toBe(0);
  });
});
