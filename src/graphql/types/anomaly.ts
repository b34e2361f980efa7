import { builder } from "../builder.ts";
import "./asset.ts";
import { SeverityEnum, SourceEnum } from "./enums.ts";

export const AnomalyType = builder.prismaObject("Anomaly", {
  description:
    "PRICE_DEVIATION (a source far from the consensus), DISPUTED_PRICE (the included sources disagree: once per asset and run) or COUNT_DROP (vs the previous successful run).",
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.exposeString("kind"),
    severity: t.expose("severity", { type: SeverityEnum }),
    source: t.expose("source", { type: SourceEnum, nullable: true }),
    asset: t.relation("asset", { nullable: true }),
    detail: t.expose("detail", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});
