/** What a source run did with its input. `fetched = written + unchanged + rejected + quarantined`. */
export interface Counts {
  fetched: number;
  written: number;
  unchanged: number;
  rejected: number;
  quarantined: number;
  /** Rejected rows beyond ETL_REJECTED_ROWS_KEPT: part of `rejected`, not stored in full. */
  rejectedTruncated: number;
}

export const zeroCounts = (): Counts => ({
  fetched: 0,
  written: 0,
  unchanged: 0,
  rejected: 0,
  quarantined: 0,
  rejectedTruncated: 0,
});

const KEYS = Object.keys(zeroCounts()) as (keyof Counts)[];

export function addCounts(a: Counts, b: Partial<Counts>): Counts {
  const out = { ...a };
  for (const k of KEYS) out[k] += b[k] ?? 0;
  return out;
}

/**
 * The one owner of a source run's counts. What happens outside a batch (rows a checkpoint skips,
 * a held stream) is noted as pending and stored with the next batch that commits (or at the end);
 * a batch's own counts count once its transaction has committed. The stored counters and the
 * summary are therefore always the same numbers.
 */
export function createTally() {
  let committed = zeroCounts();
  let pending = zeroCounts();
  return {
    /** Counted outside a batch; stored with the next commit. */
    note(delta: Partial<Counts>) {
      pending = addCounts(pending, delta);
    },
    /** What a batch transaction stores: the pending counts plus the batch's own. */
    toStore: (batch: Partial<Counts>): Counts => addCounts(pending, batch),
    /** After the batch's commit. */
    committed(batch: Partial<Counts>) {
      committed = addCounts(addCounts(committed, pending), batch);
      pending = zeroCounts();
    },
    /** Everything counted so far, stored or not. */
    get total(): Counts {
      return addCounts(committed, pending);
    },
  };
}

export type Tally = ReturnType<typeof createTally>;
