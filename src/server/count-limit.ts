import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLNamedType,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";
import type { Plugin } from "graphql-yoga";

/** Counted connections one operation may ask for (each reads up to 10,001 index entries). */
export const MAX_COUNTED_CONNECTIONS = 10;
const COUNT_FIELDS = new Set(["totalCount", "totalCountIsEstimate"]);

/**
 * The cost limit counts fields, not what they read: a `totalCount` reads up to 10,001 rows, so
 * fifty aliased counts, or a count per row of a 500-row list (`assets { edges { node {
 * marketData { totalCount } } } }`), would read millions for one request. This rule allows at most
 * MAX_COUNTED_CONNECTIONS counted connections per operation, none of them below a list; fragments
 * are followed where they are spread, so a spread does not hide a count.
 */
export function countLimitRule(context: ValidationContext): ASTVisitor {
  const schema = context.getSchema();
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of context.getDocument().definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  return {
    OperationDefinition(operation) {
      const root =
        operation.operation === "query"
          ? schema.getQueryType()
          : operation.operation === "mutation"
            ? schema.getMutationType()
            : schema.getSubscriptionType();
      if (!root) return;
      let counted = 0;
      let reported = false;
      const report = (message: string, node: { loc?: unknown } & object) => {
        if (reported) return;
        reported = true;
        context.reportError(
          new GraphQLError(message, {
            nodes: [node as never],
            extensions: { code: "QUERY_TOO_COMPLEX", limit: "counts" },
          }),
        );
      };
      const walk = (set: SelectionSetNode, type: GraphQLNamedType, inList: boolean, depth: number) => {
        // Fragments that spread each other are refused by validation anyway; the bound keeps this walk finite.
        if (depth > 50 || reported) return;
        let countsHere = false;
        for (const s of set.selections) {
          if (s.kind === Kind.FIELD) {
            if (COUNT_FIELDS.has(s.name.value)) {
              if (inList) {
                report(
                  `${s.name.value} below a list is not allowed (one count per row): count with a connection of its own`,
                  s,
                );
              }
              countsHere = true;
              continue;
            }
            if (!s.selectionSet || !(isObjectType(type) || isInterfaceType(type))) continue;
            const field = type.getFields()[s.name.value];
            if (!field) continue;
            walk(
              s.selectionSet,
              getNamedType(field.type),
              inList || isListType(getNullableType(field.type)),
              depth + 1,
            );
          } else if (s.kind === Kind.INLINE_FRAGMENT) {
            const on = s.typeCondition ? schema.getType(s.typeCondition.name.value) : type;
            if (on) walk(s.selectionSet, on, inList, depth + 1);
          } else {
            const fragment = fragments.get(s.name.value);
            const on = fragment && schema.getType(fragment.typeCondition.name.value);
            if (fragment && on) walk(fragment.selectionSet, on, inList, depth + 1);
          }
        }
        if (countsHere && ++counted > MAX_COUNTED_CONNECTIONS) {
          report(`at most ${MAX_COUNTED_CONNECTIONS} connections per operation may ask for totalCount`, set);
        }
      };
      walk(operation.selectionSet, root, false, 0);
    },
  };
}

export function useCountLimit(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(countLimitRule);
    },
  };
}
