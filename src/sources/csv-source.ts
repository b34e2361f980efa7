import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { normalize } from "node:path";
import Papa from "papaparse";
import { type ColumnMap, type CsvField, mapColumns } from "./csv-columns.ts";
import { type DateFormat, detectDateFormat, parseDate } from "./date-format.ts";
import { validRank } from "./lenient-number.ts";
import { parseAmount } from "./parse-amount.ts";
import type { FetchedPayload, MarketSource, NormalizedRecord, ParsedItem, SourceStream } from "./record.ts";

export interface CsvSourceOptions {
  /** File paths; `path#SYMBOL` names the asset of a file that has no symbol or id column. */
  paths: readonly string[];
  /** Rows per chunk handed to the pipeline. */
  chunkSize?: number;
  /** Files up to this size are archived whole; larger ones by hash and size only (bounded memory). */
  archiveMaxBytes?: number;
}

const SAMPLE_ROWS = 500;
const SYMBOL_SHAPE = /^[A-Z0-9][A-Z0-9._-]{0,19}$/;
/** An id column holding row numbers (`1`, `2`, `17.0`): numbers name rows, not coins. */
const ROW_NUMBER = /^\d+(\.0+)?$/;
const DAY = 86_400;
/** Bar lengths a file's OHLC rows may have (seconds); anything else rounds to the nearest. */
const BAR_LENGTHS = [60, 300, 900, 3_600, 4 * 3_600, DAY, 7 * DAY];

/** `BTCUSD`, `BTC-USD`, `btc/usd` → `BTC`; `USDT`, `TUSD` and `BUSD` stay as they are. */
export function baseSymbol(raw: string): string {
  const s = raw.trim().toUpperCase();
  const separated = /^(.+?)[-/_](USD|USDT|USDC)$/.exec(s);
  if (separated) return separated[1]!;
  const glued = /^([A-Z0-9]{3,})(USD)$/.exec(s);
  return glued ? glued[1]! : s;
}

export function parsePathSpec(spec: string): { path: string; symbol: string | null } {
  const hash = spec.lastIndexOf("#");
  if (hash <= 0) return { path: spec, symbol: null };
  return {
    path: spec.slice(0, hash),
    symbol:
      spec
        .slice(hash + 1)
        .trim()
        .toUpperCase() || null,
  };
}

async function readPayload(path: string, archiveMaxBytes: number): Promise<FetchedPayload> {
  const info = await stat(path);
  const archived = info.size <= archiveMaxBytes;
  const hash = createHash("sha256");
  const parts: Buffer[] = [];
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    if (archived) parts.push(chunk as Buffer);
  }
  return {
    request: { method: "READ", url: `file:${path}`, headers: archived ? {} : { "x-archive": "hash-only" } },
    status: 200,
    contentType: "text/csv",
    body: archived ? Buffer.concat(parts).toString("utf8") : "",
    contentHash: hash.digest("hex"),
    sizeBytes: info.size,
  };
}

async function readHeader(path: string): Promise<string[]> {
  const handle = await open(path, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(65_536), 0, 65_536, 0);
    const text = buffer.subarray(0, bytesRead).toString("utf8");
    const first = Papa.parse<string[]>(text, { preview: 1 }).data[0] ?? [];
    return first.map((h) => h.replace(/^\uFEFF/, "").trim());
  } finally {
    await handle.close();
  }
}

async function* rows(path: string): AsyncGenerator<string[]> {
  const parser = Papa.parse(Papa.NODE_STREAM_INPUT, { header: false });
  // papaparse parses each chunk in one synchronous pass: 16 KB (~500 rows) keeps that pass short
  // enough not to stall the server's event loop (64 KB took ~40 ms under load).
  createReadStream(path, { highWaterMark: 16 * 1024 })
    .on("error", (e) => parser.destroy(e))
    .pipe(parser);
  for await (const row of parser) yield row as string[];
}

