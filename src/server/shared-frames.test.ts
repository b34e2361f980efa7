import { describe, expect, it } from "vitest";
import { createFrameSplicer } from "./shared-frames.ts";

const message = (id: string, data: unknown) =>
  JSON.stringify({ id, type: "next", payload: { data, extensions: { requestId: id, latencyMs: 1.5 } } });

describe("createFrameSplicer", () => {
  it("sends each message exactly what JSON.stringify of the real data would", () => {
    const frames = createFrameSplicer();
    const data = { marketUpdates: { seq: 7, name: 'quote " and \\u2028 \u2028 ✓', nested: [1, null] } };
    const standIn = frames.standIn(data);
    for (const id of ["a", 'b"data":"x', "c"]) {
      const sent = frames.splice(message(id, standIn));
      expect(sent).toBe(message(id, data));
      expect(JSON.parse(sent).payload.data).toEqual(data);
    }
  });

  it("leaves messages without a stand-in alone, also after a serialization that failed", () => {
    const frames = createFrameSplicer();
    const standIn = frames.standIn({ n: 1 });
    expect(() => JSON.stringify({ payload: { data: standIn, extensions: { big: 1n } } })).toThrow();
    const plain = message("x", { n: 2 });
    expect(frames.splice(plain)).toBe(plain);
  });

  it("refuses to send a placeholder that is not the one just serialized", () => {
    const frames = createFrameSplicer();
    const first = message("1", frames.standIn({ n: 1 }));
    const second = message("2", frames.standIn({ n: 2 }));
    // The second serialization took the slot: the first message can no longer be completed.
    expect(() => frames.splice(first)).toThrow(/placeholder/);
    expect(JSON.parse(frames.splice(message("3", frames.standIn({ n: 3 })))).payload.data).toEqual({ n: 3 });
    expect(() => frames.splice(second)).toThrow(/placeholder/);
  });

  it("cannot be fooled by a client that writes the placeholder's shape in its id", () => {
    const frames = createFrameSplicer();
    const standIn = frames.standIn({ real: true });
    const id = '"data":"coinflow:shared-data:guess:0"';
    const sent = frames.splice(message(id, standIn));
    expect(JSON.parse(sent)).toMatchObject({ id, payload: { data: { real: true } } });
  });
});
