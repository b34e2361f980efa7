import { type NormalizedRecord, SOURCE_ORDER, type SourceId } from "../sources/record.ts";
import aliasFile from "./identity-aliases.json" with { type: "json" };
import {
  contradiction,
  type KnownAsset,
  type KnownMapping,
  type ResolveOptions,
  type Score,
  score,
} from "./identity-evidence.ts";

export type { KnownAsset, KnownMapping, ReferencePrice, ResolveOptions } from "./identity-evidence.ts";

/**
 * Identity resolution: which canonical asset a record belongs to. Pure and deterministic: the
 * pipeline hands in what the database knows, resolves records in a fixed order and tells the
 * resolver about every asset and mapping it creates. Every decision carries a reason and a
 * confidence that the pipeline stores on the mapping.
 *
 * Ids of the API sources are global; a CSV id belongs to its file (a row number `1` in one file
 * and `1` in another are unrelated). A join is refused when the record contradicts the asset it
 * would join: another symbol, a name with nothing in common, or a price far from the asset's
 * own price near the record's date.
 */
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

export function createIdentityResolver(
  initial: { assets: KnownAsset[]; mappings: KnownMapping[] },
  aliases: readonly Alias[] = DEFAULT_ALIASES,
) {
  const assets = new Map<number, KnownAsset>();
  const bySymbol = new Map<string, Set<number>>();
  const mappingByKey = new Map<string, KnownMapping>();
  const mappingsByAsset = new Map<number, KnownMapping[]>();
  const aliasByKey = new Map(aliases.map((a) => [`${a.source}::${a.sourceAssetId.toLowerCase()}`, a]));
  const key = (source: SourceId, file: string | undefined, id: string) =>
    `${source}:${source === "CSV" ? (file ?? "") : ""}:${id.toLowerCase()}`;

  function indexSymbol(id: number, symbol: string) {
    const s = symbol.toUpperCase();
    if (!bySymbol.has(s)) bySymbol.set(s, new Set());
    bySymbol.get(s)!.add(id);
  }

  function addAsset(asset: KnownAsset) {
    assets.set(asset.id, asset);
    indexSymbol(asset.id, asset.symbol);
  }

  /** Keeps the resolver's view in step when the pipeline renames or re-ranks an asset. */
  function updateAsset(id: number, patch: Partial<Pick<KnownAsset, "symbol" | "name" | "rank">>) {
    const asset = assets.get(id);
    if (!asset) return;
    if (patch.symbol !== undefined && patch.symbol.toUpperCase() !== asset.symbol.toUpperCase()) {
      bySymbol.get(asset.symbol.toUpperCase())?.delete(id);
      indexSymbol(id, patch.symbol);
    }
    Object.assign(asset, patch);
  }

  function addMapping(mapping: KnownMapping) {
    mappingByKey.set(key(mapping.source, mapping.file, mapping.sourceAssetId), mapping);
    const list = mappingsByAsset.get(mapping.assetId) ?? [];
    list.push(mapping);
    mappingsByAsset.set(mapping.assetId, list);
  }

  for (const a of initial.assets) addAsset({ ...a });
  for (const m of initial.mappings) addMapping(m);

  const hasMapping = (assetId: number, source: SourceId) =>
    (mappingsByAsset.get(assetId) ?? []).some((m) => m.source === source);

  /** The best source that maps the asset (CoinGecko, then CoinPaprika, then CSV). */
  const bestSource = (assetId: number): SourceId | null =>
    SOURCE_ORDER.find((s) => hasMapping(assetId, s)) ?? null;

  const rankDistance = (record: NormalizedRecord, asset: KnownAsset) =>
    record.rank !== null && asset.rank !== null
      ? Math.abs(record.rank - asset.rank)
      : Number.POSITIVE_INFINITY;

  /** Assets with the record's symbol that this record may join (never a second id of one API source). */
  function symbolCandidates(record: NormalizedRecord): KnownAsset[] {
    if (!record.symbol) return [];
    return [...(bySymbol.get(record.symbol.toUpperCase()) ?? [])]
      .map((id) => assets.get(id)!)
      .filter(
        (a) =>
          record.source === "CSV" ||
          !(mappingsByAsset.get(a.id) ?? []).some((m) => m.source === record.source),
      );
  }

  /** The id-column rule: a CSV id read from an id column that equals a CoinGecko or CoinPaprika id. */
  function idColumnMatch(record: NormalizedRecord): KnownMapping | null {
    if (record.source !== "CSV" || !record.idColumn) return null;
    for (const source of ["COINGECKO", "COINPAPRIKA"] as const) {
      const byId = mappingByKey.get(key(source, "", record.idColumn));
      if (byId) return byId;
    }
    return null;
  }

  /** Every asset a record could end up on: the assets whose prices a join would be checked against. */
  function candidateAssetIds(record: NormalizedRecord): number[] {
    const ids = new Set<number>();
    const existing = mappingByKey.get(key(record.source, record.file, record.sourceAssetId));
    if (existing) ids.add(existing.assetId);
    const byId = idColumnMatch(record);
    if (byId) ids.add(byId.assetId);
    for (const a of symbolCandidates(record)) ids.add(a.id);
    return [...ids];
  }

  function resolve(record: NormalizedRecord, options: ResolveOptions = {}): IdentityDecision {
    const existing = mappingByKey.get(key(record.source, record.file, record.sourceAssetId));
    if (existing) {
      if (record.source === "CSV") {
        // A CSV id names a coin only inside its file, and only as long as the rows agree with it.
        const asset = assets.get(existing.assetId);
        const mapped = existing.symbol?.toUpperCase() ?? asset?.symbol.toUpperCase();
        if (record.symbol && mapped && record.symbol.toUpperCase() !== mapped) {
          return {
            kind: "reject",
            reason: `id ${record.sourceAssetId} of this file is mapped to ${mapped}; this row says ${record.symbol}`,
          };
        }
        const why = asset && contradiction(record, asset, options, { symbol: false, name: false });
        if (why) return { kind: "reject", reason: `not joining: ${why}` };
      }
      return {
        kind: "existing",
        assetId: existing.assetId,
        matchedBy: "existing",
        confidence: 1,
        reason: "known id",
      };
    }

    const alias =
      record.source === "CSV"
        ? undefined
        : aliasByKey.get(`${record.source}::${record.sourceAssetId.toLowerCase()}`);
    const aliased = alias && mappingByKey.get(key(alias.sameAs.source, "", alias.sameAs.sourceAssetId));
    if (alias && aliased) {
      return { kind: "join", assetId: aliased.assetId, matchedBy: "alias", confidence: 1, reason: alias.why };
    }

    const byId = idColumnMatch(record);
    if (byId) {
      const asset = assets.get(byId.assetId)!;
      const why = contradiction(record, asset, options, { symbol: true, name: true });
      if (why) return { kind: "reject", reason: `id ${record.idColumn} is ${byId.source}'s id, but ${why}` };
      return {
        kind: "join",
        assetId: byId.assetId,
        matchedBy: "id-column",
        confidence: 0.98,
        reason: `CSV id equals the ${byId.source} id ${byId.sourceAssetId}`,
      };
    }

    if (record.symbol === null)
      return { kind: "reject", reason: `unknown id ${record.sourceAssetId} and no symbol` };

    const candidates = symbolCandidates(record);
    const refused: string[] = [];
    const agreeing = candidates.filter((asset) => {
      const why = contradiction(record, asset, options, { symbol: false, name: record.source === "CSV" });
      if (why) refused.push(why);
      return why === null;
    });

    const scored = agreeing
      .map((asset) => ({ asset, score: score(record, asset, mappingsByAsset.get(asset.id) ?? []) }))
      .filter((c): c is { asset: KnownAsset; score: Score } => c.score !== null)
      .sort(
        (a, b) =>
          b.score.confidence - a.score.confidence ||
          rankDistance(record, a.asset) - rankDistance(record, b.asset) ||
          a.asset.id - b.asset.id,
      );
    const best = scored[0];
    if (best) return { kind: "join", assetId: best.asset.id, ...best.score };

    if (record.source === "CSV") {
      const byRank = [...agreeing].sort(
        (a, b) => (a.rank ?? Number.POSITIVE_INFINITY) - (b.rank ?? Number.POSITIVE_INFINITY) || a.id - b.id,
      );
      const top = byRank[0];
      if (top) {
        // A symbol-only CSV row joins the top-ranked asset with that symbol, with less confidence
        // when the symbol is shared.
        const shared = candidates.length > 1;
        return {
          kind: "join",
          assetId: top.id,
          matchedBy: "symbol",
          confidence: shared ? 0.6 : 0.9,
          reason: shared
            ? `top-ranked of ${candidates.length} assets with this symbol`
            : "only asset with this symbol",
        };
      }
      // Every asset with this symbol is contradicted: a second asset for it would be a guess.
      if (refused.length > 0)
        return { kind: "reject", reason: `not joining ${record.symbol}: ${refused.join("; ")}` };
    } else {
      // An API record may adopt an asset so far known only from CSV symbols (an offline first run).
      const csvOnly = agreeing.filter((a) =>
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
    }

    return {
      kind: "new",
      matchedBy: "new",
      confidence: 1,
      reason:
        candidates.length > 0
          ? `${candidates.length} asset(s) share the symbol but nothing else matches`
          : "first seen",
      asset: { symbol: record.symbol.toUpperCase(), name: record.name ?? record.symbol, rank: null },
    };
  }

  return {
    resolve,
    /** True when the record's (source, file, id) is mapped already. */
    isKnown: (record: NormalizedRecord) =>
      mappingByKey.has(key(record.source, record.file, record.sourceAssetId)),
    addAsset,
    updateAsset,
    addMapping,
    hasMapping,
    bestSource,
    candidateAssetIds,
    asset: (id: number) => assets.get(id),
  };
}

export type IdentityResolver = ReturnType<typeof createIdentityResolver>;
