import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import {
  PgliteWorkerError,
  type SerializedError,
  type WorkerMessage,
  type WorkerRequest,
} from "./pglite-protocol.ts";

/** The main thread's handle on the embedded database running in its worker thread. */
export interface PgliteThread {
  request<T>(request: WorkerRequest): Promise<T>;
  /** Every NOTIFY the database's one session receives (it LISTENs for all its connections). */
  onNotification(listener: (channel: string, payload: string) => void): () => void;
  /** Resolves when the thread is gone: closed, or crashed (then with the error). */
  readonly exited: Promise<Error | undefined>;
  /** Closes the database cleanly (checkpoint, files closed), then ends the thread. */
  close(): Promise<void>;
}

// Compiled, this file is dist/db/pglite-thread.js beside pglite-worker.js. From source (tsx,
// vitest) the worker is TypeScript: a worker inherits no loader (neither vitest's nor an
// `--import tsx` in execArgv on Node 20), so a two-line bootstrap registers tsx's first.
const fromSource = import.meta.url.endsWith(".ts");
const workerUrl = new URL(`./pglite-worker.${fromSource ? "ts" : "js"}`, import.meta.url);

function spawnWorker(dataDir: string): Worker {
  if (!fromSource) return new Worker(workerUrl, { workerData: { dataDir } });
  // createRequire, not import.meta.resolve (vitest's module runner has none); it finds the CommonJS
  // entry, whose ESM twin sits beside it (the CommonJS one fails to register in a worker).
  const cjs = createRequire(import.meta.url).resolve("tsx/esm/api");
  const tsx = pathToFileURL(cjs.replace(/\.cjs$/, ".mjs")).href;
  const bootstrap = `import(${JSON.stringify(tsx)})
    .then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: { dataDir } });
}

/** Starts the worker and opens dataDir in it; resolves once the database is ready. */
export async function startPgliteThread(dataDir: string): Promise<PgliteThread> {
  const worker = spawnWorker(dataDir);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(channel: string, payload: string) => void>();
  let nextId = 1;
  let gone: Error | null = null;
  let closing = false;

  let resolveReady!: () => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const fail = (error: Error) => {
    gone ??= error;
    rejectReady(error);
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on("message", (message: WorkerMessage) => {
    if (message.type === "reply") {
      const p = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) p?.reject(new PgliteWorkerError(message.error));
      else p?.resolve(message.value);
    } else if (message.type === "notification") {
      for (const listener of listeners) listener(message.channel, message.payload);
    } else if (message.type === "ready") resolveReady();
    else fail(new PgliteWorkerError(message.error as SerializedError));
  });
  const exited = new Promise<Error | undefined>((resolve) => {
    worker.on("error", (error) => {
      fail(error);
      resolve(error);
    });
    worker.on("exit", (code) => {
      const error = closing ? undefined : new Error(`the PGlite worker thread exited (code ${code})`);
      fail(error ?? new Error("the embedded database is closed"));
      resolve(gone && !closing ? gone : error);
    });
  });
  try {
    await ready;
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  // Like PGlite on the main thread, the database keeps the process alive only while it works for
  // it: a script that forgets close() still exits, one waiting for a reply does not.
  worker.unref();

  const request = <T>(req: WorkerRequest): Promise<T> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, request: req });
    }).finally(() => {
      if (pending.size === 0 && !gone) worker.unref();
    });
  };
  return {
    request,
    onNotification(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    exited,
    async close() {
      if (gone) return;
      try {
        await request({ op: "close" });
      } finally {
        closing = true;
        await worker.terminate();
      }
    },
  };
}
