import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPgliteTestDatabase, type TestDatabase } from "../support/databases.ts";

/**
 * The embedded database in its worker thread (src/db/pglite-thread.ts): what the main thread must
 * still see through the MessagePort — today's transaction semantics, Prisma's error codes, NOTIFY —
 * and what moving it bought: the event loop turns while the database works.
 */
let t: TestDatabase;
beforeAll(async () => {
  t = await createPgliteTestDatabase();
});
afterAll(() => t.dispose());
beforeEach(() => t.reset());

const settled = async (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe("PGlite in a worker thread", () => {
  it("keeps the main thread's timers firing while a statement runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => void ticks++, 5);
    const started = performance.now();
    // CPU-bound inside the database: on the main thread no timer could fire until it ended.
    await t.db.prisma.$queryRaw`SELECT count(*) FROM generate_series(1, 4000000)`;
    const ms = performance.now() - started;
    clearInterval(timer);
    expect(ms).toBeGreaterThan(100); // the statement is long enough for timers to be due
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it("holds other statements until a transaction commits, and they see only its committed rows", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let inserted!: () => void;
    const didInsert = new Promise<void>((r) => {
      inserted = r;
    });
    const tx = t.db.prisma.$transaction(async (p) => {
      await p.asset.create({ data: { symbol: "TX", name: "in a transaction" } });
      inserted();
      await held;
    });
    await didInsert;
    const outside = t.db.prisma.asset.count();
    expect(await settled(outside, 300)).toBe(false);
    release();
    await tx;
    expect(await outside).toBe(1);
  });

  it("rolls back a failed transaction entirely and the session stays usable", async () => {
    const failed = t.db.prisma.$transaction(async (p) => {
      await p.asset.create({ data: { symbol: "RB", name: "rolled back" } });
      await p.$executeRaw`SELECT 1 / 0`;
    });
    await expect(failed).rejects.toThrow(/division by zero/);
    expect(await t.db.prisma.asset.count()).toBe(0);

    const conn = await t.db.connect();
    await expect(
      conn.transaction(async (q) => {
        await q.query(`INSERT INTO asset (symbol, name, updated_at) VALUES ('RB', 'x', now())`);
        await q.query("SELECT 1 / 0");
      }),
    ).rejects.toThrow(/division by zero/);
    await conn.transaction((q) =>
      q.query(`INSERT INTO asset (symbol, name, updated_at) VALUES ('OK', 'y', now())`),
    );
    await conn.release();
    expect((await t.db.prisma.asset.findMany({ select: { symbol: true } })).map((a) => a.symbol)).toEqual([
      "OK",
    ]);
  });

  it("reports a unique violation as Prisma's P2002 and a driver error with its SQLSTATE", async () => {
    const run = { trigger: "API" as const, requested: [], idempotencyKey: "same" };
    await t.db.prisma.etlRun.create({ data: run });
    await expect(t.db.prisma.etlRun.create({ data: run })).rejects.toMatchObject({ code: "P2002" });
    const conn = await t.db.connect();
    await expect(conn.query("SELECT * FROM no_such_table")).rejects.toMatchObject({ code: "42P01" });
    await conn.release();
  });

  it("delivers NOTIFY to a connection that LISTENs, after the sending transaction commits", async () => {
    const received: string[] = [];
    const conn = await t.db.connect({ onNotification: (payload) => received.push(payload) });
    await conn.query("LISTEN thread_test");
    await t.db.prisma.$transaction(async (p) => {
      await p.$executeRaw`SELECT pg_notify('thread_test', 'committed')`;
    });
    await t.db.prisma
      .$transaction(async (p) => {
        await p.$executeRaw`SELECT pg_notify('thread_test', 'rolled back')`;
        throw new Error("abort");
      })
      .catch(() => undefined);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await conn.release();
    expect(received).toEqual(["committed"]);
  });
});

describe("PGlite's worker thread after close", () => {
  it("refuses further statements instead of leaving them pending", async () => {
    const own = await createPgliteTestDatabase();
    await own.db.prisma.asset.count();
    await own.db.close();
    const after = own.db.prisma.asset.count();
    expect(
      await settled(
        after.catch(() => undefined),
        2_000,
      ),
    ).toBe(true);
    await expect(after).rejects.toThrow(/closed/);
    await own.dispose().catch(() => undefined);
  });
});
