// The live prices page: one GraphQL query for the table, then marketUpdates over graphql-ws.
// On reconnect the subscription resumes from the last seq it saw (afterSeq); RESYNC refetches.
import { createClient } from "/vendor/graphql-ws/client.js";

const SOURCES = ["COINGECKO", "COINPAPRIKA", "CSV"];
const LATEST =
  "latestPrice { priceUsd observedAt spreadPct disputed sources { source priceUsd deviationPct included excludedReason } }";
const TABLE_QUERY = `query Table {
  assets(first: 25) {
    edges { node {
      id rank symbol name
      ${LATEST}
      marketData(first: 1) { edges { node { change24hPct } } }
      priceHistory(interval: D1, limit: 30) { close }
    } }
  }
}`;
const UPDATES = `subscription Live($afterSeq: BigInt) {
  marketUpdates(afterSeq: $afterSeq) {
    kind seq
    observation { source priceUsd change24hPct observedAt asset { id } }
    ${LATEST}
  }
}`;

const rows = new Map();
const tbody = document.querySelector("#prices tbody");
const connection = document.getElementById("connection");
const seqLabel = document.getElementById("seq");

const usd = (v) =>
  v == null
    ? "–"
    : v.toLocaleString("en-US", {
        style: "currency",
        currency: "USD",
        maximumFractionDigits: v >= 1000 ? 0 : v >= 1 ? 2 : 6,
      });
const pct = (v) => (v == null ? "–" : `${v > 0 ? "+" : ""}${v.toFixed(2)} %`);
const time = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) : "–");

function sparkline(values) {
  if (values.length < 2) return "";
  const w = 110;
  const h = 28;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const points = values.map(
    (v, i) => `${(i / (values.length - 1)) * w},${h - ((v - min) / span) * (h - 4) - 2}`,
  );
  const color = values.at(-1) >= values[0] ? "var(--up)" : "var(--down)";
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline fill="none" stroke="${color}" stroke-width="1.6" points="${points.join(" ")}"/></svg>`;
}

function flash(cell, before, after) {
  if (before == null || after == null || before === after) return;
  cell.classList.remove("flash-up", "flash-down");
  void cell.offsetWidth; // restart the animation
  cell.classList.add(after > before ? "flash-up" : "flash-down");
}

function renderPrices(row, latest) {
  const previous = row.consensus;
  row.consensus = latest?.priceUsd ?? null;
  row.cells.consensus.textContent = usd(row.consensus);
  row.cells.consensus.dataset.price = String(row.consensus ?? "");
  // A disputed consensus is shown as such: the included sources disagree beyond the threshold.
  row.cells.consensus.classList.toggle("disputed", Boolean(latest?.disputed));
  row.cells.consensus.title = latest?.disputed
    ? `disputed: the sources disagree by ${latest.spreadPct.toFixed(1)} %`
    : latest?.spreadPct != null
      ? `sources agree within ${latest.spreadPct.toFixed(2)} %`
      : "";
  flash(row.cells.consensus, previous, row.consensus);
  row.cells.observed.textContent = time(latest?.observedAt);
  for (const source of SOURCES) {
    const cell = row.cells[source];
    const s = latest?.sources.find((x) => x.source === source);
    const before = row.source[source];
    row.source[source] = s?.priceUsd ?? null;
    cell.textContent = usd(s?.priceUsd);
    cell.classList.toggle("stale", Boolean(s && !s.included));
    cell.title = s
      ? s.included
        ? `deviation from consensus ${pct(s.deviationPct)}`
        : (s.excludedReason ?? "excluded")
      : "no price from this source";
    flash(cell, before, row.source[source]);
  }
}

function renderTable(assets) {
  rows.clear();
  tbody.innerHTML = "";
  for (const a of assets) {
    const tr = document.createElement("tr");
    tr.dataset.assetId = a.id;
    tr.innerHTML = `<td class="num muted">${a.rank ?? ""}</td>
      <td class="asset"><b>${a.symbol}</b><span>${a.name}</span></td>
      <td class="num consensus"></td>${SOURCES.map((s) => `<td class="num source" data-source="${s}"></td>`).join("")}
      <td class="num change"></td><td>${sparkline(a.priceHistory.map((c) => c.close))}</td><td class="num muted observed"></td>`;
    const cells = {
      consensus: tr.querySelector(".consensus"),
      change: tr.querySelector(".change"),
      observed: tr.querySelector(".observed"),
    };
    for (const s of SOURCES) cells[s] = tr.querySelector(`[data-source="${s}"]`);
    const row = { cells, consensus: null, source: {} };
    rows.set(a.id, row);
    renderPrices(row, a.latestPrice);
    setChange(row, a.marketData.edges[0]?.node.change24hPct);
    tbody.append(tr);
  }
  if (assets.length === 0)
    tbody.innerHTML = `<tr class="empty"><td colspan="9">No data yet: the first ETL run is on its way.</td></tr>`;
}

function setChange(row, value) {
  row.cells.change.textContent = pct(value);
  row.cells.change.className = `num change ${value > 0 ? "up" : value < 0 ? "down" : ""}`;
}

async function loadTable() {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: TABLE_QUERY }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(body.errors[0].message);
  renderTable(body.data.assets.edges.map((e) => e.node));
}

function setConnection(state, text) {
  connection.className = `pill ${state}`;
  connection.textContent = text;
}

// graphql-ws re-sends the same payload object when it reconnects: keeping afterSeq up to date in
// it makes every reconnect resume exactly after the last update this page has seen.
const payload = { query: UPDATES, variables: { afterSeq: null } };
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
const client = createClient({
  url: wsUrl,
  lazy: true,
  retryAttempts: Number.POSITIVE_INFINITY,
  shouldRetry: () => true,
  keepAlive: 10_000,
  on: {
    connecting: () =>
      setConnection(
        payload.variables.afterSeq === null ? "connecting" : "reconnecting",
        payload.variables.afterSeq === null ? "connecting…" : "reconnecting…",
      ),
    connected: () => setConnection("live", "live"),
    closed: () => setConnection("reconnecting", "reconnecting…"),
  },
});

function onUpdate(update) {
  if (update.kind === "RESYNC") {
    payload.variables.afterSeq = update.seq;
    void loadTable();
    return;
  }
  if (update.kind === "GAP") void loadTable();
  payload.variables.afterSeq = update.toSeq ?? update.seq;
  seqLabel.textContent = `seq ${payload.variables.afterSeq}`;
  if (update.kind !== "UPDATE") return;
  const row = rows.get(update.observation.asset.id);
  if (!row) return;
  renderPrices(row, update.latestPrice);
  if (update.observation.change24hPct != null) setChange(row, update.observation.change24hPct);
}

async function start() {
  // The first subscription starts live (afterSeq null); reconnects resume after the last seq seen.
  try {
    await loadTable();
  } catch (error) {
    tbody.innerHTML = `<tr class="empty"><td colspan="9">Could not load prices: ${error.message}</td></tr>`;
  }
  client.subscribe(payload, {
    next: ({ data, errors }) => {
      if (errors) console.error(errors);
      if (data) onUpdate(data.marketUpdates);
    },
    error: (error) => console.error(error),
    complete: () => undefined,
  });
}

window.coinflow = { rows, payload };
void start();
