/**
 * A PostgreSQL int[] literal (`{1,2,3}`) for one bound parameter (`${intArray(ids)}::int[]`).
 * Prisma handles an array parameter element by element, synchronously: thousands of ids cost
 * tens of milliseconds of event loop; one string costs nothing. Only safe integers get in.
 */
export function intArray(values: Iterable<number>): string {
  const parts: string[] = [];
  for (const v of values) {
    if (!Number.isSafeInteger(v)) throw new TypeError(`not an integer: ${v}`);
    parts.push(String(v));
  }
  return `{${parts.join(",")}}`;
}
