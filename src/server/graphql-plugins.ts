import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type DocumentNode, GraphQLError, Kind, NoSchemaIntrospectionCustomRule, visit } from "graphql";
import type { Plugin } from "graphql-yoga";
import { MAX_PAGE_SIZE } from "../graphql/pagination.ts";
import type { Metrics } from "../metrics/metrics.ts";

/**
 * Query limits, set explicitly (graphql-armor's defaults reject legitimate queries): every README
 * and test query passes; depth-20, 500-alias and oversized documents do not.
 */
export const LIMITS = { maxDepth: 12, maxAliases: 50, maxTokens: 4000, maxCost: 50_000, maxDirectives: 20 };

export function useLimits(options: { production: boolean }): Plugin {
  return EnvelopArmorPlugin({
    maxDepth: { n: LIMITS.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: LIMITS.maxAliases },
    maxTokens: { n: LIMITS.maxTokens },
    maxDirectives: { n: LIMITS.maxDirectives },
    costLimit: { maxCost: LIMITS.maxCost, ignoreIntrospection: true },
    blockFieldSuggestion: { enabled: options.production },
  }) as Plugin;
}

/** first/last above 500 are refused with BAD_USER_INPUT naming the argument (never clamped). */
function pageSizeError(
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
): GraphQLError | null {
  let error: GraphQLError | null = null;
  visit(document, {
    Argument(node) {
      if (error || (node.name.value !== "first" && node.name.value !== "last")) return;
      const value =
        node.value.kind === Kind.INT
          ? Number(node.value.value)
          : node.value.kind === Kind.VARIABLE
            ? variables?.[node.value.name.value]
            : undefined;
      if (typeof value === "number" && (value > MAX_PAGE_SIZE || value < 0)) {
        error = new GraphQLError(`${node.name.value}: must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`, {
          extensions: { code: "BAD_USER_INPUT", argument: node.name.value },
          nodes: [node],
        });
      }
    },
  });
  return error;
}

export function usePageSizeLimit(): Plugin {
  const check = (
    document: DocumentNode,
    variables: Record<string, unknown> | undefined,
    stop: (r: unknown) => void,
  ) => {
    const error = pageSizeError(document, variables);
    if (error) stop({ errors: [error] });
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      check(
        args.document,
        args.variableValues as Record<string, unknown>,
        setResultAndStopExecution as (r: unknown) => void,
      );
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      check(
        args.document,
        args.variableValues as Record<string, unknown>,
        setResultAndStopExecution as (r: unknown) => void,
      );
    },
  };
}

/** NODE_ENV=production turns introspection off unless GRAPHQL_EXPLORER=true. */
export function useIntrospection(enabled: boolean): Plugin {
  if (enabled) return {};
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/** graphql_operations_total and graphql_operation_duration_seconds. */
export function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const operation = (args.document as DocumentNode).definitions.find(
        (d) => d.kind === Kind.OPERATION_DEFINITION,
      );
      const type = operation && "operation" in operation ? operation.operation : "unknown";
      const name = (operation && "name" in operation && operation.name?.value) || "anonymous";
      return {
        onExecuteDone({ result }) {
          const failed = "errors" in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.graphqlOperations.inc({ type, name: name.slice(0, 64), outcome: failed ? "error" : "ok" });
          metrics.graphqlDuration.observe({ type }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}
