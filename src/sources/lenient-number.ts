import { z } from "zod";
import { parseAmount } from "./parse-amount.ts";

/**
 * A numeric field as the APIs send it: a JSON number (any notation; supplies above 2^53 stay
 * IEEE doubles), null, or, after a type drift, a numeric string. Anything else fails validation.
 */
export const lenientNumber = z.unknown().transform((value, ctx) => {
  const result = parseAmount(value);
  if ("error" in result) {
    ctx.addIssue({ code: "custom", message: result.error });
    return z.NEVER;
  }
  return result.value;
});

/** Positive or null: 0 and negatives mean "unknown" for supplies (CoinPaprika's max_supply: 0). */
export const positiveOrNull = (value: number | null) => (value !== null && value > 0 ? value : null);

/** The first zod issue as "field: message". */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.join(".") || "item"}: ${issue.message}`;
}

/** A rank is a positive integer that fits the database's int column; anything else is unknown. */
export const validRank = (value: number | null | undefined): number | null =>
  value !== null && value !== undefined && Number.isInteger(value) && value > 0 && value <= 2_147_483_647
    ? value
    : null;
