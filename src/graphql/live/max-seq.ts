import type { PrismaClient, Tx } from "../../db/database.ts";

/**
 * The highest committed seq (0 on an empty database): where a live stream starts or resumes.
 * Plain SQL, not Prisma's aggregate: that one reads `MAX(seq) FROM (SELECT seq … OFFSET $1)`,
 * which scans every partition (5.5-6.6 s on 10 M observations, the growth bench); `max(seq)` is
 * answered from each partition's seq index.
 */
export async function maxSeq(prisma: PrismaClient | Tx): Promise<bigint> {
  const [row] = await prisma.$queryRaw<
    { max: bigint | null }[]
  >`SELECT max(seq) AS max FROM market_observation`;
  return row?.max ?? 0n;
}
