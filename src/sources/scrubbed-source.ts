import type { Scrubber } from "../security/scrubber.ts";
import type { MarketSource } from "./record.ts";

/**
 * A source whose streams carry no configured secret: the archived payload, the header fields and
 * every item (records, rejections, their raw input) are scrubbed as they leave the source, so
 * nothing the pipeline stores from them can hold one. HTTP sources scrub their bodies as they
 * arrive (http-client.ts); this wrapper is for sources that read files.
 */
export function scrubbedSource(source: MarketSource, scrub: Scrubber): MarketSource {
  if (!scrub.active) return source;
  return {
    id: source.id,
    checkpoint: source.checkpoint,
    async *streams(signal) {
      for await (const stream of source.streams(signal)) {
        yield {
          ...stream,
          payload: { ...stream.payload, body: scrub(stream.payload.body) },
          fields: stream.fields && scrub.deep(stream.fields),
          async *chunks() {
            for await (const chunk of stream.chunks()) yield scrub.deep(chunk);
          },
        };
      }
    },
  };
}
