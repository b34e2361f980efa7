import { builder } from "../builder.ts";
import { connectionOf } from "./connection.ts";
import { SourceEnum } from "./enums.ts";

export const RejectedRecordType = builder.prismaObject("RejectedRecord", {
  fields: (t) => ({
    id: t.exposeID("id"),
    source: t.expose("source", { type: SourceEnum }),
    location: t.exposeString("location", { description: '"page 2 item 17", "seeds/prices.csv:23"' }),
    reason: t.exposeString("reason"),
    raw: t.expose("raw", { type: "JSON", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

export const RejectedRecordConnection = connectionOf(RejectedRecordType, "RejectedRecord");
