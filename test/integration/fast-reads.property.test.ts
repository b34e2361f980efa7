import fc from "fast-check";
import { parse } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { marketDataTemplate } from "../../src/graphql/market-data-read.ts";
import { buildSchema } from "../../src/graphql/schema.ts";
import { ASSET_COLUMNS, OBSERVATION_COLUMNS } from "../../src/services/market-data.ts";
import { createTestApp } from "../support/app.ts";
import { databaseKinds, type TestDatabase } from "../support/databases.ts";
import { type ReplayServer, startReplayServer } from "../support/replay-server.ts";

// The one-statement read (src/graphql/market-data-read.ts) must answer exactly what the general
// path (Pothos + Prisma + the executor) answers: random selections, filters, orders and pages,
// over the data of a real run (both APIs and the CSV: nulls, OHLC bars, three sources), compared
// response for response, errors included. Every generated query is checked to take the fast path.
const NODE_FIELDS = [...Object.keys(OBSERVATION_COLUMNS), "__typename"];
const ASSET_FIELDS = [...Object.keys(ASSET_COLUMNS), "__typename"];
const PAGE_INFO = ["hasNextPage", "hasPreviousPage", "__typename"];

let replay: ReplayServer;
beforeAll(async () => {
  replay = await startReplayServer();
});
afterAll(() => replay?.close());

/** Some fields, in random order, some under an alias. */
const fields = (names: string[]) =>
  fc
    .shuffledSubarray(names, { minLength: 1 })
    .chain((picked) =>
      fc.tuple(
        ...picked.map((n) => fc.boolean().map((alias) => (alias && n !== "__typename" ? `a_${n}: ${n}` : n))),
      ),
    )
    .map((parts) => parts.join(" "));

const selection = fc
  .record({
    node: fields(NODE_FIELDS),
    asset: fc.option(fields(ASSET_FIELDS), { nil: null }),
    cursor: fc.boolean(),
    pageInfo: fc.shuffledSubarray(PAGE_INFO),
    typename: fc.boolean(),
  })
  .map(
    (s) =>
      `${s.typename ? "__typename " : ""}edges { ${s.cursor ? "cursor " : ""}node { ${s.node}${s.asset ? ` asset { ${s.asset} }` : ""} } } pageInfo { startCursor endCursor ${s.pageInfo.join(" ")} }`,
  );

