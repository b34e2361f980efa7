// The asset detail view: candle chart (priceHistory, then candleUpdates), each source's price and
// deviation, the consensus and its spread, and the run strip. One candleUpdates subscription at a
// time: switching asset or interval, or closing, completes the old one first.
import { drawCandleChart } from "./candle-chart.js";
import { mergeCandle } from "./candles.js";
import { fill, h } from "./dom.js";
import { ago, pct, SOURCE_NAMES, time, usd } from "./format.js";
import { query } from "./graphql.js";
import { createRunStrip } from "./run-strip.js";

export const INTERVALS = ["M5", "H1", "D1"];
/** Candles drawn per interval: 8 hours of M5, 4 days of H1, 3 months of D1. */
const LIMIT = { M5: 96, H1: 96, D1: 90 };
const SOURCES = ["COINGECKO", "COINPAPRIKA", "CSV"];

const CANDLE = "id bucket open high low close volume observations sources final revision";
const HISTORY = `query Detail($id: ID!, $interval: Interval!, $limit: Int!) {
  asset(id: $id) { id symbol name rank priceHistory(interval: $interval, limit: $limit) { ${CANDLE} } }
}`;
const CANDLE_UPDATES = `subscription Candles($asset: String!, $interval: Interval!) {
  candleUpdates(asset: $asset, interval: $interval) { final revision candle { ${CANDLE} } }
}`;

/**
 * root: the detail <section>; client: the page's live client; prices: asset id → LatestPrice
 * (kept current by the table's stream); assets: asset id → { symbol, name, rank } when known.
 */
