import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createTestApp, startStack, TEST_API_KEY, type TestStack } from "../support/app.ts";
import {
  createEmptyPostgresDatabase,
  createPgliteTestDatabase,
  postgresAdminUrl,
} from "../support/databases.ts";
import { readmeBlocks } from "../support/readme.ts";
import { COINGECKO_TOP250, loadFixture } from "../support/replay-server.ts";
import { runCli } from "../support/run-cli.ts";
import { collect, wsClient } from "../support/ws-client.ts";

// Every command and query in the README is exercised here, so the docs cannot rot: GraphQL,
// JavaScript, curl and npm blocks are executed; make, docker and Kubernetes blocks are checked
// statically (no Docker engine on CI machines).
const blocks = readmeBlocks();
const scripts = JSON.parse(readFileSync("package.json", "utf8")).scripts as Record<string, string>;
let stack: TestStack;
let app: TestStack["app"];
let http: TestStack["http"];

beforeAll(async () => {
  stack = await startStack();
  ({ app, http } = stack);
  await app.runner.run({ trigger: "CLI" });
});
afterAll(() => stack.close());

describe("README GraphQL examples", () => {
  const graphql = blocks.filter((b) => b.lang === "graphql");
  it("has examples", () => expect(graphql.length).toBeGreaterThanOrEqual(7));

  for (const [i, block] of graphql.entries()) {
    if (block.code.trimStart().startsWith("subscription")) {
      it(`subscription example ${i + 1} delivers updates over graphql-ws`, async () => {
        const client = wsClient(http.wsUrl);
        const sub = collect(client, block.code);
        const events = await sub.until(1);
        sub.stop();
        await client.dispose();
        if (/candleUpdates/.test(block.code)) {
          // The newest bucket first: the run before wrote BTC's prices.
          expect(events[0].candleUpdates).toMatchObject({
            revision: expect.any(Number),
            candle: {
              bucket: expect.any(String),
              open: expect.any(Number),
              observations: expect.any(Number),
            },
          });
          return;
        }
        // A snapshot example starts with the prices the run before left, the others with an update.
        expect(events[0].marketUpdates).toMatchObject(
          /snapshot:\s*true/.test(block.code)
            ? {
                kind: "SNAPSHOT",
                snapshot: [{ priceUsd: expect.any(Number) }, { priceUsd: expect.any(Number) }],
              }
            : { kind: "UPDATE", observation: { source: expect.any(String) } },
        );
      });
      continue;
    }
    it(`query example ${i + 1} (${block.section}) runs without errors and returns data`, async () => {
      const r = await app.gql(block.code);
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
      expect(JSON.stringify(r.body.data)).not.toBe("{}");
    });
  }
});

describe("README JavaScript client", () => {
  it("subscribes, prints updates and keeps afterSeq current", async () => {
    const block = blocks.find((b) => b.lang === "js")!;
    const dir = mkdtempSync(join(process.cwd(), "tmp-readme-"));
    const file = join(dir, "client.mjs");
    writeFileSync(file, block.code);
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, COINFLOW_WS: http.wsUrl, AFTER_SEQ: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += String(d);
    });
    for (let i = 0; i < 100 && out.split("\n").filter((l) => l.startsWith("UPDATE")).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
    rmSync(dir, { recursive: true, force: true });
    const lines = out.split("\n").filter((l) => l.startsWith("UPDATE"));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines[0]).toMatch(/^UPDATE \d+ (COINGECKO|COINPAPRIKA|CSV) \d/);
  });
});