interface FileContext {
  path: string;
  headers: string[];
  columns: ColumnMap;
  dateFormat: DateFormat | null;
  dateError: string | null;
  symbolOverride: string | null;
  fileTime: Date;
  /** Rows with OHLC columns are bars of this length; null: each row is a point quote. */
  barSeconds: number | null;
}

/**
 * How long one OHLC row of the file covers: the typical gap between its sample dates (a daily
 * file: 86400), or a day when the dates carry no time. Files without high and low columns hold
 * point quotes (null): a close price alone is a price at a moment, not a bar.
 */
export function barLength(
  columns: ColumnMap,
  sampleDates: readonly Date[],
  dateOnly: boolean,
): number | null {
  if (columns.high === undefined || columns.low === undefined) return null;
  const times = [...new Set(sampleDates.map((d) => d.getTime()))].sort((a, b) => a - b);
  const gaps = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
  if (gaps.length === 0) return DAY;
  const median = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
  if (dateOnly) return Math.max(DAY, nearest(median));
  return nearest(median);
}

const nearest = (seconds: number) =>
  BAR_LENGTHS.reduce((best, b) =>
    Math.abs(Math.log(b / seconds)) < Math.abs(Math.log(best / seconds)) ? b : best,
  );

function cell(row: string[], ctx: FileContext, field: CsvField): string | undefined {
  const index = ctx.columns[field];
  return index === undefined ? undefined : row[index]?.trim();
}

function toItem(row: string[], position: number, line: number, ctx: FileContext): ParsedItem {
  const location = `${ctx.path}:${line}`;
  const raw = Object.fromEntries(ctx.headers.map((h, i) => [h, row[i] ?? null]));
  const reject = (reason: string): ParsedItem => ({
    ok: false,
    rejection: { source: "CSV", position, location, reason, raw },
  });
  const extra = row.slice(ctx.headers.length);
  if (row.length < ctx.headers.length || extra.some((v) => v.trim() !== "")) {
    return reject(`row has ${row.length} fields, the header has ${ctx.headers.length}`);
  }
  if (ctx.columns.price === undefined) return reject("no price column (price, price_usd, close, …)");

  const amounts: Partial<Record<CsvField, number | null>> = {};
  for (const field of [
    "price",
    "marketCap",
    "volume",
    "change24hPct",
    "rank",
    "open",
    "high",
    "low",
    "close",
  ] as const) {
    const value = cell(row, ctx, field);
    if (value === undefined) continue;
    const result = parseAmount(value);
    if ("error" in result) return reject(`${ctx.headers[ctx.columns[field]!]}: ${result.error}`);
    amounts[field] = result.value;
  }
  const price = amounts.price;
  if (price === null || price === undefined) return reject(`${ctx.headers[ctx.columns.price]}: missing`);
  if (price <= 0) return reject(`${ctx.headers[ctx.columns.price]}: must be positive, got ${price}`);

  let observedAt = ctx.fileTime;
  if (ctx.columns.date !== undefined) {
    const value = cell(row, ctx, "date") ?? "";
    if (!ctx.dateFormat) return reject(`${ctx.headers[ctx.columns.date]}: ${ctx.dateError}`);
    const parsed = parseDate(ctx.dateFormat, value);
    if (!parsed) {
      return reject(
        `${ctx.headers[ctx.columns.date]}: ${JSON.stringify(value)} does not match the file's date format (${ctx.dateFormat})`,
      );
    }
    observedAt = parsed;
  }

  const rawSymbol = cell(row, ctx, "symbol") || ctx.symbolOverride;
  const symbol = rawSymbol ? baseSymbol(rawSymbol) : null;
  if (symbol !== null && !SYMBOL_SHAPE.test(symbol))
    return reject(`symbol: invalid ${JSON.stringify(rawSymbol)}`);
  const idColumn = cell(row, ctx, "id") || null;
  // Row numbers in an id column name rows, not coins: such a row is identified by its symbol.
  const id = idColumn !== null && !ROW_NUMBER.test(idColumn) ? idColumn : null;
  const sourceAssetId = id ?? symbol;
  if (!sourceAssetId) {
    return reject(
      idColumn !== null
        ? `${ctx.headers[ctx.columns.id!]}: ${JSON.stringify(idColumn)} is a row number, not a coin, and the row has no symbol: add a symbol column`
        : "no symbol or id: add a symbol column, or name the file's asset with CSV_SOURCE_PATHS=path#SYMBOL",
    );
  }
  const rank = amounts.rank ?? null;
  const record: NormalizedRecord = {
    source: "CSV",
    sourceAssetId,
    file: ctx.path,
    idColumn: id,
    symbol,
    name: cell(row, ctx, "name") || null,
    observedAt,
    priceUsd: price,
    marketCapUsd: amounts.marketCap ?? null,
    volume24hUsd: amounts.volume ?? null,
    change24hPct: amounts.change24hPct ?? null,
    circulatingSupply: null,
    totalSupply: null,
    maxSupply: null,
    rank: validRank(rank),
    open: amounts.open ?? null,
    high: amounts.high ?? null,
    low: amounts.low ?? null,
    close: amounts.close ?? null,
    barSeconds: ctx.barSeconds,
    position,
    location,
    raw,
  };
  return { ok: true, record };
}

