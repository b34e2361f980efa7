import { type NormalizedRecord, SOURCE_ORDER, type SourceId } from "../sources/record.ts";
import aliasFile from "./identity-aliases.json" with { type: "json" };

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
export interface KnownAsset {
  id: number;
  symbol: string;
  name: string;
  rank: number | null;
}

export interface KnownMapping {
  assetId: number;
  source: SourceId;
  /** The CSV file of a CSV mapping; "" (or absent) for the API sources. */
  file?: string;
  sourceAssetId: string;
  /** The symbol the source gave when the mapping was made (CSV mappings are checked against it). */
  symbol?: string | null;
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

/** An asset's own price near a record's date, to check a join against. */
export interface ReferencePrice {
  priceUsd: number;
  source: SourceId;
  observedAt: Date;
}

export interface ResolveOptions {
  /**
   * The asset's own price near the record's date, from another source (null or absent: nothing
   * to compare with, no price check).
   */
  reference?: (assetId: number) => ReferencePrice | null;
  /** A join is refused when the record's price is more than this factor away from the reference. */
  maxPriceRatio?: number;
}

export const DEFAULT_ALIASES = aliasFile.aliases as Alias[];
export const DEFAULT_MAX_PRICE_RATIO = 2;

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

/**
 * Two names with words and none in common. A name without Latin words (比特币, Биткоин) is no
 * evidence either way: it cannot contradict.
 */
function sharesNoWord(a: string, b: string): boolean {
  const mine = nameTokens(a);
  const theirs = nameTokens(b);
  return mine.length > 0 && theirs.length > 0 && mine.every((t) => !theirs.includes(t));
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

/** Names agree when one's significant words are all in the other's ("Wrapped Bitcoin" ~ "Bitcoin"). */
function namesAgree(a: string, b: string): boolean {
  if (compact(a) !== "" && compact(a) === compact(b)) return true;
  const mine = nameTokens(a).filter((t) => !STOPWORDS.has(t));
  const theirs = nameTokens(b).filter((t) => !STOPWORDS.has(t));
  const [short, long] = mine.length <= theirs.length ? [mine, theirs] : [theirs, mine];
  return short.length > 0 && short.every((t) => long.includes(t));
}

const fmt = (n: number) => (Math.abs(n) >= 1 ? n.toPrecision(6).replace(/\.?0+$/, "") : n.toPrecision(4));

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
      if (m.source === "CSV" || record.source === "CSV") continue;
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
    if (record.name && namesAgree(record.name, asset.name)) {
      reasons.push({
        matchedBy: "symbol+name",
        confidence: 0.85,
        reason: `names agree ("${record.name}" ~ "${asset.name}")`,
      });
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

  /**
   * Why the record cannot be the asset, or null when nothing contradicts it. A name contradicts
   * when it shares no word with the asset's name and is not just a symbol; a price when it is
   * more than `maxPriceRatio` times away from the asset's own price near the same date.
   */
  function contradiction(
    record: NormalizedRecord,
    asset: KnownAsset,
    options: ResolveOptions,
    checks: { symbol: boolean; name: boolean },
  ): string | null {
    if (checks.symbol && record.symbol && record.symbol.toUpperCase() !== asset.symbol.toUpperCase()) {
      return `symbol ${record.symbol} contradicts asset ${asset.id} (${asset.symbol})`;
    }
    if (
      checks.name &&
      record.name &&
      !namesAgree(record.name, asset.name) &&
      compact(record.name) !== compact(record.symbol ?? "") &&
      compact(record.name) !== compact(asset.symbol) &&
      sharesNoWord(record.name, asset.name)
    ) {
      return `name "${record.name}" contradicts asset ${asset.id} ("${asset.name}")`;
    }
    const ref = options.reference?.(asset.id);
    const ratio = options.maxPriceRatio ?? DEFAULT_MAX_PRICE_RATIO;
    if (ref && ref.priceUsd > 0) {
      const factor = Math.max(record.priceUsd / ref.priceUsd, ref.priceUsd / record.priceUsd);
      if (factor > ratio) {
        return (
          `price ${fmt(record.priceUsd)} is ${fmt(factor)}x from ${asset.symbol}'s own ${fmt(ref.priceUsd)} ` +
          `(${ref.source} at ${ref.observedAt.toISOString()})`
        );
      }
    }
    return null;
  }

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
