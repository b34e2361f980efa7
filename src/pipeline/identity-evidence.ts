import type { NormalizedRecord, SourceId } from "../sources/record.ts";

/**
 * The evidence identity resolution weighs (identity.ts): names and their words, source slugs and
 * ranks, prices near the record's date. Pure functions.
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

export const DEFAULT_MAX_PRICE_RATIO = 2;

export interface Score {
  matchedBy: string;
  confidence: number;
  reason: string;
}

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
export function sharesNoWord(a: string, b: string): boolean {
  // Words with a letter: "比特币 2023" has no word to compare, only a number.
  const words = (s: string) => nameTokens(s).filter((t) => /[a-z]/.test(t));
  const mine = words(a);
  const theirs = words(b);
  return mine.length > 0 && theirs.length > 0 && mine.every((t) => !theirs.includes(t));
}

export const compact = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** A source id without its symbol prefix: CoinPaprika's `btc-bitcoin` → `bitcoin`. */
export function slugOf(source: SourceId, sourceAssetId: string, symbol: string | null): string {
  const id = sourceAssetId.toLowerCase();
  const prefix = `${(symbol ?? "").toLowerCase()}-`;
  return source === "COINPAPRIKA" && symbol && id.startsWith(prefix) ? id.slice(prefix.length) : id;
}

export function ranksClose(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return false;
  return Math.abs(a - b) <= Math.max(3, 0.15 * Math.min(a, b));
}

/** Names agree when one's significant words are all in the other's ("Wrapped Bitcoin" ~ "Bitcoin"). */
export function namesAgree(a: string, b: string): boolean {
  if (compact(a) !== "" && compact(a) === compact(b)) return true;
  const mine = nameTokens(a).filter((t) => !STOPWORDS.has(t));
  const theirs = nameTokens(b).filter((t) => !STOPWORDS.has(t));
  const [short, long] = mine.length <= theirs.length ? [mine, theirs] : [theirs, mine];
  return short.length > 0 && short.every((t) => long.includes(t));
}

export const fmt = (n: number) =>
  Math.abs(n) >= 1 ? n.toPrecision(6).replace(/\.?0+$/, "") : n.toPrecision(4);

/** The strongest evidence that the record is the asset (a symbol already agrees), or null. */
export function score(
  record: NormalizedRecord,
  asset: KnownAsset,
  mappings: readonly KnownMapping[],
): Score | null {
  const reasons: Score[] = [];
  if (record.name && compact(record.name) === compact(asset.name) && compact(asset.name) !== "") {
    reasons.push({
      matchedBy: "symbol+name",
      confidence: 0.95,
      reason: `same symbol and name "${asset.name}"`,
    });
  }
  const mySlug = compact(slugOf(record.source, record.sourceAssetId, record.symbol));
  for (const m of mappings) {
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

/**
 * Why the record cannot be the asset, or null when nothing contradicts it. A name contradicts
 * when it shares no word with the asset's name and is not just a symbol; a price when it is
 * more than `maxPriceRatio` times away from the asset's own price near the same date.
 */
export function contradiction(
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