describe("README shell commands", () => {
  it("the curl call for cron triggers a run with the bearer key", async () => {
    const curl = blocks.find((b) => b.lang === "sh" && b.code.includes("triggerEtl"))!;
    const command = curl.code.replaceAll("http://localhost:4000", http.url);
    // Asynchronous: the server answering curl runs in this process.
    const child = spawn("bash", ["-c", command], { env: { ...process.env, ETL_API_KEY: TEST_API_KEY } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += String(d);
    });
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(status, stderr).toBe(0);
    const body = JSON.parse(stdout);
    expect(body.errors).toBeUndefined();
    expect(body.data.triggerEtl.run).toMatchObject({ id: expect.any(String), status: expect.any(String) });
  });

  it("the curl call that releases a quarantine ingests the held records", async () => {
    const curl = blocks.find((b) => b.lang === "sh" && b.code.includes("releaseQuarantine"))!;
    const t = await createPgliteTestDatabase();
    const quarantining = createTestApp(t.db, stack.replay, {
      env: { ETL_SOURCES: "coingecko", DRIFT_POLICY_COINGECKO: "quarantine" },
    });
    const server = await quarantining.listen();
    try {
      await quarantining.runner.run({ trigger: "CLI" });
      const page = loadFixture<Record<string, any>[]>(COINGECKO_TOP250);
      stack.replay.setCoinGeckoPages([
        page.map(({ current_price, ...rest }) => ({ ...rest, price_current: current_price * 1.01 })),
      ]);
      const held = await quarantining.runner.run({ trigger: "CLI" });
      expect(held.sources[0]?.quarantined).toBe(250);
      const command = curl.code.replaceAll("http://localhost:4000", server.url);
      const out = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
        const child = spawn("bash", ["-c", command], {
          env: { ...process.env, ETL_API_KEY: TEST_API_KEY, RUN_ID: String(held.runId) },
        });
        let stdout = "";
        child.stdout.on("data", (d) => {
          stdout += String(d);
        });
        child.once("exit", (status) => resolve({ status, stdout }));
      });
      expect(out.status).toBe(0);
      const body = JSON.parse(out.stdout);
      expect(body.errors).toBeUndefined();
      const releaseRun = Number(body.data.releaseQuarantine.run.id);
      const done = await quarantining.runner.run({ trigger: "CLI" }); // waits for the release run
      expect(done.runId).toBeGreaterThanOrEqual(releaseRun);
      const run = await t.db.prisma.sourceRun.findFirstOrThrow({ where: { runId: releaseRun } });
      expect(run).toMatchObject({ status: "SUCCEEDED", written: 250, rejected: 0 });
    } finally {
      stack.replay.setCoinGeckoPages([loadFixture(COINGECKO_TOP250)]);
      await server.server.stop();
      quarantining.stop();
      await t.dispose();
    }
  });

  it("every npm command names a script that exists", () => {
    const commands = blocks
      .filter((b) => b.lang === "bash")
      .flatMap((b) => [...b.code.matchAll(/npm (?:run ([\w:-]+)|(start|test|ci))/g)]);
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const m of commands) if (m[1]) expect(scripts, m[1]).toHaveProperty(m[1]);
  });

  it("npm run etl -- --source csv --json prints the run summary", async () => {
    const block = blocks.find((b) => b.code.startsWith("npm run etl"))!;
    const args = block.code.replace("npm run etl --", "").trim().split(/\s+/);
    const root = mkdtempSync(join(tmpdir(), "coinflow-readme-"));
    const r = await runCli(["etl", ...args], { DATA_DIR: join(root, "data") });
    rmSync(root, { recursive: true, force: true });
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: "SUCCEEDED", sources: [{ source: "CSV", written: 1092 }] });
  });

  it.skipIf(!postgresAdminUrl)("DATABASE_URL=… npm run db:migrate migrates that database", async () => {
    const block = blocks.find((b) => b.code.includes("db:migrate"))!;
    expect(block.code).toMatch(/^DATABASE_URL=\S+ npm run db:migrate$/);
    const { url, drop } = await createEmptyPostgresDatabase();
    const r = await runCli(["migrate"], { DATABASE_URL: url });
    await drop();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("migration applied");
  });

  it("make up exists in the Makefile and runs docker compose", () => {
    const makefile = readFileSync("Makefile", "utf8");
    expect(blocks.some((b) => b.code.trim() === "make up")).toBe(true);
    expect(makefile).toMatch(/^up:.*\n\tdocker compose up -d --build/m);
  });
});

describe("README Kubernetes CronJob", () => {
  it("is valid YAML that POSTs triggerEtl with the bearer key from a secret", () => {
    const yaml = blocks.find((b) => b.lang === "yaml")!;
    const job = parseYaml(yaml.code);
    expect(job).toMatchObject({
      apiVersion: "batch/v1",
      kind: "CronJob",
      spec: { concurrencyPolicy: "Forbid" },
    });
    const container = job.spec.jobTemplate.spec.template.spec.containers[0];
    expect(container.args.join(" ")).toMatch(/Authorization: Bearer \$\(ETL_API_KEY\).*triggerEtl/);
    expect(container.env[0].valueFrom.secretKeyRef).toBeDefined();
  });
});
