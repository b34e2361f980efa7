import { describe, expect, it } from "vitest";
import { createScrubber } from "./scrubber.ts";

describe("createScrubber", () => {
  const scrub = createScrubber(["s3cr3t-key", 'we"ird/key+1']);

  it("replaces a secret as written, URL-encoded and JSON-escaped", () => {
    expect(scrub("invalid key s3cr3t-key!")).toBe("invalid key [REDACTED]!");
    expect(scrub(`?k=${encodeURIComponent('we"ird/key+1')}`)).toBe("?k=[REDACTED]");
    expect(scrub(JSON.stringify({ m: 'we"ird/key+1' }))).toBe('{"m":"[REDACTED]"}');
    // Percent-encoding in lower case, as some servers echo it.
    expect(scrub(`?k=${encodeURIComponent('we"ird/key+1').toLowerCase()}`)).toBe("?k=[REDACTED]");
  });

  it("scrubs strings and keys deep inside values, sharing what did not change", () => {
    const untouched = { a: [1, "x"] };
    const value = { untouched, list: ["ok", "s3cr3t-key"], "s3cr3t-key": { n: 1 }, at: new Date(0) };
    const out = scrub.deep(value);
    expect(out).toEqual({ untouched, list: ["ok", "[REDACTED]"], "[REDACTED]": { n: 1 }, at: new Date(0) });
    expect(out.untouched).toBe(untouched);
    expect(value.list[1]).toBe("s3cr3t-key");
    expect(scrub.deep(untouched)).toBe(untouched);
  });

  it("redacts the start of a secret that a cut left at the end of a text", () => {
    expect(scrub.cut("bad key s3cr3t-k")).toBe("bad key [REDACTED]");
    expect(scrub.cut("bad key s3cr3t-key and s")).toBe("bad key [REDACTED] and [REDACTED]");
    expect(scrub.cut("nothing to hide")).toBe("nothing to hide");
  });

  it("is the identity without secrets, and ignores values too short to be secrets", () => {
    const none = createScrubber(["abc", ""]);
    expect(none.active).toBe(false);
    expect(none("abc")).toBe("abc");
    const v = { a: "abc" };
    expect(none.deep(v)).toBe(v);
  });
});
