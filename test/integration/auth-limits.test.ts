import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import { waitForIdle } from "../support/pipeline.ts";
import { collect } from "../support/ws-client.ts";

let stack: TestStack;
beforeAll(async () => {
  // One trusted proxy hop in front of the service: X-Forwarded-For's last entry is the client.
  stack = await startStack({ env: { TRUST_PROXY: "1", ETL_SOURCES: "csv" } });
});
afterAll(() => stack.close());

const TRIGGER = "mutation { triggerEtl(input: { sources: [CSV] }) { run { id } } }";

async function trigger(forwardedFor: string | null, key: string) {
  const res = await fetch(`${stack.http.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
      ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}),
    },
    body: JSON.stringify({ query: TRIGGER }),
  });
  const body = await res.json();
  return (body.errors?.[0]?.extensions?.code as string | undefined) ?? "OK";
}

/** A graphql-ws client whose upgrade request comes "through the proxy" for `forwardedFor`. */
function wsFrom(forwardedFor: string, key: string) {
  class Forwarded extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { "x-forwarded-for": forwardedFor } });
    }
  }
  return createClient({
    url: stack.http.wsUrl,
    webSocketImpl: Forwarded,
    connectionParams: { authorization: `Bearer ${key}` },
    lazy: true,
    retryAttempts: 0,
  });
}

async function idle() {
  await waitForIdle(stack.t.db);
}

describe("API key failures are limited per client, and never lock out the right key", () => {
  it("limits the client that sent wrong keys, not its neighbours behind the same proxy, and the right key always works", async () => {
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) codes.push(await trigger("203.0.113.7", `wrong-${i}`));
    expect(codes.slice(0, 10)).toEqual(Array(10).fill("UNAUTHENTICATED"));
    expect(codes.slice(10)).toEqual(["RATE_LIMITED", "RATE_LIMITED"]);
    // Another client behind the same proxy (same socket address) is not punished…
    expect(await trigger("203.0.113.8", "wrong")).toBe("UNAUTHENTICATED");
    // …and the limited client's right key still works.
    expect(await trigger("203.0.113.7", TEST_API_KEY)).toBe("OK");
    await idle();

    // Over WebSocket the client is the upgrade request's: the same limit, the same exemption.
    const wrong = wsFrom("203.0.113.7", "wrong");
    const denied = collect(wrong, TRIGGER);
    await denied.until(() => denied.errors.length > 0).catch(() => undefined);
    await wrong.dispose();
    expect(JSON.stringify(denied.errors)).toContain("RATE_LIMITED");
    const right = wsFrom("203.0.113.7", TEST_API_KEY);
    const ok = collect(right, TRIGGER);
    const [event] = await ok.until(1);
    await right.dispose();
    expect(event.triggerEtl.run.id).toEqual(expect.any(String));
    await idle();
  });

  it("a client cannot pick a new identity by sending X-Forwarded-For itself (only the trusted hop's entry counts)", async () => {
    const codes: string[] = [];
    // The proxy appends the real client (198.51.100.1) after whatever the client claimed.
    for (let i = 0; i < 11; i++) codes.push(await trigger(`10.9.9.${i}, 198.51.100.1`, `wrong-${i}`));
    expect(codes.at(-1)).toBe("RATE_LIMITED");
  });
});
