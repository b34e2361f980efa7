// The query baseline: a bare graphql-yoga server answering { hello }, in its own process.
import { createServer } from "node:http";
import { createSchema, createYoga } from "graphql-yoga";

const yoga = createYoga({
  schema: createSchema({
    typeDefs: "type Query { hello: String! }",
    resolvers: { Query: { hello: () => "world" } },
  }),
  logging: false,
});
const server = createServer(yoga);
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
