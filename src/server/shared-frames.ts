import { randomUUID } from "node:crypto";

/**
 * The serialized `data` of a subscription result, made once and spliced into the message of every
 * subscriber it goes to. A result is shared by every subscriber of the same operation
 * (shared-subscriptions.ts), but graphql-ws serializes each message itself, data included: 1,000
 * subscribers, 1,000 JSON.stringify of the same data per update.
 *
 * How: graphql-ws.ts hands graphql-ws a result whose `data` is a stand-in; its toJSON() leaves
 * itself in a slot and serializes as its own placeholder; ws-transport.ts's send swaps the
 * placeholder for the JSON. graphql-ws 6 serializes and sends in one synchronous step
 * (`socket.send(stringifyMessage(message))`), so nothing can run between the two and one slot is
 * enough. Should a version ever await in between, the placeholder would not be the slot's: splice
 * throws (the transport closes the socket with 1011) rather than send a wrong frame. Placeholders
 * carry a random token: no client can put one in a message (a client's operation id is
 * serialized as an escaped string, and comes before `payload` anyway).
 */
export function createFrameSplicer() {
  const prefix = `coinflow:shared-data:${randomUUID()}:`;
  const anyPlaceholder = `"data":"${prefix}`;
  let made = 0;
  let pending: SharedData | null = null;

  class SharedData {
    readonly token = `${prefix}${made++}`;
    readonly placeholder = `"data":${JSON.stringify(this.token)}`;
    constructor(readonly json: string) {}
    toJSON() {
      pending = this;
      return this.token;
    }
  }

  return {
    /** A stand-in for a result's `data`: serialized here, once, whatever it is sent to. */
    standIn(data: unknown): unknown {
      return new SharedData(JSON.stringify(data));
    },
    /** The message to send: the placeholder serialized just before, replaced by its JSON. */
    splice(message: string): string {
      const standIn = pending;
      pending = null;
      const at = standIn ? message.indexOf(standIn.placeholder) : -1;
      if (standIn && at >= 0)
        return `${message.slice(0, at)}"data":${standIn.json}${message.slice(at + standIn.placeholder.length)}`;
      if (message.includes(anyPlaceholder))
        throw new Error("a shared result's placeholder was sent apart from its serialization");
      // No stand-in, or one whose serialization failed before its send: nothing to splice.
      return message;
    },
  };
}

export type FrameSplicer = ReturnType<typeof createFrameSplicer>;
