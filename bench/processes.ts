import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";

export interface Started {
  child: ChildProcess;
  port: number;
  /** The V8 inspector's WebSocket URL, when started with inspect (see collectGarbage). */
  inspector: string | null;
}

/** Starts `node --import tsx …args` and resolves with the port it prints (ready matches it). */
export function startProcess(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  options: { inspect?: boolean; nodeArgs?: string[] } = {},
): Promise<Started> {
  const inspect = options.inspect ? ["--inspect=127.0.0.1:0"] : [];
  const child = spawn(
    process.execPath,
    [...inspect, ...(options.nodeArgs ?? []), "--import", "tsx", ...args],
    {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const collect = (d: unknown) => {
    out += String(d);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${out}`)), 60_000);
    const check = () => {
      const m = ready.exec(out);
      if (!m) return;
      const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(out)?.[1] ?? null;
      if (options.inspect && !inspector) return;
      clearTimeout(timer);
      // Keep draining the pipes (a full pipe blocks the child) without keeping what they say.
      child.stdout?.off("data", onStdout);
      child.stderr?.off("data", onStderr);
      child.stdout?.resume();
      child.stderr?.resume();
      resolve({ child, port: Number(m[1]), inspector });
    };
    const onStdout = (d: unknown) => {
      collect(d);
      check();
    };
    const onStderr = onStdout;
    child.stdout?.on("data", onStdout);
    child.stderr?.on("data", onStderr);
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** One call of the V8 inspector protocol in another process. */
function inspectorCall<T>(inspector: string, method: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(inspector);
    socket.once("open", () => socket.send(JSON.stringify({ id: 1, method })));
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: T; error?: unknown };
      if (message.id !== 1) return;
      socket.close();
      if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
      else resolve(message.result as T);
    });
    socket.once("error", reject);
  });
}

/**
 * After a full, memory-reducing garbage collection in another process (through its inspector):
 * its RSS and its V8 heap in use. What the process holds, not what it has not collected yet.
 */
export async function heldMemory(pid: number, inspector: string): Promise<{ rss: number; heap: number }> {
  // Twice, with a pause: V8 unmaps freed pages on background threads after a collection.
  for (let i = 0; i < 2; i++) {
    await inspectorCall(inspector, "HeapProfiler.collectGarbage");
    await sleep(500);
  }
  const { usedSize } = await inspectorCall<{ usedSize: number }>(inspector, "Runtime.getHeapUsage");
  return { rss: rssOf(pid), heap: usedSize };
}
