// The page's two ways to the API: queries over HTTP, subscriptions over one graphql-ws socket
// (the browser client, served by the service from node_modules: no CDN, no build step).
import { createClient } from "/vendor/graphql-ws/client.js";

/** Runs a query over HTTP; throws with the API's first error message. */
export async function query(text, variables = {}) {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: text, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

/**
 * One graphql-ws client for every subscription of the page. It reconnects for ever; on each
 * reconnect it sends every open subscription's payload object again as it is then, so a stream
 * that keeps its resume point in its payload (afterSeq) resumes exactly after what it saw.
 * `on` receives the socket's life: connecting(isRetry), connected, closed.
 */
export function createLiveClient(on = {}) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const client = createClient({
    url,
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    keepAlive: 10_000,
    on,
  });
  return {
    /**
     * Subscribes; returns a function that ends the subscription (graphql-ws sends `complete`,
     * the server stops the operation). `next` gets the data of each event; `complete` is called
     * when the server ends the subscription, never after the returned function was called
     * (graphql-ws itself calls its sink's complete then too).
     */
    subscribe(payload, { next, error = (e) => console.error(e), complete = () => undefined }) {
      let ended = false;
      const end = client.subscribe(payload, {
        next: ({ data, errors }) => {
          if (ended) return;
          if (errors) error(errors);
          else if (data) next(data);
        },
        error: (e) => {
          if (!ended) error(e);
          ended = true;
        },
        complete: () => {
          if (!ended) complete();
          ended = true;
        },
      });
      return () => {
        ended = true;
        end();
      };
    },
    /** Closes the socket at once, as a dead network would; the client reconnects. */
    terminate: () => client.terminate(),
  };
}