/**
 * CSV files, streamed with papaparse. Each data row becomes a record or a rejection with its line
 * and reason; the date format is decided per file from a sample; files without a date column are
 * observed at the file's modification time.
 */
export function createCsvSource(options: CsvSourceOptions): MarketSource {
  const chunkSize = options.chunkSize ?? 1000;
  const archiveMaxBytes = options.archiveMaxBytes ?? 8 * 1024 * 1024;
  return {
    id: "CSV",
    checkpoint: "file",
    async *streams() {
      for (const spec of options.paths) {
        const parsed = parsePathSpec(spec);
        // The file's identity (CSV ids are scoped to it) and its checkpoint's name: one spelling
        // for `./seeds/x.csv` and `seeds/x.csv`.
        const path = normalize(parsed.path);
        const symbol = parsed.symbol;
        const payload = await readPayload(path, archiveMaxBytes);
        const headers = await readHeader(path);
        const fileTime = (await stat(path)).mtime;
        const stream: SourceStream = {
          name: path,
          payload,
          fields: headers,
          async *chunks() {
            const it = rows(path);
            const first = await it.next(); // the header row
            if (first.done) return;
            const sample: string[][] = [];
            let done = false;
            while (sample.length < SAMPLE_ROWS) {
              const next = await it.next();
              if (next.done) {
                done = true;
                break;
              }
              sample.push(next.value);
            }
            const columns = mapColumns(headers, sample);
            let dateFormat: DateFormat | null = null;
            let dateError: string | null = null;
            const sampleDates: Date[] = [];
            let dateOnly = true;
            if (columns.date !== undefined) {
              const values = sample.map((r) => r[columns.date!] ?? "");
              const detected = detectDateFormat(values);
              if ("format" in detected) {
                dateFormat = detected.format;
                for (const v of values) {
                  const d = parseDate(detected.format, v);
                  if (d) sampleDates.push(d);
                  if (d && d.getTime() % (DAY * 1000) !== 0) dateOnly = false;
                }
              } else dateError = detected.error;
            }
            const ctx: FileContext = {
              path,
              headers,
              columns,
              dateFormat,
              dateError,
              symbolOverride: symbol,
              fileTime,
              barSeconds: barLength(columns, sampleDates, dateOnly),
            };
            let position = 0;
            let line = 1;
            let chunk: ParsedItem[] = [];
            async function* all() {
              yield* sample;
              if (!done) yield* it;
            }
            for await (const row of all()) {
              line++;
              if (row.length === 1 && row[0]!.trim() === "") continue; // blank line: not data
              chunk.push(toItem(row, position++, line, ctx));
              if (chunk.length >= chunkSize) {
                yield chunk;
                chunk = [];
              }
            }
            if (chunk.length > 0) yield chunk;
          },
        };
        yield stream;
      }
    },
  };
}
