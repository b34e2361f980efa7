import type { Database } from "../db/database.ts";
import type { EtlRun, RunTrigger } from "../generated/prisma/client.ts";
import type { Logger } from "../logger/logger.ts";
import { SOURCE_ORDER, type SourceId } from "../sources/record.ts";
import { type RunLock, tryRunLock } from "./run-lock.ts";
import { recordRunPrices } from "./run-prices.ts";

export interface StartOptions {
  trigger: RunTrigger;
  /** Defaults to every configured source. */
  sources?: SourceId[];
  idempotencyKey?: string;
  /** Scheduled runs: the slot ⌊now / interval⌋; a slot that already has a run is skipped. */
  scheduleSlot?: bigint;
  /** releaseQuarantine: ingest the streams this run held for this source (the only source run). */
  release?: { runId: number; source: SourceId };
}

export class RunLockBusyError extends Error {
  constructor() {
    super("another process holds the ETL run lock but no running run is recorded yet; try again");
    this.name = "RunLockBusyError";
  }
}

/** What a start request comes to: a run of its own (with the lock), or an existing one. */
export type Admission =
  | { kind: "started"; run: EtlRun; lock: RunLock }
  /** The run this idempotency key already names (it may still be running). */
  | { kind: "known"; run: EtlRun }
  /** Another run was going: this request joined it. */
  | { kind: "joined"; run: EtlRun }
  /** A scheduled slot that already had its run. */
  | { kind: "skipped"; run: EtlRun };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Admission: the idempotency key, the cluster-wide lock, the sweep of abandoned runs and the
 * schedule slot decide whether a request starts a run. One run at a time across processes
 * (advisory lock on PostgreSQL, in-process on PGlite); a run left RUNNING by a dead process is
 * marked FAILED (abandoned) by the next one that holds the lock.
 */
export async function admitRun(
  deps: { db: Database; sources: ReadonlySet<SourceId>; owner: string; logger: Logger },
  options: StartOptions,
): Promise<Admission> {
  const prisma = deps.db.prisma;
  const key = options.idempotencyKey;
  if (key) {
    // The run created with this key, or the one a trigger with it joined.
    const existing =
      (await prisma.etlRun.findUnique({ where: { idempotencyKey: key } })) ??
      (await prisma.runIdempotencyKey.findUnique({ where: { key }, include: { run: true } }))?.run;
    if (existing) return { kind: "known", run: existing };
  }
  let lock = await tryRunLock(deps.db);
  for (let attempt = 0; !lock && attempt < 40; attempt++) {
    const running = await prisma.etlRun.findFirst({ where: { status: "RUNNING" }, orderBy: { id: "desc" } });
    // A run left RUNNING by a process of this host that is gone is about to be swept by whoever
    // holds the lock: joining it would hand the caller a run that ends FAILED (abandoned).
    if (running && !ownerIsGone(running.owner, deps.owner)) {
      // Joined, not started: the key still names this run, so a retry after it ends gets it back.
      if (key) {
        await prisma.runIdempotencyKey.createMany({
          data: [{ key, runId: running.id }],
          skipDuplicates: true,
        });
      }
      return { kind: "joined", run: running };
    }
    await sleep(100);
    lock = await tryRunLock(deps.db);
  }
  if (!lock) throw new RunLockBusyError();
  try {
    // We hold the lock, so any run still RUNNING belongs to a process that died.
    // Each gets its price aggregate as of now (what it committed before it died), as every
    // finished run does; written first so no finished run is ever without one.
    const finishedAt = new Date();
    const stale = await prisma.etlRun.findMany({ where: { status: "RUNNING" }, select: { id: true } });
    for (const r of stale) await recordRunPrices(prisma, r.id);
    const abandoned = await prisma.etlRun.updateMany({
      where: { status: "RUNNING", id: { in: stale.map((r) => r.id) } },
      data: {
        status: "FAILED",
        finishedAt,
        error: "abandoned: the process running it stopped before it finished",
      },
    });
    if (abandoned.count > 0) {
      await prisma.sourceRun.updateMany({
        where: { status: "RUNNING" },
        data: { status: "FAILED", finishedAt: new Date(), error: "abandoned", errorKind: "fatal" },
      });
      deps.logger.warn({ count: abandoned.count }, "marked abandoned runs FAILED");
    }
    if (options.scheduleSlot !== undefined) {
      const taken = await prisma.etlRun.findFirst({ where: { scheduleSlot: options.scheduleSlot } });
      if (taken) {
        await lock.release();
        return { kind: "skipped", run: taken };
      }
    }
    const wanted = options.release ? [options.release.source] : options.sources;
    const requested = SOURCE_ORDER.filter(
      (s) => deps.sources.has(s) && (wanted === undefined || wanted.includes(s)),
    );
    const run = await prisma.etlRun.create({
      data: {
        trigger: options.trigger,
        requested,
        idempotencyKey: key ?? null,
        scheduleSlot: options.scheduleSlot ?? null,
        owner: deps.owner,
      },
    });
    return { kind: "started", run, lock };
  } catch (error) {
    await lock.release();
    // Two callers with one idempotency key: the loser returns the winner's run.
    if (key && (error as { code?: string }).code === "P2002") return admitRun(deps, options);
    throw error;
  }
}

/** True when `owner` (host:pid) names a process of this host (`self`'s host) that no longer exists. */
export function ownerIsGone(owner: string | null, self: string): boolean {
  if (!owner) return false;
  const at = owner.lastIndexOf(":");
  const host = owner.slice(0, at);
  const pid = Number(owner.slice(at + 1));
  if (host !== self.slice(0, self.lastIndexOf(":")) || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
