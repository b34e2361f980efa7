// The detail view's strip: the newest ETL run with each source's progress as its batches commit
// (etlRunEvents), the run's latest events, and schema drift warnings (driftWarnings).
import { fill, h } from "./dom.js";
import { clock, count, SOURCE_NAMES } from "./format.js";
import { query } from "./graphql.js";

const RUN = `fragment Run on EtlRun {
  id status trigger startedAt finishedAt durationMs requested
  sources { source status fetched written unchanged rejected }
}`;
const DRIFT = `fragment Drift on DriftEvent {
  id source kind path fromType toType renamedFrom confidence detectedAt run { id }
}`;
const LATEST = `query Strip { etlRuns(first: 1) { edges { node { ...Run } } } driftEvents(first: 4) { edges { node { ...Drift } } } }
${RUN}
${DRIFT}`;
const ONE_RUN = `query StripRun($id: ID!) { etlRun(id: $id) { ...Run } }
${RUN}`;
const RUN_EVENTS = `subscription StripRuns { etlRunEvents { runId status progress { source fetched written unchanged rejected } } }`;
const DRIFT_WARNINGS = `subscription StripDrift { driftWarnings { ...Drift } }
${DRIFT}`;

const LOG_SIZE = 5;
const DRIFT_SIZE = 4;

/** The strip in `root`; start() subscribes, stop() completes both subscriptions. */
export function createRunStrip(root, client) {
  let run = null;
  let log = [];
  let drift = [];
  let ends = [];
  /** Counts start() and stop() calls: a resubscription due after a stop() is dropped. */
  let generation = 0;

  function setRun(next) {
    if (!next || (run && Number(next.id) < Number(run.id))) return;
    if (!run || run.id !== next.id) {
      log = [];
      run = { ...next, sources: [...next.sources] };
    } else {
      // The same run read back: its row wins, except a source's live progress that is ahead.
      const sources = next.sources.map((x) => {
        const live = run.sources.find((y) => y.source === x.source);
        return live && x.status === "RUNNING" && live.fetched > x.fetched ? live : x;
      });
      for (const live of run.sources) if (!sources.some((x) => x.source === live.source)) sources.push(live);
      run = { ...next, sources };
    }
    render();
  }

  async function refresh(id) {
    try {
      setRun((await query(ONE_RUN, { id })).etlRun);
    } catch (error) {
      console.error(error);
    }
  }

  function onRunEvent({ runId, status, progress }) {
    if (run && Number(runId) < Number(run.id)) return;
    if (!run || run.id !== runId) {
      run = { id: runId, status, trigger: null, requested: [], sources: [] };
      log = [];
    }
    run.status = status;
    if (progress) {
      const i = run.sources.findIndex((x) => x.source === progress.source);
      const entry = { ...(run.sources[i] ?? {}), ...progress, status: "RUNNING" };
      if (i >= 0) run.sources[i] = entry;
      else run.sources.push(entry);
    }
    const text = progress
      ? `${SOURCE_NAMES[progress.source] ?? progress.source}: ${count(progress.fetched)} fetched, ${count(progress.written)} written`
      : `run ${status === "RUNNING" ? "started" : status.toLowerCase()}`;
    // A source's last batch and its end report the same totals: one line for both.
    if (log[0]?.text !== text) log = [{ at: new Date().toISOString(), text }, ...log].slice(0, LOG_SIZE);
    render();
    // A status change (started, finished) is when the run's own row says more: trigger, sources'
    // final status, duration.
    if (!progress) void refresh(runId);
  }

  function onDrift(event) {
    drift = [event, ...drift.filter((d) => d.id !== event.id)].slice(0, DRIFT_SIZE);
    render();
  }

  function render() {
    const sources = run
      ? [
          ...run.sources,
          ...run.requested
            .filter((src) => !run.sources.some((x) => x.source === src))
            .map((src) => ({ source: src, status: "WAITING" })),
        ]
      : [];
    fill(
      root,
      h(
        "div",
        { class: "strip-run", dataset: run ? { runId: run.id, status: run.status } : {} },
        h("h3", { text: "ETL run" }),
        run
          ? h(
              "p",
              { class: "run-head" },
              h("b", { text: `#${run.id}` }),
              h("span", { class: `run-state ${run.status.toLowerCase()}`, text: run.status }),
              run.trigger ? h("span", { class: "muted", text: run.trigger.toLowerCase() }) : null,
              run.durationMs != null
                ? h("span", { class: "muted", text: `${(run.durationMs / 1000).toFixed(1)} s` })
                : null,
            )
          : h("p", { class: "muted", text: "No run yet" }),
        h(
          "ul",
          { class: "run-sources" },
          sources.map((x) =>
            h(
              "li",
              { dataset: { source: x.source, status: x.status } },
              h("b", { text: SOURCE_NAMES[x.source] ?? x.source }),
              h("span", { class: `run-state ${x.status.toLowerCase()}`, text: x.status }),
              x.fetched != null
                ? h(
                    "span",
                    { class: "counts" },
                    `${count(x.fetched)} fetched · ${count(x.written)} written · ${count(x.unchanged)} unchanged · ${count(x.rejected)} rejected`,
                  )
                : null,
            ),
          ),
        ),
        h(
          "ol",
          { class: "run-log" },
          log.map((e) => h("li", null, h("time", { text: clock(e.at) }), h("span", { text: e.text }))),
        ),
      ),
      h(
        "div",
        { class: "strip-drift" },
        h("h3", { text: "Drift warnings" }),
        drift.length === 0
          ? h("p", { class: "muted", text: "None: every source matches its baseline" })
          : h(
              "ul",
              null,
              drift.map((d) =>
                h(
                  "li",
                  { dataset: { driftId: d.id, kind: d.kind } },
                  h("span", { class: `kind ${d.kind.toLowerCase()}`, text: d.kind }),
                  h("code", { text: d.renamedFrom ? `${d.renamedFrom} → ${d.path}` : d.path }),
                  h("span", {
                    class: "muted",
                    text: `${SOURCE_NAMES[d.source] ?? d.source}${d.toType ? ` · ${d.fromType ?? "–"} → ${d.toType}` : ""} · ${Math.round(d.confidence * 100)} % · run #${d.run.id} · ${clock(d.detectedAt)}`,
                  }),
                ),
              ),
            ),
      ),
    );
  }

  /** Subscribes, and again a second after the server ends the subscription (it is draining). */
  function follow(payload, next, slot) {
    const started = generation;
    return client.subscribe(payload, {
      next,
      complete: () =>
        setTimeout(() => {
          if (generation === started) ends[slot] = follow(payload, next, slot);
        }, 1000),
    });
  }

  async function readLatest() {
    try {
      const data = await query(LATEST);
      setRun(data.etlRuns.edges[0]?.node ?? null);
      for (const { node } of [...data.driftEvents.edges].reverse()) {
        if (!drift.some((d) => d.id === node.id)) onDrift(node);
      }
    } catch (error) {
      console.error(error);
    }
  }

  return {
    async start() {
      generation++;
      // Subscribed before the newest run is read: an event meanwhile is not lost, and the
      // read never replaces a newer run (setRun keeps the higher id).
      ends = [
        follow({ query: RUN_EVENTS }, (d) => onRunEvent(d.etlRunEvents), 0),
        follow({ query: DRIFT_WARNINGS }, (d) => onDrift(d.driftWarnings), 1),
      ];
      render();
      await readLatest();
    },
    /** Reads the newest run and drift again (after the socket was down: events were missed). */
    resync: readLatest,
    stop() {
      generation++;
      for (const end of ends) end();
      ends = [];
    },
  };
}
