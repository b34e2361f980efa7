import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import {
  type ArgumentNode,
  type DocumentNode,
  GraphQLError,
  getOperationAST,
  Kind,
  NoSchemaIntrospectionCustomRule,
  visit,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Metrics } from "../metrics/metrics.ts";
import { pageSizeProblem } from "../services/pagination.ts";

/**
 * Query limits, set explicitly (graphql-armor's defaults reject legitimate queries): every README
 * and test query passes; depth-20, 500-alias and oversized documents do not.
 */
export const LIMITS = { maxDepth: 12, maxAliases: 50, maxTokens: 4000, maxCost: 100_000, maxDirectives: 20 };

export function useLimits(options: { production: boolean }): Plugin {
  return EnvelopArmorPlugin({
    maxDepth: { n: LIMITS.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: LIMITS.maxAliases, allowList: [] },
    maxTokens: { n: LIMITS.maxTokens },
    maxDirectives: { n: LIMITS.maxDirectives },
    costLimit: { maxCost: LIMITS.maxCost, ignoreIntrospection: true },
    blockFieldSuggestion: { enabled: options.production },
  }) as Plugin;
}

/** A `first`/`last` argument of a document: a literal, or a variable with its default. */
interface PageSizeArgument {
  node: ArgumentNode;
  literal?: number;
  variable?: string;
  fallback?: number;
}

/**
 * The `first`/`last` arguments of a document, found once per document: yoga's parser cache hands
 * every request of the same text the same DocumentNode, so the walk is not repeated per request.
 */
const pageSizeArguments = new WeakMap<DocumentNode, PageSizeArgument[]>();

function pageSizeArgumentsOf(document: DocumentNode): PageSizeArgument[] {
  let found = pageSizeArguments.get(document);
  if (found) return found;
  found = [];
  // A variable left out takes its definition's default: `query ($n: Int = 600)` is 600 rows too.
  const defaults = new Map<string, number>();
  visit(document, {
    VariableDefinition(node) {
      if (node.defaultValue?.kind === Kind.INT)
        defaults.set(node.variable.name.value, Number(node.defaultValue.value));
    },
  });
  const list = found;
  visit(document, {
    Argument(node) {
      if (node.name.value !== "first" && node.name.value !== "last") return;
      if (node.value.kind === Kind.INT) list.push({ node, literal: Number(node.value.value) });
      else if (node.value.kind === Kind.VARIABLE) {
        const variable = node.value.name.value;
        list.push({ node, variable, fallback: defaults.get(variable) });
      } else list.push({ node });
    },
  });
  pageSizeArguments.set(document, found);
  return found;
}

/** first/last above 500 are refused with BAD_USER_INPUT naming the argument (never clamped). */
function pageSizeError(
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
): GraphQLError | null {
  for (const arg of pageSizeArgumentsOf(document)) {
    const value =
      arg.literal !== undefined
        ? arg.literal
        : arg.variable !== undefined && variables !== undefined
          ? arg.variable in variables
            ? variables[arg.variable]
            : arg.fallback
          : undefined;
    const name = arg.node.name.value;
    const problem = pageSizeProblem(name, value);
    if (problem) {
      return new GraphQLError(problem, {
        extensions: { code: "BAD_USER_INPUT", argument: name },
        nodes: [arg.node],
      });
    }
  }
  return null;
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
    // Literals are checked before validation, so a huge `first` gets this precise error rather
    // than the cost limit's; variables are checked when they are known, at execution.
    onValidate({ params, setResult }) {
      const error = pageSizeError(params.documentAST, undefined);
      if (error) setResult([error]);
    },
    onExecute({ args, setResultAndStopExecution }) {
      check(
        args.document,
        (args.variableValues ?? {}) as Record<string, unknown>,
        setResultAndStopExecution as (r: unknown) => void,
      );
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      check(
        args.document,
        (args.variableValues ?? {}) as Record<string, unknown>,
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

/**
 * The operation name is chosen by the client: as a label it would make one series per distinct
 * name (5,000 names made 5,000 series and a 600 KB /metrics). The first `max` distinct names keep
 * their own label; every later new name counts as `other`.
 */
export function boundedLabel(max: number): (name: string) => string {
  const kept = new Set<string>();
  return (name) => {
    if (kept.has(name)) return name;
    if (kept.size >= max) return "other";
    kept.add(name);
    return name;
  };
}

/** graphql_operations_total (name label bounded, see boundedLabel) and graphql_operation_duration_seconds. */
export function useOperationMetrics(metrics: Metrics, maxNames = 100): Plugin {
  const label = boundedLabel(maxNames);
  return {
    onExecute({ args }) {
      const started = performance.now();
      // The operation that runs: a document may hold several, and operationName picks one.
      const operation = getOperationAST(args.document as DocumentNode, args.operationName);
      const type = operation?.operation ?? "unknown";
      const name = operation?.name?.value || "anonymous";
      return {
        onExecuteDone({ result }) {
          const failed = "errors" in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.graphqlOperations.inc({
            type,
            name: label(name.slice(0, 64)),
            outcome: failed ? "error" : "ok",
          });
          metrics.graphqlDuration.observe({ type }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}

const LIMIT_ERRORS: [RegExp, string][] = [
  [/Query Cost limit/i, "cost"],
  [/Query depth limit/i, "depth"],
  [/Aliases limit/i, "aliases"],
  [/Token limit/i, "tokens"],
  [/Directives limit/i, "directives"],
];

/** An armor rejection re-coded (see useLimitErrorCodes); other errors unchanged. */
export function withLimitCode(e: GraphQLError): GraphQLError {
  const hit = LIMIT_ERRORS.find(([re]) => re.test(e.message));
  if (!hit) return e;
  return new GraphQLError(e.message.replace(/^Syntax Error: /, ""), {
    nodes: e.nodes,
    extensions: { ...e.extensions, code: "QUERY_TOO_COMPLEX", limit: hit[1] },
  });
}

/**
 * graphql-armor's rejections read "Syntax Error: …" and carry no code. Clients get the message
 * without the misleading prefix and `extensions.code = QUERY_TOO_COMPLEX` with the limit's name.
 */
export function useLimitErrorCodes(): Plugin {
  return {
    onResultProcess({ result }) {
      for (const r of Array.isArray(result) ? result : [result]) {
        if (!r || typeof r !== "object" || Symbol.asyncIterator in r) continue;
        const errors = (r as { errors?: GraphQLError[] }).errors;
        if (!errors) continue;
        (r as { errors?: GraphQLError[] }).errors = errors.map(withLimitCode);
      }
    },
  };
}
