import { DriftKind, RunStatus, RunTrigger, Severity, Source } from "../../generated/prisma/enums.ts";
import { builder } from "../builder.ts";

export const SourceEnum = builder.enumType(Source, { name: "Source" });
export const RunStatusEnum = builder.enumType(RunStatus, { name: "RunStatus" });
export const RunTriggerEnum = builder.enumType(RunTrigger, { name: "RunTrigger" });
export const DriftKindEnum = builder.enumType(DriftKind, { name: "DriftKind" });
export const SeverityEnum = builder.enumType(Severity, { name: "Severity" });
