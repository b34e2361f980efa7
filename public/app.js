// The live prices page: the table (asset list over HTTP, prices from marketUpdates with
// snapshot: true, resumed with afterSeq) and, at #asset=<id>&interval=<M5|H1|D1>, an asset's
// detail view. Modules: table.js, market-stream.js, detail.js (candle-chart.js, run-strip.js).
import { createDetail, INTERVALS } from "./detail.js";
import { clock } from "./format.js";
import { createLiveClient, query } from "./graphql.js";
import { createMarketStream } from "./market-stream.js";
import { createTable } from "./table.js";

const TABLE_QUERY = `query Table {
  assets(first: 25) {
    edges { node {
      id rank symbol name
      marketData(first: 1) { edges { node { change24hPct } } }
      priceHistory(interval: D1, limit: 30) { close }
    } }
  }
}`;

const connection = document.getElementById("connection");
const seqLabel = document.getElementById("seq");
const behindLabel = document.getElementById("behind");

/** Every asset's consensus, from the stream's snapshot and updates (the detail view reads it). */
const prices = new Map();
/** symbol, name and rank of the assets the page knows. */
const assets = new Map();

function setConnection(state, text) {
  connection.className = `pill ${state}`;
  connection.textContent = text;
}

let stream = null;
const client = createLiveClient({
  connecting: (isRetry) =>
    setConnection(isRetry ? "reconnecting" : "connecting", isRetry ? "reconnecting…" : "connecting…"),
  connected: (_socket, _payload, wasRetry) => {
    setConnection("live", "live");
    // candleUpdates has no resume point: after a drop the chart reads its history again.
    if (wasRetry) detail.reconnected();
  },
  closed: () => {
    setConnection("reconnecting", "reconnecting…");
    stream?.socketClosed();
  },
});

const table = createTable(document.querySelector("#prices tbody"), {
  onSelect: (id) => navigate({ asset: id, interval: route().interval }),
});
const detail = createDetail({ root: document.getElementById("detail"), client, prices, assets });

// ---- routing: #asset=<id>&interval=<M5|H1|D1> opens the detail view; no hash closes it.
function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  const interval = params.get("interval");
  return { asset: params.get("asset"), interval: INTERVALS.includes(interval) ? interval : "D1" };
}
function navigate({ asset, interval }) {
  const hash = asset ? `#asset=${encodeURIComponent(asset)}&interval=${interval}` : "";
  history.pushState(null, "", hash || location.pathname + location.search);
  applyRoute();
}
function applyRoute() {
  const { asset, interval } = route();
  if (asset) {
    detail.open(asset, interval);
    table.select(asset);
    document.getElementById("detail").scrollIntoView({ block: "nearest" });
  } else {
    detail.close();
    table.select(null);
  }
}
window.addEventListener("popstate", applyRoute);
window.addEventListener("hashchange", applyRoute);
document.querySelector("#detail .close").addEventListener("click", () => navigate({ asset: null }));
document.querySelector("#detail .intervals").addEventListener("click", (e) => {
  const interval = e.target.closest("button")?.dataset.interval;
  if (interval && detail.assetId) navigate({ asset: detail.assetId, interval });
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && detail.assetId) navigate({ asset: null });
});

// ---- the stream
function onState({ seq, behind, stalled, heartbeatAt }) {
  seqLabel.textContent = `seq ${seq ?? "–"}`;
  seqLabel.title = heartbeatAt
    ? `Last update applied (resume point); last heartbeat ${clock(heartbeatAt)} UTC`
    : "Last update applied (resume point)";
  behindLabel.hidden = !(behind > 0 || stalled);
  behindLabel.textContent = stalled ? "no heartbeat: reconnecting" : `behind by ${behind} · catching up`;
  behindLabel.title = stalled
    ? "The server sends a heartbeat when it has nothing else to send; none came, so the socket is reopened"
    : "The server's heartbeat says it committed updates this page has not received yet";
}

async function start() {
  try {
    const data = await query(TABLE_QUERY);
    const list = data.assets.edges.map((e) => e.node);
    for (const a of list) assets.set(a.id, { symbol: a.symbol, name: a.name, rank: a.rank });
    table.render(list);
    for (const [id, latest] of prices) table.applyPrice(id, latest);
  } catch (error) {
    table.message(`Could not load prices: ${error.message}`);
  }
}

stream = createMarketStream(client, {
  snapshot(list) {
    prices.clear();
    for (const latest of list) {
      prices.set(latest.id, latest);
      table.applyPrice(latest.id, latest);
    }
    detail.pricesReset();
  },
  update(u) {
    const id = u.observation.asset.id;
    if (u.latestPrice) prices.set(id, u.latestPrice);
    table.applyPrice(id, u.latestPrice, u.observation.change24hPct);
    detail.priceChanged(id);
  },
  state: onState,
});

window.coinflow = { table, prices, stream, client, detail };
void start().then(applyRoute);
