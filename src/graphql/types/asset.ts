import type { Prisma } from "../../generated/prisma/client.ts";
import { builder } from "../builder.ts";
import { badInput } from "../errors.ts";
import { type AssetConsensus, consensusByAsset } from "../live/consensus-loader.ts";
import { pageRequest, toPage } from "../pagination.ts";
import { MAX_ID, parseId } from "../parse-id.ts";
import { type Candle, loadCandles } from "../queries/price-history.ts";
import { SourceEnum } from "./enums.ts";

export const AssetSourceType = builder.prismaObject("AssetSource", {
  description: "An asset's id at one source, and how identity resolution matched it.",
  fields: (t) => ({
    source: t.expose("source", { type: SourceEnum }),
    sourceAssetId: t.exposeString("sourceAssetId", {
      description: "The id at the source; a CSV id is the file's own (see file)",
    }),
    file: t.string({
      nullable: true,
      description:
        "The CSV file this id belongs to; null for CoinGecko and CoinPaprika, whose ids are global",
      resolve: (s) => (s.file === "" ? null : s.file),
    }),
    symbol: t.exposeString("symbol"),
    name: t.exposeString("name"),
    rank: t.exposeInt("rank", {
      nullable: true,
      description: "The rank this source's latest successful listing gave the asset (null once it left it)",
    }),
    matchedBy: t.exposeString("matchedBy", {
      description: "existing, alias, id-column, symbol+name, symbol+id, symbol+rank, symbol or new",
    }),
    confidence: t.exposeFloat("confidence", { description: "0..1" }),
  }),
});

export const SourcePriceType = builder.objectRef<AssetConsensus["sources"][number]>("SourcePrice").implement({
  description: "One source's latest price and how it compares with the consensus.",
  fields: (t) => ({
    source: t.field({ type: SourceEnum, resolve: (s) => s.source }),
    priceUsd: t.exposeFloat("priceUsd"),
    observedAt: t.field({ type: "DateTime", resolve: (s) => s.observedAt }),
    deviationPct: t.float({ nullable: true, resolve: (s) => s.deviationPct }),
    included: t.exposeBoolean("included"),
    excludedReason: t.string({
      nullable: true,
      description:
        "Why the source is left out: `stale: …` (too old), `outlier: …` (far from the others), `future: …` (dated ahead of the clock)",
      resolve: (s) => s.excludedReason,
    }),
  }),
});

export const LatestPriceType = builder.objectRef<AssetConsensus>("LatestPrice").implement({
  description:
    "Consensus price: the median of the sources' latest prices that are fresh (measured from the asset's newest observation), with outliers left out, and how sure it is.",
  fields: (t) => ({
    priceUsd: t.float({ nullable: true, resolve: (c) => c.priceUsd }),
    observedAt: t.field({ type: "DateTime", nullable: true, resolve: (c) => c.observedAt }),
    spreadPct: t.float({
      nullable: true,
      description: "(max − min) / consensus × 100 over the included sources; null without a consensus",
      resolve: (c) => c.spreadPct,
    }),
    disputed: t.boolean({
      description:
        "The included sources disagree by more than CONSENSUS_DEVIATION_PCT: the price is uncertain",
      resolve: (c) => c.disputed,
    }),
    sources: t.field({ type: [SourcePriceType], resolve: (c) => c.sources }),
    asset: t.prismaField({
      type: "Asset",
      resolve: (query, c, _args, ctx) =>
        ctx.prisma.asset.findUniqueOrThrow({ ...query, where: { id: c.assetId } }),
    }),
  }),
});

export const IntervalEnum = builder.enumType("Interval", {
  values: {
    M5: { description: "5 minutes" },
    H1: { description: "1 hour" },
    D1: { description: "1 day" },
  } as const,
});

export const CandleType = builder.objectRef<Candle>("Candle").implement({
  description:
    "One interval of price history. Buckets without observations are absent, never invented; an OHLC bar only feeds intervals at least as long as itself.",
  fields: (t) => ({
    bucket: t.field({
      type: "DateTime",
      description: "Start of the interval (UTC)",
      resolve: (c) => c.bucket,
    }),
    open: t.exposeFloat("open"),
    high: t.exposeFloat("high"),
    low: t.exposeFloat("low"),
    close: t.exposeFloat("close"),
    volume: t.float({
      nullable: true,
      description:
        "USD volume traded in the interval: the sum of its bars' volumes; for D1 of snapshot sources, the last snapshot's 24 h volume; null when the data cannot say",
      resolve: (c) => c.volume,
    }),
    volume24hUsd: t.float({
      nullable: true,
      description: "The 24 h volume reported by the interval's last snapshot (a rolling figure)",
      resolve: (c) => c.volume24hUsd,
    }),
    sources: t.field({ type: [SourceEnum], resolve: (c) => c.sources }),
    observations: t.exposeInt("observations"),
  }),
});

