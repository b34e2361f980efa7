import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Scrubber } from "../security/scrubber.ts";
import { mapStream } from "./map-stream.ts";

type SingleResult = { data?: unknown; errors?: readonly GraphQLError[]; extensions?: unknown };

function scrubError(e: GraphQLError, scrub: Scrubber): GraphQLError {
  const message = scrub(e.message);
  const extensions = scrub.deep(e.extensions);
  if (message === e.message && extensions === e.extensions) return e;
  return new GraphQLError(message, { nodes: e.nodes, path: e.path, extensions });
}

/** A result with every configured secret replaced (a copy when anything changed; else the same). */
export function scrubResult<R>(result: R, scrub: Scrubber): R {
  if (!scrub.active || !result || typeof result !== "object" || Symbol.asyncIterator in result) return result;
  const r = result as SingleResult;
  const data = scrub.deep(r.data);
  const errors = r.errors?.map((e) => scrubError(e, scrub));
  const extensions = scrub.deep(r.extensions);
  const errorsChanged = errors?.some((e, i) => e !== r.errors![i]) ?? false;
  if (data === r.data && !errorsChanged && extensions === r.extensions) return result;
  return { ...r, data, ...(errors && { errors }), extensions } as R;
}

/**
 * The last line of defence: no GraphQL response (HTTP, SSE) carries a configured secret,
 * whatever stored value or error message a resolver returned. graphql-ws results go through
 * scrubResult in server.ts. Registered last, after the plugins that shape the result.
 */
export function useScrubbedResults(scrub: Scrubber): Plugin | null {
  if (!scrub.active) return null;
  return {
    onResultProcess({ result, setResult }) {
      const one = (r: unknown) =>
        r && typeof r === "object" && Symbol.asyncIterator in r
          ? mapStream(r as AsyncIterable<unknown>, (value) => scrubResult(value, scrub))
          : scrubResult(r, scrub);
      setResult((Array.isArray(result) ? result.map(one) : one(result)) as typeof result);
    },
  };
}
