import type { PrismaClient } from "../db/database.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Renames, SourceId } from "../sources/record.ts";
import type { DriftChange, Fingerprint } from "./drift.ts";
import type { EventBus } from "./events.ts";

/**
 * A source's drift baseline: `reported` is what changes are reported against (it advances after
 * every run: each change is reported once); `accepted` is what required fields are checked
 * against (it advances only when nothing was held, or on a release: a quarantine holds until it
 * is released instead of becoming the new normal); `renames` were accepted by a release.
 */
export async function loadBaseline(prisma: PrismaClient, source: SourceId) {
  const row = await prisma.driftBaseline.findUnique({ where: { source } });
  return {
    reported: (row?.fingerprint ?? null) as Fingerprint | null,
    accepted: (row?.accepted ?? row?.fingerprint ?? null) as Fingerprint | null,
    renames: (row?.renames ?? {}) as Renames,
  };
}

const json = (value: unknown) => value as Prisma.InputJsonObject;

/** Records a run's drift events and advances the baselines; tells subscribers after the commit. */
export async function recordDrift(
  deps: { prisma: PrismaClient; bus: EventBus; metrics: Metrics },
  runId: number,
  source: SourceId,
  change: { changes: DriftChange[]; current: Fingerprint; firstBaseline: boolean; accept: boolean },
) {
  const { changes, current, firstBaseline, accept } = change;
  if (Object.keys(current).length === 0) return;
  if (!firstBaseline && changes.length === 0 && !accept) return;
  const ids = await deps.prisma.$transaction(async (tx) => {
    const created = [];
    for (const c of changes) {
      created.push(
        await tx.driftEvent.create({
          data: {
            runId,
            source,
            kind: c.kind,
            path: c.path,
            renamedFrom: c.renamedFrom ?? null,
            fromType: c.fromType ?? null,
            toType: c.toType ?? null,
            confidence: c.confidence,
          },
          select: { id: true },
        }),
      );
    }
    await tx.driftBaseline.upsert({
      where: { source },
      update: { fingerprint: json(current), runId, ...(accept ? { accepted: json(current) } : {}) },
      create: { source, fingerprint: json(current), accepted: json(current), runId },
    });
    return created.map((c) => c.id);
  });
  for (const c of changes) deps.metrics.driftEvents.inc({ source, kind: c.kind });
  if (ids.length > 0) deps.bus.publish("driftDetected", { runId, source, eventIds: ids });
}

/** A release accepts the released payload's shape and the renames that make it readable. */
export async function acceptReleased(
  prisma: PrismaClient,
  source: SourceId,
  current: Fingerprint,
  renames: Renames,
): Promise<void> {
  if (Object.keys(current).length === 0) return;
  await prisma.driftBaseline.update({
    where: { source },
    data: { accepted: json(current), renames: json(renames) },
  });
}
