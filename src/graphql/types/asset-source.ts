import { builder } from "../builder.ts";
import { SourceEnum } from "./enums.ts";

export const AssetSourceType = builder.prismaObject("AssetSource", {
  description: "An asset's id at one source, and how identity resolution matched it.",
  fields: (t) => ({
    id: t.exposeID("id"),
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
