import type { PrismaClient, Tx } from "../../db/database.ts";

/** The highest committed seq (0 on an empty database): where a live stream starts or resumes. */
export async function maxSeq(prisma: PrismaClient | Tx): Promise<bigint> {
  const r = await prisma.marketObservation.aggregate({ _max: { seq: true } });
  return r._max.seq ?? 0n;
}
