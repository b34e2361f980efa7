import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createScrubber } from "../security/scrubber.ts";
import { createLogger } from "./logger.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, stream };
}

describe("logger", () => {
  it("writes JSON lines with a module field from child loggers", () => {
    const { lines, stream } = capture();
    createLogger({ level: "info", destination: stream })
      .child({ module: "pipeline" })
      .info({ n: 1 }, "hello");
    const line = JSON.parse(lines[0] ?? "{}");
    expect(line).toMatchObject({ level: "info", module: "pipeline", n: 1, msg: "hello" });
  });

  it("redacts Authorization and API-key headers by path", () => {
    const { lines, stream } = capture();
    createLogger({ level: "info", destination: stream }).info(
      { request: { headers: { authorization: "Bearer abc", "x-cg-demo-api-key": "CG-1234" } } },
      "req",
    );
    expect(lines[0]).not.toContain("Bearer abc");
    expect(lines[0]).not.toContain("CG-1234");
    expect(lines[0]).toContain("[REDACTED]");
  });

  it("scrubs configured secret values wherever they appear, also URL-encoded", () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: "info", destination: stream, secrets: ["s3cr3t/key"] });
    log.error({ err: "GET https://x/?k=s3cr3t%2Fkey failed" }, "boom with s3cr3t/key inside");
    expect(lines[0]).not.toContain("s3cr3t");
    expect(lines[0]?.match(/\[REDACTED\]/g)).toHaveLength(2);
  });

  it("leaves text alone when there are no secrets", () => {
    expect(createScrubber([])("plain")).toBe("plain");
  });
});