describe.each(databaseKinds.filter((k) => k.available))("fast marketData read on $kind", ({ create }) => {
  let t: TestDatabase;
  let app: ReturnType<typeof createTestApp>;
  let general: ReturnType<ReturnType<typeof createTestApp>["app"]["createYoga"]>;
  let symbols: string[];
  let assetIds: string[];
  let times: string[];

  beforeAll(async () => {
    t = await create();
    app = createTestApp(t.db, replay);
    general = app.app.createYoga({ fastReads: false });
    await app.runner.run({ trigger: "CLI" });
    const assets = await t.db.prisma.asset.findMany({ take: 40, orderBy: { id: "asc" } });
    symbols = [...new Set(assets.map((a) => a.symbol))].slice(0, 10);
    assetIds = assets.map((a) => String(a.id)).slice(0, 20);
    const at = await t.db.prisma.marketObservation.findMany({
      distinct: ["observedAt"],
      select: { observedAt: true },
      take: 30,
    });
    times = at.map((o) => o.observedAt.toISOString());
    expect(times.length).toBeGreaterThan(2);
  }, 120_000);
  afterAll(() => t?.dispose());

  const fastReads = async (outcome: string) =>
    (await app.metrics.fastReads.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

  async function both(query: string, variables: Record<string, unknown>) {
    const ask = async (yoga: { fetch: typeof fetch }) => {
      const res = await yoga.fetch("http://127.0.0.1/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: unknown; errors?: { message: string; path?: unknown }[] };
      return { status: res.status, data: body.data, errors: body.errors?.map((e) => [e.message, e.path]) };
    };
    return { fast: await ask(app.yoga as never), slow: await ask(general as never) };
  }

  const args = fc.record(
    {
      first: fc.integer({ min: 0, max: 30 }),
      orderBy: fc.constantFrom("OBSERVED_AT_DESC", "OBSERVED_AT_ASC"),
      filter: fc.record(
        {
          symbols: fc.array(fc.oneof(fc.constantFrom(...["BTC", "eth ", "NOPE"]), fc.constant("")), {
            maxLength: 3,
          }),
          assetIds: fc.array(fc.constantFrom("1", "2", "3", "999999"), { maxLength: 3 }),
          sources: fc.shuffledSubarray(["COINGECKO", "COINPAPRIKA", "CSV"]),
          from: fc.nat(29),
          to: fc.nat(29),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );

  it("returns exactly what the general path returns, page after page", async () => {
    await fc.assert(
      fc.asyncProperty(selection, args, fc.boolean(), fc.nat(), async (sel, a, backward, pick) => {
        const filter: Record<string, unknown> = { ...a.filter };
        // Known values of this database, so filters match something as often as nothing.
        if (a.filter?.symbols) filter.symbols = [...a.filter.symbols, symbols[pick % symbols.length]];
        if (a.filter?.assetIds) filter.assetIds = [...a.filter.assetIds, assetIds[pick % assetIds.length]];
        if (a.filter?.from !== undefined) filter.from = times[a.filter.from % times.length];
        if (a.filter?.to !== undefined) filter.to = times[a.filter.to % times.length];
        const size = backward ? "last" : "first";
        const query = `query ($n: Int, $f: MarketDataFilter, $o: MarketDataOrder, $c: String) {
          marketData(${size}: $n, filter: $f, orderBy: $o, ${backward ? "before" : "after"}: $c) { ${sel} }
        }`;
        expect(marketDataTemplate({ schema: buildSchema(), document: parse(query) } as never)).not.toBeNull();
        const variables = { n: a.first ?? null, f: filter, o: a.orderBy ?? null, c: null as string | null };
        const [answered, fellBack] = [await fastReads("answered"), await fastReads("fallback")];
        const first = await both(query, variables);
        expect(first.fast).toEqual(first.slow);
        // Answered by the one-statement read itself, not by its fallback to the general path; only
        // an error (from >= to, drawn at random) goes to the general path, which reports it.
        const failed = first.slow.errors !== undefined;
        expect([await fastReads("answered"), await fastReads("fallback")]).toEqual(
          failed ? [answered, fellBack + 1] : [answered + 1, fellBack],
        );
        // The next page, from the cursor the first one returned.
        const info = (
          first.slow.data as { marketData?: { pageInfo?: { endCursor?: string; startCursor?: string } } }
        )?.marketData?.pageInfo;
        const cursor = backward ? info?.startCursor : info?.endCursor;
        if (cursor) {
          const next = await both(query, { ...variables, c: cursor });
          expect(next.fast).toEqual(next.slow);
        }
      }),
      { numRuns: 60 },
    );
  }, 300_000);

  it("answers bad arguments with the general path's errors", async () => {
    const q =
      "query ($c: String, $f: MarketDataFilter) { marketData(first: 5, after: $c, filter: $f) { edges { node { seq } } } }";
    for (const variables of [
      { c: "not-a-cursor" },
      { c: Buffer.from('["2020-01-01T00:00:00.000Z","x"]').toString("base64url") },
      { f: { assetIds: ["abc"] } },
      { f: { from: "2024-02-01T00:00:00Z", to: "2024-01-01T00:00:00Z" } },
      { f: { assetIds: Array.from({ length: 33_000 }, (_, i) => String(i + 1)) } },
      { f: { symbols: Array.from({ length: 1_001 }, (_, i) => `S${i}`) } },
    ]) {
      const r = await both(q, variables);
      expect(r.fast.errors?.length, JSON.stringify(variables)).toBeGreaterThan(0);
      expect(r.fast).toEqual(r.slow);
    }
  });
});
