/**
 * ETL_FAIL_AFTER_RECORDS=N and CHAOS_MODE: crash the run once per process after N records have
 * reached the write stage, mid-batch (the batch holding record N is never committed).
 */
export class InjectedFailure extends Error {
  constructor(readonly afterRecords: number) {
    super(`injected failure after ${afterRecords} records`);
    this.name = "InjectedFailure";
  }
}

export interface FailureInjector {
  /** Called with the records about to be written; throws when the threshold falls inside them. */
  beforeWrite(records: number): void;
  readonly threshold: number | null;
}

/** mulberry32: a tiny seeded PRNG, so CHAOS_SEED reproduces the same failure point. */
function seededRandom(seed: string): () => number {
  let h = 1779033703 ^ seed.length;
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CHAOS_MAX_RECORDS = 2000;

export function createFailureInjector(options: {
  failAfterRecords?: number | undefined;
  chaos?: { enabled: boolean; seed?: string | undefined };
}): FailureInjector {
  let threshold: number | null = options.failAfterRecords ?? null;
  if (threshold === null && options.chaos?.enabled) {
    const random = seededRandom(options.chaos.seed ?? String(Date.now()));
    threshold = 1 + Math.floor(random() * CHAOS_MAX_RECORDS);
  }
  let seen = 0;
  let fired = false;
  return {
    threshold,
    beforeWrite(records) {
      if (threshold === null || fired) return;
      if (seen + records >= threshold) {
        fired = true;
        seen = threshold;
        throw new InjectedFailure(threshold);
      }
      seen += records;
    },
  };
}
