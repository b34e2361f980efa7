import { badInput } from "./errors.ts";

/** Ids are PostgreSQL `integer` columns: anything above this is no id of ours (and the driver would fail). */
export const MAX_ID = 2_147_483_647;

/**
 * An id argument as the database id: a positive integer up to int4's maximum, from an ID
 * (string) or Int. Anything else is the client's mistake: BAD_USER_INPUT naming the argument,
 * never an internal error from the driver.
 */
export function parseId(value: string | number, argument: string, what = "an id"): number {
  const n = typeof value === "number" ? value : /^\d{1,10}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_ID) {
    throw badInput(argument, `not ${what}: ${JSON.stringify(value)}`);
  }
  return n;
}

export function parseIds(
  values: readonly (string | number)[] | null | undefined,
  argument: string,
  what = "an id",
): number[] | undefined {
  return values ? values.map((v) => parseId(v, argument, what)) : undefined;
}
