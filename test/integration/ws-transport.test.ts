import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { createLogger } from "../../src/logger/logger.ts";
import { attachGraphQLWs } from "../../src/server/ws-transport.ts";

// The graphql-ws transport on a real port: sends do not wait for the kernel, so the bound on
// what a client that does not read can make the server hold is the transport's own.
const FRAMES = 2_000;
const CHUNK = "x".repeat(10_000);
const HIGH_WATER = 64 * 1024;

/** A subscription that yields as fast as it is asked, with no backpressure of its own. */
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString } } }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      flood: {
        type: GraphQLString,
        subscribe: async function* () {
          for (let i = 0; i < FRAMES; i++) yield { flood: `${i}:${CHUNK}` };
        },
      },
    },
  }),
});

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

async function serve() {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: "/graphql" });
  attachGraphQLWs({ schema }, wss, { logger: createLogger({ level: "silent" }), highWaterBytes: HIGH_WATER });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  close = async () => {
    for (const s of wss.clients) s.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  };
  return { wss, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql` };
}

describe("graphql-ws transport", () => {
  it("holds at most one frame past the high-water mark for a client that stops reading, and loses nothing", async () => {
    const { wss, url } = await serve();
    const client = new WebSocket(url, "graphql-transport-ws");
    const received: string[] = [];
    let completed = false;
    client.on("message", (raw) => {
      const message = JSON.parse(String(raw));
      if (message.type === "next") received.push(message.payload.data.flood);
      if (message.type === "complete") completed = true;
    });
    await new Promise((resolve) => client.once("open", resolve));
    client.send(JSON.stringify({ type: "connection_init" }));
    await new Promise((resolve) => client.once("message", resolve));
    client.pause();
    client.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { flood }" } }));

    // The kernel's buffers fill first; after that, only the transport bounds what waits.
    const server = [...wss.clients][0]!;
    let most = 0;
    for (let i = 0; i < 300; i++) {
      most = Math.max(most, server.bufferedAmount);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const frame = JSON.stringify({
      id: "1",
      type: "next",
      payload: { data: { flood: `0:${CHUNK}` } },
    }).length;
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(HIGH_WATER + frame + 16);
    expect(received.length).toBeLessThan(FRAMES);

    client.resume();
    for (let i = 0; i < 400 && !completed; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(completed).toBe(true);
    expect(received.map((r) => Number(r.split(":")[0]))).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    client.terminate();
  });
});
