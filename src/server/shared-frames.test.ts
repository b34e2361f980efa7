import { describe, expect, it } from "vitest";
import { createFrameSplicer } from "./shared-frames.ts";

describe("createFrameSplicer", () => {
  it("sends each message exactly what JSON.stringify of the real data would", () => {
    const frames = createFrameSplicer();
    const result = {
      data: { marketUpdates: { seq: 7, name: 'quote " and \\u2028 \u2028', nested: [1, null] } },
    };
    const message = (id: string, data: unknown) =>
      JSON.stringify({ id, type: "next", payload: { data, extensions: { requestId: id, latencyMs: 1.5 } } });
    for (const id of ["a", 'b"data":"x', "c"]) {
      const sent = frames.splice(message(id, frames.dataOf(result)));
      expect(sent).toBe(message(id, result.data));
      expect(JSON.parse(sent).payload.data).toEqual(result.data);
    }
  });

  it("serializes one result's data once, whoever it goes to", () => {
    const frames = createFrameSplicer();
    const result = { data: { n: 1 } };
    expect(frames.dataOf(result)).toBe(frames.dataOf(result));
    expect(frames.dataOf({ data: { n: 1 } })).not.toBe(frames.dataOf(result));
  });

  it("leaves messages without a stand-in alone, also after a serialization that failed", () => {
    const frames = createFrameSplicer();
    const standIn = frames.dataOf({ data: { n: 1 } });
    expect(() => JSON.stringify({ payload: { data: standIn, extensions: { big: 1n } } })).toThrow();
    const plain = JSON.stringify({ id: "x", type: "next", payload: { data: { n: 2 } } });
    expect(frames.splice(plain)).toBe(plain);
  });

  it("cannot be fooled by a client that writes the placeholder's shape in its id", () => {
    const frames = createFrameSplicer();
    const standIn = frames.dataOf({ data: { real: true } });
    // The token is random per process; a guessed one is escaped inside the id string anyway.
    const id = '"data":"coinflow:shared-data:guess"';
    const sent = frames.splice(JSON.stringify({ id, type: "next", payload: { data: standIn } }));
    expect(JSON.parse(sent)).toEqual({ id, type: "next", payload: { data: { real: true } } });
  });
});
