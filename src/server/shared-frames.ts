import { randomUUID } from "node:crypto";

/**
 * The serialized `data` of a subscription result, made once and spliced into the message of every
 * subscriber it goes to. A result is shared by every subscriber of the same operation
 * (shared-subscriptions.ts), but graphql-ws serializes each message itself, data included: 1,000
 * subscribers, 1,000 JSON.stringify of the same data per update.
 *
 * How: graphql-ws.ts hands graphql-ws a result whose `data` is a stand-in; its toJSON() leaves the
 * JSON in a slot and serializes as a placeholder; ws-transport.ts's send swaps the placeholder for
 * the JSON. graphql-ws serializes and sends in one synchronous step
 * (`socket.send(stringifyMessage(message))`), so nothing can run between the two and one slot is
 * enough. The placeholder carries a random token: no client can put it in a message (a client's
 * operation id is serialized as an escaped string, and comes before `payload` anyway).
 */
export function createFrameSplicer() {
  const token = `coinflow:shared-data:${randomUUID()}`;
  const placeholder = `"data":${JSON.stringify(token)}`;
  let pending: string | null = null;
  const standIns = new WeakMap<object, SharedData>();

  class SharedData {
    constructor(readonly json: string) {}
    toJSON() {
      pending = this.json;
      return token;
    }
  }

  return {
    /** The stand-in for `result.data`, serialized once per result object. */
    dataOf(result: { data?: unknown }): unknown {
      let standIn = standIns.get(result);
      if (!standIn) {
        standIn = new SharedData(JSON.stringify(result.data));
        standIns.set(result, standIn);
      }
      return standIn;
    },
    /** The message to send: the placeholder serialized just before replaced by its JSON. */
    splice(message: string): string {
      if (pending === null) return message;
      const json = pending;
      pending = null;
      const at = message.indexOf(placeholder);
      // Not there: the serialization that set the slot failed before its send (nothing to splice).
      if (at < 0) return message;
      return `${message.slice(0, at)}"data":${json}${message.slice(at + placeholder.length)}`;
    },
  };
}

export type FrameSplicer = ReturnType<typeof createFrameSplicer>;
