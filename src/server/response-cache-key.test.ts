import { describe, expect, it } from "vitest";
import { responseCacheKey, stableJson } from "./response-cache-key.ts";

describe("responseCacheKey", () => {
  const base = { documentString: "{ a }", operationName: null, sessionId: "g1" };

  it("gives variables in any key order the same key", () => {
    expect(responseCacheKey({ ...base, variableValues: { a: 1, b: { c: [1, { d: 2, e: 3 }] } } })).toBe(
      responseCacheKey({ ...base, variableValues: { b: { c: [1, { e: 3, d: 2 }] }, a: 1 } }),
    );
  });

  it("tells documents, variables, operation names and sessions apart", () => {
    const keys = new Set([
      responseCacheKey({ ...base, variableValues: { a: 1 } }),
      responseCacheKey({ ...base, variableValues: { a: "1" } }),
      responseCacheKey({ ...base, variableValues: {} }),
      responseCacheKey({ ...base, documentString: "{ b }" }),
      responseCacheKey({ ...base, operationName: "Q" }),
      responseCacheKey({ ...base, sessionId: "g2" }),
    ]);
    expect(keys.size).toBe(6);
  });

  it("is a hex SHA-256, safe as an ETag header", () => {
    expect(responseCacheKey({ ...base, documentString: "{\n a }" })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("stableJson", () => {
  it("is JSON with sorted keys, dropping undefined members as JSON does", () => {
    expect(stableJson({ b: 1, a: [null, "x"], c: undefined })).toBe('{"a":[null,"x"],"b":1}');
    expect(JSON.parse(stableJson({ z: { y: 1, x: 2 } }))).toEqual({ z: { x: 2, y: 1 } });
  });
});
