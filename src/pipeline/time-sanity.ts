/** Bitcoin's first block: no market quote can be older. */
export const EARLIEST_OBSERVATION = new Date("2009-01-03T00:00:00.000Z");

/**
 * Why an observation's time cannot be true, or null. A quote dated beyond the server clock plus
 * MAX_CLOCK_SKEW_SECONDS would outrank every real one as "newest" (and stay newest for years);
 * one dated before 2009 is a parse gone wrong (an epoch 0, a two-digit year).
 */
export function timeProblem(observedAt: Date, now: number, maxSkewMs: number): string | null {
  const at = observedAt.getTime();
  if (at > now + maxSkewMs) {
    const ahead = Math.round((at - now) / 1000);
    return (
      `observedAt ${observedAt.toISOString()} is ${ahead.toLocaleString("en-US")} s in the future ` +
      `(more than MAX_CLOCK_SKEW_SECONDS=${Math.round(maxSkewMs / 1000)} ahead of the server clock)`
    );
  }
  if (at < EARLIEST_OBSERVATION.getTime()) {
    return `observedAt ${observedAt.toISOString()} is before ${EARLIEST_OBSERVATION.toISOString().slice(0, 10)}, when no coin traded`;
  }
  return null;
}
