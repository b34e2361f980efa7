import { assetPage, oneAsset } from "../../services/assets.ts";
import { consensusByAsset } from "../../services/consensus.ts";
import { builder } from "../builder.ts";
import "./asset-source.ts";
import { connectionOf } from "./connection.ts";
import { SourceEnum } from "./enums.ts";
import { LatestPriceType } from "./latest-price.ts";

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
  }),
});

export const AssetConnection = connectionOf(AssetType, "Asset");

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

builder.queryFields((t) => ({
  assets: t.connection(
    {
      type: AssetType,
      description: "Canonical assets, filtered and ordered, with keyset cursors.",
      args: {
        filter: t.arg({ type: AssetFilter, required: false }),
        orderBy: t.arg({ type: AssetOrderEnum, required: false, defaultValue: "RANK_ASC" }),
      },
      resolve: (_root, args, ctx) => assetPage(ctx.prisma, args),
    },
    AssetConnection,
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
    resolve: (query, _root, args, ctx) => ctx.prisma.asset.findFirst({ ...query, ...oneAsset(args) }),
  }),
}));
