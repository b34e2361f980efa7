import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startStack, type TestStack } from "../support/app.ts";

let stack: TestStack;
let http: TestStack["http"];

beforeAll(async () => {
  stack = await startStack();
  ({ http } = stack);
});
afterAll(() => stack.close());

/** A raw graphql-transport-ws socket: send frames, read frames, see how it closes. */
async function raw() {
  const socket = new WebSocket(http.wsUrl, "graphql-transport-ws");
  const messages: Record<string, unknown>[] = [];
  socket.on("message", (d) => messages.push(JSON.parse(String(d))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const send = (m: unknown) => socket.send(JSON.stringify(m));
  const next = async (type: string) => {
    for (let i = 0; i < 100; i++) {
      const found = messages.find((m) => m.type === type);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${type} message; got ${JSON.stringify(messages)}`);
  };
  return { socket, send, next, closed, messages };
}

const SUBSCRIBE = { query: "subscription { marketUpdates { seq } }" };

describe("graphql-ws protocol over a real port", () => {
  it("closes with 4408 when connection_init does not come in time", async () => {
    const c = await raw();
    expect((await c.closed).code).toBe(4408);
  });

  it("closes with 4429 on a second connection_init", async () => {
    const c = await raw();
    c.send({ type: "connection_init" });
    await c.next("connection_ack");
    c.send({ type: "connection_init" });
    expect((await c.closed).code).toBe(4429);
  });

  it("closes with 4401 on subscribe before the ack", async () => {
    const c = await raw();
    c.send({ type: "subscribe", id: "1", payload: SUBSCRIBE });
    expect((await c.closed).code).toBe(4401);
  });

  it("closes with 4409 on a duplicate subscription id", async () => {
    const c = await raw();
    c.send({ type: "connection_init" });
    await c.next("connection_ack");
    c.send({ type: "subscribe", id: "same", payload: SUBSCRIBE });
    await new Promise((r) => setTimeout(r, 200));
    c.send({ type: "subscribe", id: "same", payload: SUBSCRIBE });
    expect((await c.closed).code).toBe(4409);
  });

  it("closes with 4400 on an unknown message", async () => {
    const c = await raw();
    c.send({ type: "connection_init" });
    await c.next("connection_ack");
    c.send({ type: "bogus" });
    expect((await c.closed).code).toBe(4400);
  });

  it("answers ping with pong", async () => {
    const c = await raw();
    c.send({ type: "connection_init" });
    await c.next("connection_ack");
    c.send({ type: "ping" });
    expect(await c.next("pong")).toEqual({ type: "pong" });
    c.socket.close(1000);
  });

  it("applies the same limits over WebSocket as over HTTP", async () => {
    const c = await raw();
    c.send({ type: "connection_init" });
    await c.next("connection_ack");
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: marketUpdates { seq }`).join(" ");
    c.send({ type: "subscribe", id: "x", payload: { query: `subscription { ${aliases} }` } });
    const error = (await c.next("error")) as { payload: { message: string }[] };
    expect(error.payload[0]!.message).toMatch(/Aliases limit/);
    c.socket.close(1000);
  });
});
