import type { Tx } from "../db/database.ts";
import type { SourceId } from "../sources/record.ts";
import type { ReferencePrice } from "./identity.ts";

/** How far from a record's date another source's observation still tells what the asset cost then. */
export const REFERENCE_WINDOW_MS = 2 * 86_400_000;

export interface ReferenceQuery {
  assetId: number;
  /** The record's own source: the reference comes from any other. */
  source: SourceId;
  at: Date;
}

const keyOf = (q: ReferenceQuery) => `${q.assetId}|${q.source}|${q.at.getTime()}`;

/**
 * For each (asset, source, date): the observation of that asset from another source nearest to
 * the date within REFERENCE_WINDOW_MS, or nothing. One statement per batch; each pair costs two
 * index probes on (asset_id, observed_at), the newest before and the oldest after.
 */
export async function loadReferencePrices(tx: Tx, queries: readonly ReferenceQuery[]) {
  const unique = new Map(queries.map((q) => [keyOf(q), q]));
  const found = new Map<string, ReferencePrice>();
  if (unique.size > 0) {
    const input = JSON.stringify(
      [...unique.values()].map((q, i) => ({ i, asset_id: q.assetId, src: q.source, at: q.at.toISOString() })),
    );
    const windowSeconds = REFERENCE_WINDOW_MS / 1000;
    const rows = await tx.$queryRaw<{ i: number; price_usd: number; source: SourceId; observed_at: Date }[]>`
      SELECT p.i, r.price_usd, r.source::text AS source, r.observed_at
      FROM json_to_recordset(${input}::json) AS p(i int, asset_id int, src text, at timestamptz)
      CROSS JOIN LATERAL (
        (SELECT o.price_usd, o.source, o.observed_at FROM market_observation o
          WHERE o.asset_id = p.asset_id AND o.source::text <> p.src
            AND o.observed_at <= p.at AND o.observed_at >= p.at - make_interval(secs => ${windowSeconds})
          ORDER BY o.observed_at DESC LIMIT 1)
        UNION ALL
        (SELECT o.price_usd, o.source, o.observed_at FROM market_observation o
          WHERE o.asset_id = p.asset_id AND o.source::text <> p.src
            AND o.observed_at > p.at AND o.observed_at <= p.at + make_interval(secs => ${windowSeconds})
          ORDER BY o.observed_at ASC LIMIT 1)
      ) r`;
    const list = [...unique.entries()];
    for (const row of rows) {
      const [key, q] = list[Number(row.i)]!;
      const candidate = {
        priceUsd: Number(row.price_usd),
        source: row.source,
        observedAt: new Date(row.observed_at),
      };
      const held = found.get(key);
      const distance = (r: ReferencePrice) => Math.abs(r.observedAt.getTime() - q.at.getTime());
      if (!held || distance(candidate) < distance(held)) found.set(key, candidate);
    }
  }
  return {
    /** The reference for one record's candidate asset, or null. */
    get: (assetId: number, source: SourceId, at: Date) => found.get(keyOf({ assetId, source, at })) ?? null,
  };
}
