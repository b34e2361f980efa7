import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql 16 has no "exports" map: Node loads index.js (CJS) for Pothos and yoga, while Vite
    // would pick the "module" entry (index.mjs) for our sources: two copies of graphql. One.
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    // Two projects: unit tests beside the pure logic they test, integration tests under test/
    // (real PostgreSQL and embedded PGlite, real HTTP servers on 127.0.0.1).
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // test/page: the live page's DOM-free modules (public/*.js), which public/ must not hold.
          include: ["src/**/*.test.ts", "test/page/**/*.test.ts"],
          environment: "node",
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          // Heavy suites (headless browser, …): npm run test:e2e, run by .ci/run too.
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // Kill trials and the 1M-row CSV: npm run test:reliability, run by .ci/run too.
          name: "reliability",
          include: ["test/reliability/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
