import aliasFile from "./identity-aliases.json" with { type: "json" };
import type { NormalizedRecord, SourceId } from "./record.ts";

/**
 * Identity resolution: which canonical asset a record belongs to. Pure and deterministic: the
 * pipeline hands in what the database knows, resolves records in a fixed order and tells the
 * resolver about every asset and mapping it creates. Every decision carries a reason and a
 * confidence that the pipeline stores on the mapping.
 */
export interface KnownAsset {
  id: number;
  symbol: string;
  name: string;
  rank: number | null;
  latestPriceUsd?: number | null;
}

export interface KnownMapping {
  assetId: number;
  source: SourceId;
  sourceAssetId: string;
  matchedBy?: string;
}

export interface Alias {
  source: SourceId;
  sourceAssetId: string;
  sameAs: { source: SourceId; sourceAssetId: string };
  why: string;
}

export type IdentityDecision =
  | { kind: "existing"; assetId: number; matchedBy: string; confidence: number; reason: string }
  | { kind: "join"; assetId: number; matchedBy: string; confidence: number; reason: string }
  | {
      kind: "new";
      matchedBy: "new";
      confidence: 1;
      reason: string;
      asset: { symbol: string; name: string; rank: number | null };
    }
  | { kind: "reject"; reason: string };

export const DEFAULT_ALIASES = aliasFile.aliases as Alias[];

const STOPWORDS = new Set(["the", "token", "coin", "network", "protocol"]);

function nameTokens(name: string): string[] {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/&/g, " and ")
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

const compact = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** A source id without its symbol prefix: CoinPaprika's `btc-bitcoin` → `bitcoin`. */
function slugOf(source: SourceId, sourceAssetId: string, symbol: string | null): string {
  const id = sourceAssetId.toLowerCase();
  const prefix = `${(symbol ?? "").toLowerCase()}-`;
  return source === "COINPAPRIKA" && symbol && id.startsWith(prefix) ? id.slice(prefix.length) : id;
}

function ranksClose(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return false;
  return Math.abs(a - b) <= Math.max(3, 0.15 * Math.min(a, b));
}

interface Score {
  matchedBy: string;
  confidence: number;
  reason: string;
}