export function createDetail({ root, client, prices, assets }) {
  const el = {
    title: root.querySelector("#detail-title"),
    price: root.querySelector("#detail-price"),
    intervals: root.querySelector(".intervals"),
    chart: root.querySelector("#chart"),
    note: root.querySelector("#chart-note"),
    sources: root.querySelector("#detail-sources tbody"),
    consensus: root.querySelector("#detail-consensus"),
  };
  const strip = createRunStrip(root.querySelector("#run-strip"), client);
  let shown = null; // { id, interval, candles, endCandles }
  let resizeFrame = 0;

  const draw = () => shown?.candles && drawCandleChart(el.chart, shown.candles, shown.interval);
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(draw);
  }).observe(el.chart);

  function header(id) {
    const a = assets.get(id);
    fill(
      el.title,
      h("b", { text: a?.symbol ?? `#${id}` }),
      a ? h("span", { text: a.name }) : null,
      a?.rank != null ? h("span", { class: "rank", text: `rank ${a.rank}` }) : null,
    );
  }

  function renderPrice() {
    if (!shown) return;
    const latest = prices.get(shown.id) ?? null;
    fill(
      el.price,
      h("span", { class: `big${latest?.disputed ? " disputed" : ""}`, text: usd(latest?.priceUsd) }),
      latest?.disputed ? h("span", { class: "badge disputed", text: "disputed" }) : null,
    );
    const rows = SOURCES.map((source) => {
      const x = latest?.sources.find((y) => y.source === source);
      const status = !x
        ? { cls: "missing", text: "no price" }
        : x.included
          ? { cls: "included", text: "in consensus" }
          : { cls: (x.excludedReason ?? "excluded").split(":")[0], text: x.excludedReason ?? "excluded" };
      return h(
        "tr",
        { dataset: { source }, class: x && !x.included ? "excluded" : null },
        h("td", { text: SOURCE_NAMES[source] }),
        h("td", { class: "num price", text: usd(x?.priceUsd) }),
        h("td", { class: `num deviation ${deviationClass(x?.deviationPct)}`, text: pct(x?.deviationPct) }),
        h("td", { class: "bar" }, deviationBar(x?.deviationPct)),
        h("td", {
          class: "num muted",
          title: x ? `${time(x.observedAt)} UTC` : null,
          text: x ? ago(x.observedAt) : "–",
        }),
        h("td", { class: `state ${status.cls}`, text: status.text }),
      );
    });
    fill(el.sources, rows);
    const included = latest?.sources.filter((x) => x.included).length ?? 0;
    fill(
      el.consensus,
      h("dt", { text: "Consensus" }),
      h("dd", { text: usd(latest?.priceUsd) }),
      h("dt", { text: "Spread" }),
      h("dd", {
        class: latest?.disputed ? "disputed" : null,
        text: latest?.spreadPct == null ? "–" : `${latest.spreadPct.toFixed(2)} %`,
      }),
      h("dt", { text: "Sources in it" }),
      h("dd", { text: `${included} of ${latest?.sources.length ?? 0}` }),
      h("dt", { text: "Observed" }),
      h("dd", { text: latest?.observedAt ? `${time(latest.observedAt)} UTC` : "–" }),
    );
    el.consensus.title = latest?.disputed
      ? "disputed: the included sources disagree by more than the threshold"
      : "the median of the fresh sources' latest prices";
  }

  function renderNote() {
    if (!shown?.candles) return;
    const forming = shown.candles.filter((c) => !c.final).length;
    el.note.textContent =
      `${shown.candles.length} ${shown.interval} candles (UTC)` +
      (forming
        ? ` · the tinted one is forming: it changes until ${forming === 1 ? "its" : "their"} bucket is final`
        : "") +
      " · a dashed line: no data between two candles";
  }

  function loadChart() {
    const view = shown;
    view.endCandles?.();
    view.candles = null;
    el.chart.replaceChildren();
    el.chart.dataset.candles = "";
    el.note.textContent = "Loading candles…";
    const limit = LIMIT[view.interval];
    // Subscribed before the history is read; what arrives meanwhile is merged over it once it is
    // there (mergeCandle keeps whichever state of a bucket is further along): no gap at the seam.
    const pending = [];
    const apply = (candle) => {
      view.candles = mergeCandle(view.candles, candle, limit);
      draw();
      renderNote();
    };
    view.endCandles = client.subscribe(
      { query: CANDLE_UPDATES, variables: { asset: view.id, interval: view.interval } },
      {
        next: ({ candleUpdates: u }) => {
          if (shown !== view) return;
          const candle = { ...u.candle, final: u.final, revision: u.revision };
          if (view.candles === null) pending.push(candle);
          else apply(candle);
        },
        // The server ended the stream (it is draining): read the history again and resubscribe.
        complete: () => setTimeout(() => shown === view && loadChart(), 1000),
      },
    );
    query(HISTORY, { id: view.id, interval: view.interval, limit })
      .then(({ asset }) => {
        if (shown !== view) return;
        if (!asset) {
          el.note.textContent = "No such asset";
          return;
        }
        assets.set(asset.id, { symbol: asset.symbol, name: asset.name, rank: asset.rank });
        header(view.id);
        view.candles = asset.priceHistory;
        for (const c of pending) view.candles = mergeCandle(view.candles, c, limit);
        draw();
        renderNote();
      })
      .catch((error) => {
        if (shown === view) el.note.textContent = `Could not load candles: ${error.message}`;
      });
  }

  return {
    get assetId() {
      return shown?.id ?? null;
    },
    /** Shows the asset (an id) at the interval; the same asset and interval again is a no-op. */
    open(id, interval = "D1") {
      if (!INTERVALS.includes(interval)) interval = "D1";
      if (shown && shown.id === id && shown.interval === interval) return;
      const opening = !shown;
      if (shown) shown.endCandles?.();
      shown = { id, interval, candles: null, endCandles: null };
      root.hidden = false;
      for (const b of el.intervals.querySelectorAll("button"))
        b.setAttribute("aria-pressed", String(b.dataset.interval === interval));
      header(id);
      renderPrice();
      loadChart();
      if (opening) void strip.start();
    },
    close() {
      if (!shown) return;
      shown.endCandles?.();
      shown = null;
      strip.stop();
      root.hidden = true;
    },
    /** The socket was reopened: commits while it was down reached no candle stream. */
    reconnected() {
      if (!shown) return;
      loadChart();
      void strip.resync();
    },
    /** The table's stream changed the asset's consensus. */
    priceChanged(id) {
      if (shown?.id === id) renderPrice();
    },
    /** Every price changed (a new snapshot). */
    pricesReset() {
      renderPrice();
    },
  };
}

const deviationClass = (v) => (v == null ? "" : Math.abs(v) < 0.5 ? "near" : v > 0 ? "up" : "down");

/** A bar from the middle: right for above the consensus, left for below; full width = ±2 %. */
function deviationBar(v) {
  if (v == null) return null;
  const share = Math.min(1, Math.abs(v) / 2) * 50;
  return h(
    "span",
    { class: "dev-bar" },
    h("i", {
      class: v >= 0 ? "up" : "down",
      style: `width:${share.toFixed(1)}%;${v >= 0 ? "left:50%" : `left:${(50 - share).toFixed(1)}%`}`,
    }),
  );
}
