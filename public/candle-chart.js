// The detail view's candle chart: hand-drawn SVG (a few hundred lines of library would draw the
// same). One slot per candle in bucket order; a dashed line marks buckets without data between
// two candles; the forming candle (not final yet) is drawn hollow and dashed.
import { gaps, priceScale } from "./candles.js";
import { s } from "./dom.js";
import { axisPrice, bucketLabel, time, usd } from "./format.js";

const PAD = { top: 14, right: 74, bottom: 26, left: 8 };
const VOLUME_SHARE = 0.16;

/** Draws the candles into the <svg> (its size: the element's own box). */
export function drawCandleChart(svg, candles, interval) {
  const box = svg.getBoundingClientRect();
  const width = Math.max(320, Math.round(box.width || 800));
  const height = Math.max(180, Math.round(box.height || 300));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.dataset.candles = String(candles.length);
  svg.replaceChildren();
  if (candles.length === 0) {
    svg.append(
      s("text", {
        class: "empty",
        x: width / 2,
        y: height / 2,
        "text-anchor": "middle",
        text: "No candles yet",
      }),
    );
    return;
  }
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const volumes = candles.map((c) => c.volume ?? 0);
  const maxVolume = Math.max(...volumes);
  const priceH = maxVolume > 0 ? plotH * (1 - VOLUME_SHARE) : plotH;
  const { lo, hi, step, ticks } = priceScale(candles);
  const y = (p) => PAD.top + ((hi - p) / (hi - lo)) * priceH;
  // At least 14 slots: a handful of candles stay candle-shaped instead of filling the width.
  const slot = plotW / Math.max(candles.length, 14);
  const left = PAD.left + plotW - slot * candles.length;
  const x = (i) => left + slot * (i + 0.5);
  const body = Math.max(1, Math.min(16, slot * 0.68));

  const last = candles.at(-1);
  const ly = y(last.close);
  const grid = s("g", { class: "grid" });
  for (const t of ticks) {
    grid.append(s("line", { x1: PAD.left, x2: PAD.left + plotW, y1: y(t), y2: y(t) }));
    // No tick label under the newest close's tag (nor its "forming" line below it).
    const below = y(t) - ly;
    if (below > -14 && below < (last.final ? 14 : 28)) continue;
    grid.append(
      s("text", { class: "axis", x: width - PAD.right + 8, y: y(t) + 4, text: axisPrice(t, step) }),
    );
  }
  const labelEvery = Math.max(1, Math.ceil(candles.length / Math.max(2, Math.floor(plotW / 90))));
  for (let i = candles.length - 1; i >= 0; i -= labelEvery) {
    grid.append(
      s("text", {
        class: "axis",
        x: x(i),
        y: height - 8,
        "text-anchor": "middle",
        text: bucketLabel(candles[i].bucket, interval),
      }),
    );
  }
  svg.append(grid);

  const breaks = s("g", { class: "gaps" });
  for (const i of gaps(candles, interval)) {
    const at = left + slot * i;
    breaks.append(
      s(
        "line",
        { x1: at, x2: at, y1: PAD.top, y2: PAD.top + plotH },
        s("title", { text: `no data from ${time(candles[i - 1].bucket)} to ${time(candles[i].bucket)}` }),
      ),
    );
  }
  svg.append(breaks);

  // A forming candle's slot is tinted: a flat one (a single quote so far) is a dash that no
  // dashed outline could mark.
  const bands = s("g", { class: "bands" });
  candles.forEach((c, i) => {
    if (!c.final)
      bands.append(
        s("rect", { class: "forming-band", x: x(i) - slot / 2, y: PAD.top, width: slot, height: plotH }),
      );
  });
  svg.append(bands);

  const bars = s("g", { class: "candles" });
  candles.forEach((c, i) => {
    const up = c.close >= c.open;
    const top = y(Math.max(c.open, c.close));
    const g = s(
      "g",
      {
        class: `candle ${up ? "up" : "down"}${c.final ? "" : " forming"}`,
        dataset: { bucket: c.bucket, final: String(c.final), revision: String(c.revision ?? 0) },
      },
      s("title", {
        text:
          `${time(c.bucket)} UTC · O ${usd(c.open)} H ${usd(c.high)} L ${usd(c.low)} C ${usd(c.close)}` +
          ` · ${c.observations} observation${c.observations === 1 ? "" : "s"} (${c.sources.join(", ")})` +
          (c.final ? (c.revision > 0 ? ` · final, revised ${c.revision}×` : " · final") : " · forming"),
      }),
      s("line", { class: "wick", x1: x(i), x2: x(i), y1: y(c.high), y2: y(c.low) }),
      s("rect", {
        class: "body",
        x: x(i) - body / 2,
        y: top,
        width: body,
        height: Math.max(1, y(Math.min(c.open, c.close)) - top),
      }),
    );
    if (maxVolume > 0 && c.volume) {
      const vh = (c.volume / maxVolume) * plotH * VOLUME_SHARE * 0.85;
      g.append(
        s("rect", { class: "volume", x: x(i) - body / 2, y: PAD.top + plotH - vh, width: body, height: vh }),
      );
    }
    bars.append(g);
  });
  svg.append(bars);

  // The newest close, as a line and a tag on the price axis.
  svg.append(
    s(
      "g",
      { class: `last ${last.close >= last.open ? "up" : "down"}` },
      s("line", { x1: PAD.left, x2: PAD.left + plotW, y1: ly, y2: ly }),
      s("rect", { x: width - PAD.right + 2, y: ly - 9, width: PAD.right - 4, height: 18, rx: 3 }),
      s("text", { x: width - PAD.right + 8, y: ly + 4, text: axisPrice(last.close, step) }),
    ),
  );
  if (!last.final) {
    // Named beside its price tag, in the axis column, where no candle is.
    svg.append(s("text", { class: "forming-label", x: width - PAD.right + 8, y: ly + 22, text: "forming" }));
  }
}