export function createIdentityResolver(
  initial: { assets: KnownAsset[]; mappings: KnownMapping[] },
  aliases: readonly Alias[] = DEFAULT_ALIASES,
) {
  const assets = new Map<number, KnownAsset>();
  const bySymbol = new Map<string, Set<number>>();
  const mappingByKey = new Map<string, KnownMapping>();
  const mappingsByAsset = new Map<number, KnownMapping[]>();
  const aliasByKey = new Map(aliases.map((a) => [`${a.source}:${a.sourceAssetId.toLowerCase()}`, a]));
  const key = (source: SourceId, id: string) => `${source}:${id.toLowerCase()}`;

  function addAsset(asset: KnownAsset) {
    assets.set(asset.id, asset);
    const s = asset.symbol.toUpperCase();
    if (!bySymbol.has(s)) bySymbol.set(s, new Set());
    bySymbol.get(s)!.add(asset.id);
  }

  function addMapping(mapping: KnownMapping) {
    mappingByKey.set(key(mapping.source, mapping.sourceAssetId), mapping);
    const list = mappingsByAsset.get(mapping.assetId) ?? [];
    list.push(mapping);
    mappingsByAsset.set(mapping.assetId, list);
  }

  for (const a of initial.assets) addAsset(a);
  for (const m of initial.mappings) addMapping(m);

  function score(record: NormalizedRecord, asset: KnownAsset): Score | null {
    const reasons: Score[] = [];
    if (record.name && compact(record.name) === compact(asset.name) && compact(asset.name) !== "") {
      reasons.push({
        matchedBy: "symbol+name",
        confidence: 0.95,
        reason: `same symbol and name "${asset.name}"`,
      });
    }
    const mySlug = compact(slugOf(record.source, record.sourceAssetId, record.symbol));
    for (const m of mappingsByAsset.get(asset.id) ?? []) {
      if (m.source === "CSV") continue;
      const rawOther = slugOf(m.source, m.sourceAssetId, asset.symbol);
      const rawMine = slugOf(record.source, record.sourceAssetId, record.symbol);
      if (compact(rawOther) === mySlug) {
        reasons.push({ matchedBy: "symbol+id", confidence: 0.95, reason: `ids agree (${m.sourceAssetId})` });
      } else if (rawOther.startsWith(`${rawMine}-`) || rawMine.startsWith(`${rawOther}-`)) {
        reasons.push({
          matchedBy: "symbol+id",
          confidence: 0.85,
          reason: `ids overlap (${m.sourceAssetId})`,
        });
      }
    }
    if (record.name) {
      const mine = nameTokens(record.name).filter((t) => !STOPWORDS.has(t));
      const theirs = nameTokens(asset.name).filter((t) => !STOPWORDS.has(t));
      const [short, long] = mine.length <= theirs.length ? [mine, theirs] : [theirs, mine];
      if (short.length > 0 && short.every((t) => long.includes(t))) {
        reasons.push({
          matchedBy: "symbol+name",
          confidence: 0.85,
          reason: `names agree ("${record.name}" ~ "${asset.name}")`,
        });
      }
    }
    if (ranksClose(record.rank, asset.rank)) {
      reasons.push({
        matchedBy: "symbol+rank",
        confidence: 0.7,
        reason: `ranks agree (${record.rank} ~ ${asset.rank})`,
      });
    }
    return reasons.sort((a, b) => b.confidence - a.confidence)[0] ?? null;
  }

  const rankDistance = (record: NormalizedRecord, asset: KnownAsset) =>
    record.rank !== null && asset.rank !== null
      ? Math.abs(record.rank - asset.rank)
      : Number.POSITIVE_INFINITY;

  function resolve(record: NormalizedRecord): IdentityDecision {
    const existing = mappingByKey.get(key(record.source, record.sourceAssetId));
    if (existing) {
      return {
        kind: "existing",
        assetId: existing.assetId,
        matchedBy: "existing",
        confidence: 1,
        reason: "known id",
      };
    }

    const alias = aliasByKey.get(key(record.source, record.sourceAssetId));
    const aliased = alias && mappingByKey.get(key(alias.sameAs.source, alias.sameAs.sourceAssetId));
    if (alias && aliased) {
      return { kind: "join", assetId: aliased.assetId, matchedBy: "alias", confidence: 1, reason: alias.why };
    }

    if (record.source === "CSV") {
      for (const source of ["COINGECKO", "COINPAPRIKA"] as const) {
        const byId = mappingByKey.get(key(source, record.sourceAssetId));
        if (byId) {
          return {
            kind: "join",
            assetId: byId.assetId,
            matchedBy: "id-column",
            confidence: 0.98,
            reason: `CSV id equals the ${source} id ${byId.sourceAssetId}`,
          };
        }
      }
    }

    if (record.symbol === null)
      return { kind: "reject", reason: `unknown id ${record.sourceAssetId} and no symbol` };

    // Two ids of one API source are never one asset: skip assets this source already maps.
    const candidates = [...(bySymbol.get(record.symbol.toUpperCase()) ?? [])]
      .map((id) => assets.get(id)!)
      .filter(
        (a) =>
          record.source === "CSV" ||
          !(mappingsByAsset.get(a.id) ?? []).some((m) => m.source === record.source),
      );

    const scored = candidates
      .map((asset) => ({ asset, score: score(record, asset) }))
      .filter((c): c is { asset: KnownAsset; score: Score } => c.score !== null)
      .sort(
        (a, b) =>
          b.score.confidence - a.score.confidence ||
          rankDistance(record, a.asset) - rankDistance(record, b.asset) ||
          a.asset.id - b.asset.id,
      );
    const best = scored[0];
    if (best) return { kind: "join", assetId: best.asset.id, ...best.score };

    const byRank = [...candidates].sort(
      (a, b) => (a.rank ?? Number.POSITIVE_INFINITY) - (b.rank ?? Number.POSITIVE_INFINITY) || a.id - b.id,
    );
    if (record.source === "CSV" && byRank[0]) {
      // A symbol-only CSV row joins the top-ranked asset with that symbol, with less confidence
      // when the symbol is shared or the price is far from the asset's latest.
      const top = byRank[0];
      let confidence = candidates.length === 1 ? 0.9 : 0.6;
      const notes = [
        candidates.length === 1
          ? "only asset with this symbol"
          : `top-ranked of ${candidates.length} assets with this symbol`,
      ];
      const latest = top.latestPriceUsd;
      if (latest && latest > 0 && Math.abs(record.priceUsd / latest - 1) > 0.5) {
        confidence /= 2;
        notes.push(`price ${record.priceUsd} far from the asset's latest ${latest}`);
      }
      return { kind: "join", assetId: top.id, matchedBy: "symbol", confidence, reason: notes.join("; ") };
    }

    // An API record may adopt an asset so far known only from CSV symbols (an offline first run).
    const csvOnly = candidates.filter((a) =>
      (mappingsByAsset.get(a.id) ?? []).every((m) => m.source === "CSV"),
    );
    if (csvOnly.length === 1 && csvOnly[0]) {
      return {
        kind: "join",
        assetId: csvOnly[0].id,
        matchedBy: "symbol",
        confidence: 0.6,
        reason: "only asset with this symbol, known from CSV alone",
      };
    }

    return {
      kind: "new",
      matchedBy: "new",
      confidence: 1,
      reason:
        candidates.length > 0
          ? `${candidates.length} asset(s) share the symbol but nothing else matches`
          : "first seen",
      asset: { symbol: record.symbol.toUpperCase(), name: record.name ?? record.symbol, rank: record.rank },
    };
  }

  const hasMapping = (assetId: number, source: SourceId) =>
    (mappingsByAsset.get(assetId) ?? []).some((m) => m.source === source);

  return { resolve, addAsset, addMapping, hasMapping };
}

export type IdentityResolver = ReturnType<typeof createIdentityResolver>;
