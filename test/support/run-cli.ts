import { type ChildProcess, spawn } from "node:child_process";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (npm run etl -- --json). */
  json: () => Record<string, unknown>;
}

/** Runs `tsx src/main.ts <args>` as a real child process with only the given environment. */
export function startCli(args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += String(d);
  });
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const result = new Promise<CliResult>((resolve) =>
    child.once("exit", (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json: () => JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}"),
      }),
    ),
  );
  return { child, result, output: () => ({ stdout, stderr }) };
}

export const runCli = (args: string[], env: Record<string, string>) => startCli(args, env).result;