export const AssetType = builder.prismaObject("Asset", {
  description: "A canonical coin: one identity whatever the source.",
  fields: (t) => ({
    id: t.exposeID("id"),
    symbol: t.exposeString("symbol"),
    name: t.exposeString("name"),
    rank: t.exposeInt("rank", { nullable: true, description: "CoinGecko's rank, else CoinPaprika's" }),
    sources: t.relation("sources", { query: { orderBy: [{ source: "asc" }, { sourceAssetId: "asc" }] } }),
    latestPrice: t.field({
      type: LatestPriceType,
      nullable: true,
      select: { latestPrices: { select: { assetId: true, source: true, priceUsd: true, observedAt: true } } },
      resolve: (asset, _args, ctx) =>
        consensusByAsset(asset.latestPrices, ctx.services.consensus).get(asset.id) ?? null,
    }),
    priceHistory: t.field({
      type: [CandleType],
      args: {
        interval: t.arg({ type: IntervalEnum, required: true }),
        from: t.arg({ type: "DateTime", required: false }),
        to: t.arg({ type: "DateTime", required: false }),
        sources: t.arg({ type: [SourceEnum], required: false }),
        limit: t.arg.int({ required: false, description: "Only the newest N buckets (at most 5000)" }),
      },
      resolve: (asset, args, ctx) => loadCandles(ctx.prisma, asset.id, args),
    }),
  }),
});

const AssetOrderEnum = builder.enumType("AssetOrder", {
  values: ["RANK_ASC", "SYMBOL_ASC", "NAME_ASC"] as const,
});

const AssetFilter = builder.inputType("AssetFilter", {
  fields: (t) => ({
    symbols: t.stringList({
      required: false,
      description: "Every asset with one of these symbols (case-insensitive)",
    }),
    ids: t.idList({ required: false }),
    search: t.string({ required: false, description: "Case-insensitive prefix of symbol or name" }),
  }),
});

function parseIds(
  ids: readonly (string | number)[] | null | undefined,
  argument: string,
): number[] | undefined {
  if (!ids) return undefined;
  return ids.map((id) => parseId(id, argument, "an asset id"));
}

function assetWhere(
  filter:
    | { symbols?: string[] | null; ids?: (string | number)[] | null; search?: string | null }
    | null
    | undefined,
): Prisma.AssetWhereInput {
  const where: Prisma.AssetWhereInput[] = [];
  if (filter?.symbols) where.push({ symbol: { in: filter.symbols.map((s) => s.trim().toUpperCase()) } });
  const ids = parseIds(filter?.ids, "filter.ids");
  if (ids) where.push({ id: { in: ids } });
  if (filter?.search) {
    const q = filter.search.trim();
    where.push({
      OR: [
        { symbol: { startsWith: q, mode: "insensitive" } },
        { name: { startsWith: q, mode: "insensitive" } },
      ],
    });
  }
  return { AND: where };
}

// Keyset orders: rank has nulls, so it sorts on (rank ?? +∞, id) encoded in the cursor.
const ASSET_ORDERS = {
  RANK_ASC: { field: "rank", nullsLast: true },
  SYMBOL_ASC: { field: "symbol", nullsLast: false },
  NAME_ASC: { field: "name", nullsLast: false },
} as const;

