// The prices table: one row per asset, a link to its detail view, and cells the live stream
// updates (a flash on each change; grey for a stale or outlier source, amber ⚠ for a disputed
// consensus).
import { fill, h, s } from "./dom.js";
import { pct, time, usd } from "./format.js";

export const SOURCES = ["COINGECKO", "COINPAPRIKA", "CSV"];

function sparkline(values) {
  if (values.length < 2) return null;
  const w = 110;
  const ht = 28;
  const min = Math.min(...values);
  const span = Math.max(...values) - min || 1;
  const points = values.map(
    (v, i) => `${(i / (values.length - 1)) * w},${ht - ((v - min) / span) * (ht - 4) - 2}`,
  );
  return s(
    "svg",
    {
      class: `spark ${values.at(-1) >= values[0] ? "up" : "down"}`,
      width: w,
      height: ht,
      viewBox: `0 0 ${w} ${ht}`,
    },
    s("polyline", { points: points.join(" ") }),
  );
}

function flash(cell, before, after) {
  if (before == null || after == null || before === after) return;
  cell.classList.remove("flash-up", "flash-down");
  void cell.offsetWidth; // restart the animation
  cell.classList.add(after > before ? "flash-up" : "flash-down");
}

/** Why a source is left out, as a class: stale, outlier, future (the reason's first word). */
const exclusion = (reason) => (reason ?? "excluded").split(":")[0].trim();

export function createTable(tbody, { onSelect }) {
  const rows = new Map();

  function renderPrices(row, latest) {
    const { cells } = row;
    const previous = row.consensus;
    row.consensus = latest?.priceUsd ?? null;
    cells.consensus.textContent = usd(row.consensus);
    cells.consensus.dataset.price = String(row.consensus ?? "");
    // A disputed consensus is shown as such: the included sources disagree beyond the threshold.
    cells.consensus.classList.toggle("disputed", Boolean(latest?.disputed));
    cells.consensus.title = latest?.disputed
      ? `disputed: the sources disagree by ${latest.spreadPct.toFixed(1)} %`
      : latest?.spreadPct != null
        ? `sources agree within ${latest.spreadPct.toFixed(2)} %`
        : "";
    flash(cells.consensus, previous, row.consensus);
    cells.observed.textContent = time(latest?.observedAt);
    for (const source of SOURCES) {
      const cell = cells[source];
      const x = latest?.sources.find((y) => y.source === source);
      const before = row.source[source];
      row.source[source] = x?.priceUsd ?? null;
      cell.textContent = usd(x?.priceUsd);
      cell.classList.remove("stale", "outlier", "future", "excluded");
      if (x && !x.included) cell.classList.add("excluded", exclusion(x.excludedReason));
      cell.title = x
        ? x.included
          ? `deviation from consensus ${pct(x.deviationPct)}`
          : (x.excludedReason ?? "excluded")
        : "no price from this source";
      flash(cell, before, row.source[source]);
    }
  }

  function setChange(row, value) {
    row.cells.change.textContent = pct(value);
    row.cells.change.className = `num change ${value > 0 ? "up" : value < 0 ? "down" : ""}`;
  }

  function message(text) {
    fill(tbody, h("tr", { class: "empty" }, h("td", { colspan: 9, text })));
  }

  return {
    rows,
    message,
    /** Lays out the rows (prices come from the stream: applyPrice). */
    render(assets) {
      rows.clear();
      if (assets.length === 0) return message("No data yet: the first ETL run is on its way.");
      fill(
        tbody,
        assets.map((a) => {
          const cell = (cls) => h("td", { class: `num ${cls}` });
          const cells = {
            consensus: cell("consensus"),
            change: cell("change"),
            observed: h("td", { class: "num muted observed" }),
          };
          for (const src of SOURCES) cells[src] = h("td", { class: "num source", dataset: { source: src } });
          const tr = h(
            "tr",
            { dataset: { assetId: a.id }, onclick: () => onSelect(a.id) },
            h("td", { class: "num muted", text: a.rank ?? "" }),
            h(
              "td",
              { class: "asset" },
              h(
                "a",
                {
                  href: `#asset=${encodeURIComponent(a.id)}`,
                  onclick: (e) => {
                    // A plain click opens the view in place (keeping the chosen interval); a
                    // modified one (new tab) follows the link.
                    e.stopPropagation();
                    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
                    e.preventDefault();
                    onSelect(a.id);
                  },
                },
                h("b", { text: a.symbol }),
                h("span", { text: a.name }),
              ),
            ),
            cells.consensus,
            SOURCES.map((src) => cells[src]),
            cells.change,
            h("td", null, sparkline(a.priceHistory.map((c) => c.close))),
            cells.observed,
          );
          const row = { tr, cells, consensus: null, source: {} };
          rows.set(a.id, row);
          setChange(row, a.marketData.edges[0]?.node.change24hPct);
          return tr;
        }),
      );
    },
    /** The asset's consensus changed (snapshot or update); change24hPct when the update has one. */
    applyPrice(id, latest, change24hPct) {
      const row = rows.get(id);
      if (!row) return;
      renderPrices(row, latest);
      if (change24hPct != null) setChange(row, change24hPct);
    },
    select(id) {
      for (const [key, row] of rows) row.tr.classList.toggle("selected", key === id);
    },
  };
}
