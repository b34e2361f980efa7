import type { PrismaClient } from "../db/database.ts";
import { intArray } from "../db/int-array.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { SourceId } from "../sources/record.ts";
import { computeConsensus } from "./consensus.ts";

export interface RunCheckOptions {
  freshnessMs: number;
  deviationPct: number;
  countDropPct: number;
  maxSkewMs: number;
}

/**
 * Anomalies recorded after a run: a source's price far from the consensus of the assets the run
 * touched, a consensus whose sources disagree (DISPUTED_PRICE, once per asset and run), and a
 * source that fetched far fewer records than in its previous successful run.
 */
export async function recordRunAnomalies(
  prisma: PrismaClient,
  runId: number,
  touched: ReadonlySet<number>,
  sources: readonly { source: SourceId; status: string; fetched: number }[],
  options: RunCheckOptions,
): Promise<number> {
  const anomalies: Prisma.AnomalyCreateManyInput[] = [];
  const assetIds = [...touched];
  for (let i = 0; i < assetIds.length; i += 5000) {
    // One int[] parameter: an `in` list of thousands of values cost Prisma ~50 ms of synchronous
    // work (one argument per value), a stall for everything sharing the process.
    const ids = intArray(assetIds.slice(i, i + 5000));
    const latest = await prisma.$queryRaw<
      { assetId: number; source: SourceId; priceUsd: number; observedAt: Date }[]
    >`SELECT asset_id AS "assetId", source::text AS source, price_usd AS "priceUsd", observed_at AS "observedAt"
      FROM latest_price WHERE asset_id = ANY(${ids}::int[])`;
    const byAsset = new Map<number, typeof latest>();
    for (const l of latest) {
      const list = byAsset.get(l.assetId);
      if (list) list.push(l);
      else byAsset.set(l.assetId, [l]);
    }
    const now = Date.now();
    for (const [assetId, prices] of byAsset) {
      if (prices.length < 2) continue;
      const consensus = computeConsensus(prices, { ...options, now });
      if (consensus.disputed && consensus.spreadPct !== null && consensus.priceUsd !== null) {
        anomalies.push({
          runId,
          assetId,
          kind: "DISPUTED_PRICE",
          severity: consensus.spreadPct > 4 * options.deviationPct ? "CRITICAL" : "WARNING",
          detail: {
            consensusUsd: consensus.priceUsd,
            spreadPct: Math.round(consensus.spreadPct * 100) / 100,
            thresholdPct: options.deviationPct,
            prices: Object.fromEntries(
              consensus.sources.filter((s) => s.included).map((s) => [s.source, s.priceUsd]),
            ),
          },
        });
      }
      for (const s of consensus.sources) {
        // Stale and future prices are left out for their age; an outlier is left out for its price.
        const judged = s.included || s.excludedReason?.startsWith("outlier");
        if (!judged || s.deviationPct === null || Math.abs(s.deviationPct) <= options.deviationPct) continue;
        anomalies.push({
          runId,
          assetId,
          source: s.source,
          kind: "PRICE_DEVIATION",
          severity: Math.abs(s.deviationPct) > 4 * options.deviationPct ? "CRITICAL" : "WARNING",
          detail: {
            priceUsd: s.priceUsd,
            consensusUsd: consensus.priceUsd,
            deviationPct: Math.round(s.deviationPct * 100) / 100,
            thresholdPct: options.deviationPct,
            included: s.included,
          },
        });
      }
    }
  }
  for (const s of sources) {
    if (s.status !== "SUCCEEDED") continue;
    const previous = await prisma.sourceRun.findFirst({
      where: { source: s.source, status: "SUCCEEDED", runId: { lt: runId } },
      orderBy: { runId: "desc" },
      select: { fetched: true, runId: true },
    });
    if (!previous || previous.fetched === 0) continue;
    const dropPct = ((previous.fetched - s.fetched) / previous.fetched) * 100;
    if (dropPct > options.countDropPct) {
      anomalies.push({
        runId,
        source: s.source,
        kind: "COUNT_DROP",
        severity: dropPct >= 90 ? "CRITICAL" : "WARNING",
        detail: {
          fetched: s.fetched,
          previousFetched: previous.fetched,
          previousRunId: previous.runId,
          dropPct: Math.round(dropPct),
        },
      });
    }
  }
  if (anomalies.length > 0) await prisma.anomaly.createMany({ data: anomalies });
  return anomalies.length;
}
