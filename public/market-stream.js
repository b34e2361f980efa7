// The table's feed: marketUpdates with snapshot: true, then resumed with afterSeq. No DOM here:
// the stream reports prices and its state through the handlers it is given.

const LATEST = `fragment Latest on LatestPrice {
  id priceUsd observedAt spreadPct disputed
  sources { source priceUsd deviationPct observedAt included excludedReason }
}`;

export const MARKET_UPDATES = `subscription Live($afterSeq: BigInt, $snapshot: Boolean) {
  marketUpdates(afterSeq: $afterSeq, snapshot: $snapshot) {
    kind seq toSeq serverTime
    snapshot { ...Latest }
    observation { source change24hPct asset { id } }
    latestPrice { ...Latest }
  }
}
${LATEST}`;

/** How long after a subscription completes (RECONNECT) or fails it is opened again. */
const RESUBSCRIBE_MS = 1000;

/**
 * Opens the table's marketUpdates subscription and keeps it going:
 * - the first subscription asks for a SNAPSHOT (every asset's consensus as of seq N, then every
 *   update after N); from then on the payload carries afterSeq = the last seq applied, so a
 *   dropped socket, which graphql-ws reopens with the same payload, resumes gap-free;
 * - RECONNECT (the server shuts down): resume at its seq once the old socket is gone;
 * - RESYNC or GAP: what the page holds cannot be completed by a replay: start over with a snapshot;
 * - HEARTBEAT: its seq is the latest seq the server committed. Above the page's seq, the page
 *   is behind: it says so and subscribes again from its seq to fetch what it missed; a second
 *   heartbeat above it after that catch-up is taken as the resume point (nothing left to fetch);
 * - heartbeats seen, then none for twice their interval: the socket is stalled (a half-open
 *   TCP connection after a sleep or a NAT timeout); the client is terminated and reconnects.
 *
 * handlers: snapshot(prices, seq), update(marketUpdate), state({ seq, head, behind, stalled,
 * heartbeatAt }).
 */
export function createMarketStream(client, handlers, options = {}) {
  const now = options.now ?? (() => Date.now());
  const payload = { query: MARKET_UPDATES, variables: { afterSeq: null, snapshot: true } };
  let dispose = null;
  let head = null;
  let caughtUpOnce = false;
  let reconnecting = false;
  let stalled = false;
  let heartbeatAt = null;
  let lastHeard = now();
  let heartbeatGap = null;
  let retry = null;
  let stopped = false;

  const seq = () => payload.variables.afterSeq;
  const report = () =>
    handlers.state?.({
      seq: seq(),
      head,
      behind: head !== null && seq() !== null && head > seq() ? head - seq() : 0,
      stalled,
      heartbeatAt,
    });

  function resumeAt(value) {
    payload.variables.afterSeq = value;
    payload.variables.snapshot = false;
    if (head !== null && value >= head) caughtUpOnce = false;
  }

  function open() {
    clearTimeout(retry);
    retry = null;
    if (stopped) return;
    dispose?.();
    lastHeard = now();
    dispose = client.subscribe(payload, {
      next: (data) => onEvent(data.marketUpdates),
      complete: () => later(RESUBSCRIBE_MS),
      error: (error) => {
        console.error(error);
        later(RESUBSCRIBE_MS * 5);
      },
    });
  }

  function later(ms) {
    dispose = null;
    if (!stopped && retry === null) retry = setTimeout(open, ms);
  }

  /** From scratch: the next subscription starts with a snapshot again. */
  function restart() {
    payload.variables.afterSeq = null;
    payload.variables.snapshot = true;
    head = null;
    caughtUpOnce = false;
    open();
  }

  function onEvent(u) {
    const heard = now();
    const silence = heard - lastHeard;
    lastHeard = heard;
    if (stalled) stalled = false;
    switch (u.kind) {
      case "SNAPSHOT":
        handlers.snapshot(u.snapshot ?? [], u.seq);
        resumeAt(u.seq);
        break;
      case "UPDATE":
        resumeAt(u.seq);
        handlers.update(u);
        break;
      case "LIVE":
        resumeAt(u.seq);
        break;
      case "RECONNECT":
        // The server completes this subscription and closes the socket next: subscribe again,
        // from this seq, once it has (graphql-ws then opens a new socket, to any instance).
        resumeAt(u.seq);
        reconnecting = true;
        break;
      case "RESYNC":
      case "GAP":
        restart();
        return;
      case "HEARTBEAT": {
        heartbeatAt = u.serverTime;
        heartbeatGap = silence;
        head = head === null || u.seq > head ? u.seq : head;
        if (seq() !== null && u.seq > seq()) {
          if (!caughtUpOnce) {
            // Behind: fetch the missed updates with a replay from the page's own seq.
            caughtUpOnce = true;
            report();
            open();
            return;
          }
          // Caught up once already and still below: nothing left between the two to fetch.
          resumeAt(u.seq);
        }
        break;
      }
    }
    report();
  }

  const watchdog = setInterval(() => {
    if (stopped || heartbeatGap === null || stalled) return;
    if (now() - lastHeard > 2 * heartbeatGap + 5000) {
      stalled = true;
      report();
      client.terminate();
    }
  }, 5000);

  open();
  return {
    /** The subscription's payload (its variables are the resume point). */
    payload,
    /** The socket closed: a pending RECONNECT resumes now (no 1 s wait). */
    socketClosed() {
      if (reconnecting && retry !== null) open();
      reconnecting = false;
    },
    stop() {
      stopped = true;
      clearInterval(watchdog);
      clearTimeout(retry);
      dispose?.();
    },
  };
}
