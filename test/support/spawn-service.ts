import { type ChildProcess, spawn } from "node:child_process";
import { afterAll } from "vitest";

/**
 * Every service a test file started and has not seen exit. A test that times out leaves its
 * `finally` pending while vitest moves on, so its service would outlive the file (and hold the
 * port, the data directory's lock and a database connection): killed after the file's own hooks.
 */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
});

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Starts `tsx src/main.ts <command>` as a real child process with the given environment and
 * waits for its "listening" log line (PORT=0 picks a free port, read back from the log).
 */
export async function spawnService(
  env: Record<string, string>,
  timeoutMs = 60_000,
  command: "serve" | "demo" = "serve",
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", command], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", ETL_INTERVAL_SECONDS: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let out = "";
  child.stdout?.on("data", (d) => {
    out += String(d);
  });
  child.stderr?.on("data", (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never leave a process retrying behind a failed test
      reject(new Error(`service did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = out.match(/"port":(\d+)[^\n]*"msg":"listening/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
