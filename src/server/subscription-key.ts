import {
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  getOperationAST,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  visit,
} from "graphql";
import type { GraphQLContext } from "../graphql/context.ts";

/**
 * What decides a subscription event's result, as a string: subscribers whose keys are equal get
 * the same result for the same event (shared-subscriptions.ts).
 *
 * - The parsed document (yoga's parser cache hands the same DocumentNode to the same query text)
 *   and the operation name.
 * - The coerced values of the variables the result can depend on, in a canonical form: key order,
 *   undeclared extras and `42` vs `"42"` for an ID do not split subscribers. Variables used only
 *   as arguments of the root field are left out: those choose which events a subscriber gets
 *   (`afterSeq`, filters, pacing), not what an event's result is, because every subscription
 *   field's resolve returns its event as it is (subscriptions.ts). A client resuming with
 *   `afterSeq` in its variables (the README's pattern) shares with everyone else.
 * - The caller's authorization: no field under a subscription reads it today; keyed anyway, so a
 *   field that one day does cannot hand one caller's result to another.
 * Returns null when the variables do not coerce (the execution fails on its own; no sharing).
 */
export function createSubscriptionKeys() {
  const documentIds = new WeakMap<DocumentNode, number>();
  let documents = 0;
  const readByResult = new WeakMap<DocumentNode, Map<string, Set<string>>>();

  function documentId(document: DocumentNode): number {
    let id = documentIds.get(document);
    if (id === undefined) {
      id = documents++;
      documentIds.set(document, id);
    }
    return id;
  }

  function variablesOfResult(document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
    const name = operation.name?.value ?? "";
    let byOperation = readByResult.get(document);
    if (!byOperation) {
      byOperation = new Map();
      readByResult.set(document, byOperation);
    }
    let names = byOperation.get(name);
    if (!names) {
      names = variablesBelowRoot(document, operation);
      byOperation.set(name, names);
    }
    return names;
  }

  return function keyOf(args: ExecutionArgs): string | null {
    const operation = getOperationAST(args.document, args.operationName);
    if (!operation) return null;
    const coerced = getVariableValues(
      args.schema,
      operation.variableDefinitions ?? [],
      (args.variableValues ?? {}) as Record<string, unknown>,
    );
    if (coerced.errors) return null;
    const read = variablesOfResult(args.document, operation);
    const values: Record<string, unknown> = {};
    for (const name of read) if (name in coerced.coerced) values[name] = coerced.coerced[name];
    const authorization = (args.contextValue as Partial<GraphQLContext> | undefined)?.authorization ?? "";
    return [documentId(args.document), operation.name?.value ?? "", canonical(values), authorization].join(
      "\u0000",
    );
  };
}

/**
 * Every variable used in the document except where it is an argument of one of the operation's
 * root fields. A variable used there and anywhere else (a directive, a nested field, a fragment)
 * counts: the set errs on the side of splitting subscribers, never of merging them.
 */
function variablesBelowRoot(document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  const roots = new Set<ASTNode>(operation.selectionSet.selections);
  const names = new Set<string>();
  visit(document, {
    VariableDefinition: () => false,
    Variable(node, _key, parent, _path, ancestors) {
      // ancestors stops above the parent: the chain from the document down to the variable's parent.
      const chain = [...ancestors, parent].filter((a): a is ASTNode => !!a && !Array.isArray(a));
      const argument = chain.findLastIndex((a) => a.kind === Kind.ARGUMENT);
      const owner = argument > 0 ? chain[argument - 1] : undefined;
      if (owner && owner.kind === Kind.FIELD && roots.has(owner)) return;
      names.add(node.name.value);
    },
  });
  return names;
}

/** Coerced values as a string: keys sorted; BigInt and Date (our scalars' values) kept apart from JSON. */
export function canonical(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return `D${value.getTime()}`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "u";
}