builder.queryFields((t) => ({
  assets: t.connection(
    {
      type: AssetType,
      description: "Canonical assets, filtered and ordered, with keyset cursors.",
      args: {
        filter: t.arg({ type: AssetFilter, required: false }),
        orderBy: t.arg({ type: AssetOrderEnum, required: false, defaultValue: "RANK_ASC" }),
      },
      resolve: async (_root, args, ctx) => {
        const request = pageRequest(args, 2);
        const order = ASSET_ORDERS[args.orderBy ?? "RANK_ASC"];
        const dir = request.backward ? "desc" : "asc";
        const base = assetWhere(args.filter);
        const where: Prisma.AssetWhereInput[] = [base];
        if (request.cursor) where.push(assetAfter(order.field, order.nullsLast, request.cursor, dir));
        const rows = await ctx.prisma.asset.findMany({
          where: { AND: where },
          orderBy: [
            order.nullsLast
              ? { [order.field]: { sort: dir, nulls: dir === "asc" ? "last" : "first" } }
              : { [order.field]: dir },
            { id: dir },
          ],
          take: request.size + 1,
        });
        const page = toPage(rows, request, (a) => [a[order.field as "symbol"] ?? null, a.id]);
        return { ...page, totalCount: () => ctx.prisma.asset.count({ where: base }) };
      },
    },
    {
      fields: (c) => ({
        totalCount: c.int({
          resolve: (conn) => (conn as unknown as { totalCount: () => Promise<number> }).totalCount(),
        }),
      }),
    },
  ),
  asset: t.prismaField({
    type: "Asset",
    nullable: true,
    description:
      "One asset by id, by symbol (the highest-ranked asset with that symbol), or by a source and its id there.",
    args: {
      id: t.arg.id({ required: false }),
      symbol: t.arg.string({ required: false }),
      source: t.arg({ type: SourceEnum, required: false }),
      sourceAssetId: t.arg.string({ required: false }),
    },
    resolve: (query, _root, args, ctx) => {
      const given = [
        args.id != null,
        args.symbol != null,
        args.source != null || args.sourceAssetId != null,
      ].filter(Boolean);
      if (given.length !== 1)
        throw badInput("asset", "give exactly one of id, symbol, or source + sourceAssetId");
      if (args.id != null) {
        const [id] = parseIds([args.id], "id")!;
        return ctx.prisma.asset.findUnique({ ...query, where: { id } });
      }
      if (args.symbol != null) {
        return ctx.prisma.asset.findFirst({
          ...query,
          where: { symbol: args.symbol.trim().toUpperCase() },
          orderBy: [{ rank: { sort: "asc", nulls: "last" } }, { id: "asc" }],
        });
      }
      if (args.source == null || args.sourceAssetId == null) {
        throw badInput(
          args.source == null ? "source" : "sourceAssetId",
          "source and sourceAssetId go together",
        );
      }
      return ctx.prisma.asset.findFirst({
        ...query,
        where: { sources: { some: { source: args.source, sourceAssetId: args.sourceAssetId } } },
      });
    },
  }),
  latestPrices: t.field({
    type: [LatestPriceType],
    description: "Consensus prices by symbols (every asset with the symbol) or asset ids.",
    args: {
      symbols: t.arg.stringList({ required: false }),
      assetIds: t.arg.idList({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      if (!args.symbols && !args.assetIds) throw badInput("symbols", "give symbols or assetIds");
      const ids = parseIds(args.assetIds, "assetIds");
      const assets = await ctx.prisma.asset.findMany({
        where: {
          OR: [
            ...(args.symbols ? [{ symbol: { in: args.symbols.map((s) => s.trim().toUpperCase()) } }] : []),
            ...(ids ? [{ id: { in: ids } }] : []),
          ],
        },
        select: {
          id: true,
          latestPrices: { select: { assetId: true, source: true, priceUsd: true, observedAt: true } },
        },
        orderBy: [{ rank: { sort: "asc", nulls: "last" } }, { id: "asc" }],
        take: 500,
      });
      const consensus = consensusByAsset(
        assets.flatMap((a) => a.latestPrices),
        ctx.services.consensus,
      );
      return assets.flatMap((a) => consensus.get(a.id) ?? []);
    },
  }),
  priceHistory: t.field({
    type: [CandleType],
    description: "Candles for one asset (id or symbol).",
    args: {
      asset: t.arg.string({ required: true, description: "Asset id or symbol" }),
      interval: t.arg({ type: IntervalEnum, required: true }),
      from: t.arg({ type: "DateTime", required: false }),
      to: t.arg({ type: "DateTime", required: false }),
      sources: t.arg({ type: [SourceEnum], required: false }),
      limit: t.arg.int({ required: false, description: "Only the newest N buckets (at most 5000)" }),
    },
    resolve: async (_root, args, ctx) => {
      const asset = /^\d+$/.test(args.asset)
        ? await ctx.prisma.asset.findUnique({
            where: { id: parseId(args.asset, "asset") },
            select: { id: true },
          })
        : await ctx.prisma.asset.findFirst({
            where: { symbol: args.asset.trim().toUpperCase() },
            orderBy: [{ rank: { sort: "asc", nulls: "last" } }, { id: "asc" }],
            select: { id: true },
          });
      if (!asset) throw badInput("asset", `no asset ${JSON.stringify(args.asset)}`);
      return loadCandles(ctx.prisma, asset.id, args);
    },
  }),
}));

function assetAfter(
  field: "rank" | "symbol" | "name",
  nullsLast: boolean,
  cursor: readonly unknown[],
  dir: "asc" | "desc",
): Prisma.AssetWhereInput {
  const [value, rawId] = cursor;
  const id = Number(rawId);
  if (!Number.isSafeInteger(id) || Math.abs(id) > MAX_ID)
    throw badInput("after", "not a cursor returned by this connection");
  const op = dir === "asc" ? "gt" : "lt";
  if (nullsLast && value === null) {
    // Inside the null tail (asc) everything after has a null rank and a larger id; going
    // backwards from it (desc), every non-null rank comes next.
    return dir === "asc"
      ? { rank: null, id: { gt: id } }
      : { OR: [{ rank: { not: null } }, { rank: null, id: { lt: id } }] };
  }
  if (typeof value !== (field === "rank" ? "number" : "string"))
    throw badInput("after", "not a cursor returned by this connection");
  const after: Prisma.AssetWhereInput[] = [
    { [field]: { [op]: value } },
    { [field]: value, id: { [op]: id } },
  ];
  if (nullsLast && dir === "asc") after.push({ rank: null });
  return { OR: after };
}
