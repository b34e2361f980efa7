// One slow subscriber (reads nothing) of marketUpdates in mode LATEST while 2,600 assets move:
// the synchronous cost of dispatching one 500-row batch to it, which the feed pays on the event
// loop for every batch (market-feed.ts pumpOnce: match, then push into the subscriber's buffer).
// Printed, never asserted: npx tsx bench/slow-subscriber.ts, or npm run bench -- --only=slow
import { pathToFileURL } from "node:url";
import type { MarketUpdate, ObservationWithAsset } from "../src/graphql/live/market-update.ts";
import { matches } from "../src/graphql/live/market-update.ts";
import { SubscriberBuffer } from "../src/graphql/live/subscriber-buffer.ts";
import { log, median, percentile, row } from "./results.ts";

const ASSETS = 2_600;
const BATCH = 500;

function observation(seq: number, assetId: number): MarketUpdate {
  const o = {
    id: seq,
    seq: BigInt(seq),
    assetId,
    source: "COINPAPRIKA",
    asset: { id: assetId, symbol: `S${assetId}` },
  } as unknown as ObservationWithAsset;
  return { kind: "UPDATE", seq: BigInt(seq), observation: o, latestPrice: null };
}

export function benchSlowSubscriber(quick: boolean) {
  const batches = quick ? 40 : 200;
  const buffer = new SubscriberBuffer(1000, "LATEST", 0n);
  let seq = 0;
  // The subscriber fell behind a full pass over every asset: its buffer is full and conflating.
  for (let a = 0; a < ASSETS; a++) buffer.push(observation(++seq, a));
  const costs: number[] = [];
  for (let b = 0; b < batches; b++) {
    const updates = Array.from({ length: BATCH }, (_, i) => observation(++seq, (b * BATCH + i) % ASSETS));
    const started = performance.now();
    for (const u of updates) if (u.observation && matches({}, u.observation)) buffer.push(u);
    costs.push(performance.now() - started);
  }
  const scenario = `slow subscriber (LATEST, ${ASSETS} assets)`;
  row({
    scenario,
    metric: "ms per 500-row batch (median)",
    value: median(costs),
    baseline: null,
    target: null,
  });
  row({
    scenario,
    metric: "ms per 500-row batch (p99)",
    value: percentile(costs, 99),
    baseline: null,
    target: null,
  });
  row({ scenario, metric: "updates buffered", value: buffer.size, baseline: null, target: null });
  log(
    `${scenario}: ${median(costs).toFixed(3)} ms per batch (median of ${batches}), p99 ${percentile(costs, 99).toFixed(3)} ms, ${buffer.size} buffered`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href)
  benchSlowSubscriber(process.argv.includes("--quick"));
