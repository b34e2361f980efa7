import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCsvSource } from "../../src/sources/csv-source.ts";

describe("a 1,000,000-row CSV", () => {
  it("streams with bounded memory: every row becomes a record, peak RSS stays far below the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "coinflow-1m-"));
    const path = join(dir, "big.csv");
    const out = createWriteStream(path);
    out.write("symbol,name,price,market_cap,date\n");
    const ROWS = 1_000_000;
    for (let i = 0; i < ROWS; i++) {
      const day = new Date(Date.UTC(2000, 0, 1) + Math.floor(i / 250) * 86_400_000)
        .toISOString()
        .slice(0, 10);
      if (
        !out.write(
          `C${i % 250},Coin number ${i % 250},${(1 + (i % 1000) / 7).toFixed(4)},${1e9 + i},${day}\n`,
        )
      ) {
        await new Promise<void>((r) => out.once("drain", () => r()));
      }
    }
    await new Promise<void>((r) => out.end(() => r()));
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let records = 0;
    let rejected = 0;
    for await (const stream of createCsvSource({ paths: [path], chunkSize: 1000 }).streams()) {
      expect(stream.payload.body).toBe(""); // over the archive cap: hash and size only
      for await (const chunk of stream.chunks()) {
        for (const item of chunk) item.ok ? records++ : rejected++;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    const growthMb = (peak - baseline) / 2 ** 20;
    process.stderr.write(
      `1M-row CSV: peak RSS ${(peak / 2 ** 20).toFixed(0)} MB (+${growthMb.toFixed(0)} MB)\n`,
    );
    expect(records).toBe(ROWS);
    expect(rejected).toBe(0);
    expect(growthMb).toBeLessThan(200);
  });
});
