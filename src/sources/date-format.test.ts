import { describe, expect, it } from "vitest";
import { detectDateFormat, parseDate } from "./date-format.ts";

const iso = (s: string) => new Date(s).toISOString();

describe("detectDateFormat + parseDate", () => {
  it.each([
    ["2024-01-31", "2024-01-31T00:00:00.000Z"],
    ["2025-12-28T05:56:01.123Z", "2025-12-28T05:56:01.123Z"],
    ["2025-12-11T10:00:00", "2025-12-11T10:00:00.000Z"],
    ["2013-04-28 00:00:00 UTC", "2013-04-28T00:00:00.000Z"],
    ["2021-07-06 23:59:59", "2021-07-06T23:59:59.000Z"],
    ["2025-12-29 15:58:00+00:00", "2025-12-29T15:58:00.000Z"],
    ["2025-12-29T17:58:00+02:00", "2025-12-29T15:58:00.000Z"],
  ])("reads ISO-like %s as UTC", (input, expected) => {
    expect(detectDateFormat([input])).toEqual({ format: "iso" });
    expect(parseDate("iso", input)?.toISOString()).toBe(expected);
  });

  it("decides DD-MM-YYYY per file and reads times", () => {
    const f = detectDateFormat(["05-01-2024 10:30:00", "25-12-2023 08:00"]);
    expect(f).toEqual({ format: "dmy-dash" });
    expect(parseDate("dmy-dash", "05-01-2024 10:30:00")?.toISOString()).toBe(iso("2024-01-05T10:30:00Z"));
    expect(parseDate("dmy-dash", "25-12-2023 08:00")?.toISOString()).toBe(iso("2023-12-25T08:00:00Z"));
  });

  it("reads M/D/YYYY (Excel, CryptoDataDownload) and M/D/YYYY H:MM", () => {
    expect(detectDateFormat(["3/16/2019", "3/15/2019"])).toEqual({ format: "mdy-slash" });
    expect(parseDate("mdy-slash", "10/5/2020 23:59")?.toISOString()).toBe(iso("2020-10-05T23:59:00Z"));
  });

  it("uses the whole sample, not one row: a later 25/12 makes the file day-first", () => {
    expect(detectDateFormat(["01/02/2024", "25/12/2023"])).toEqual({ format: "dmy-slash" });
    expect(parseDate("dmy-slash", "01/02/2024")?.toISOString()).toBe(iso("2024-02-01T00:00:00Z"));
  });

  it("reads unix seconds and milliseconds", () => {
    expect(detectDateFormat(["1700000000"])).toEqual({ format: "unix-s" });
    expect(detectDateFormat(["1700000000000"])).toEqual({ format: "unix-ms" });
    expect(parseDate("unix-s", "1700000000")?.toISOString()).toBe(iso("2023-11-14T22:13:20Z"));
  });

  it("refuses impossible dates and values that do not fit the file's format", () => {
    expect(parseDate("iso", "2024-02-30")).toBeNull();
    expect(parseDate("dmy-dash", "31-02-2024")).toBeNull();
    expect(parseDate("iso", "invalid_date")).toBeNull();
    expect(parseDate("mdy-slash", "2024-01-01")).toBeNull();
    expect(detectDateFormat(["yesterday"])).toHaveProperty("error");
    expect(detectDateFormat(["13/13/2024"])).toHaveProperty("error");
  });
});
