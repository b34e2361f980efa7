import type { PrismaClient } from "../db/database.ts";
import { SOURCE_ORDER, type SourceId } from "../sources/record.ts";
import { notFound } from "./errors.ts";
import { parseId } from "./parse-id.ts";

export interface SourceDelta {
  source: SourceId;
  base: { id: number } | null;
  head: { id: number } | null;
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
}

export interface Comparison {
  baseId: number;
  headId: number;
  sources: SourceDelta[];
  added: number[];
  removed: number[];
  /** A run still going has no price aggregate yet: largestPriceMoves refuses it. */
  running: number[];
}

/** Two runs side by side: per source head minus base, and the assets a source added or dropped. */
export async function compareRuns(
  prisma: PrismaClient,
  args: { base: string | number; head: string | number },
): Promise<Comparison> {
  const ids = [parseId(args.base, "base"), parseId(args.head, "head")] as const;
  const runs = await prisma.etlRun.findMany({
    where: { id: { in: [...ids] } },
    include: { sources: true },
  });
  const base = runs.find((r) => r.id === ids[0]);
  const head = runs.find((r) => r.id === ids[1]);
  if (!base) throw notFound(`no run ${ids[0]}`);
  if (!head) throw notFound(`no run ${ids[1]}`);
  const sources = SOURCE_ORDER.flatMap((source) => {
    const b = base.sources.find((s) => s.source === source) ?? null;
    const h = head.sources.find((s) => s.source === source) ?? null;
    if (!b && !h) return [];
    const d = (k: "fetched" | "written" | "unchanged" | "rejected") => (h?.[k] ?? 0) - (b?.[k] ?? 0);
    return [
      {
        source,
        base: b,
        head: h,
        fetched: d("fetched"),
        written: d("written"),
        unchanged: d("unchanged"),
        rejected: d("rejected"),
      },
    ];
  });
  const added = new Set<number>();
  const removed = new Set<number>();
  for (const s of sources) {
    if (s.base?.status !== "SUCCEEDED" || s.head?.status !== "SUCCEEDED") continue;
    const b = base.sources.find((x) => x.source === s.source)!.seenAssetIds;
    const h = head.sources.find((x) => x.source === s.source)!.seenAssetIds;
    if (b.length === 0 || h.length === 0) continue;
    const bs = new Set(b);
    const hs = new Set(h);
    for (const id of hs) if (!bs.has(id)) added.add(id);
    for (const id of bs) if (!hs.has(id)) removed.add(id);
  }
  return {
    baseId: base.id,
    headId: head.id,
    sources,
    added: [...added],
    removed: [...removed],
    running: [base, head].filter((r) => r.finishedAt === null).map((r) => r.id),
  };
}
