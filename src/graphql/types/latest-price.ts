import { assetsNamed } from "../../services/assets.ts";
import { type AssetConsensus, consensusByAsset } from "../../services/consensus.ts";
import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";

type SourceVerdict = AssetConsensus["sources"][number] & { assetId: number };

export const SourcePriceType = builder.objectRef<SourceVerdict>("SourcePrice").implement({
  description: "One source's latest price for an asset and how it compares with the consensus.",
  fields: (t) => ({
    id: t.id({
      description: "The asset's id and the source (`42:COINGECKO`): a key for normalized client caches",
      resolve: (s) => `${s.assetId}:${s.source}`,
    }),
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
    id: t.id({
      description: "The asset's id: an asset has one latest price (a key for normalized client caches)",
      resolve: (c) => String(c.assetId),
    }),
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
    sources: t.field({
      type: [SourcePriceType],
      resolve: (c) => c.sources.map((s) => ({ ...s, assetId: c.assetId })),
    }),
    asset: t.prismaField({
      type: "Asset",
      resolve: (query, c, _args, ctx) =>
        ctx.prisma.asset.findUniqueOrThrow({ ...query, where: { id: c.assetId } }),
    }),
  }),
});

builder.queryFields((t) => ({
  latestPrices: t.field({
    type: [LatestPriceType],
    description: "Consensus prices by symbols (every asset with the symbol) or asset ids.",
    args: {
      symbols: t.arg.stringList({ required: false }),
      assetIds: t.arg.idList({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      const assets = await assetsNamed(ctx.prisma, args);
      const consensus = consensusByAsset(
        assets.flatMap((a) => a.latestPrices),
        ctx.services.consensus,
      );
      return assets.flatMap((a) => consensus.get(a.id) ?? []);
    },
  }),
}));
