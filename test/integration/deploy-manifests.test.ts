import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseGraphQL, validate } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ENV_NAMES, loadConfig } from "../../src/config/config.ts";
import { buildSchema } from "../../src/graphql/schema.ts";
import { startStack, type TestStack } from "../support/app.ts";

// The manifests in deploy/ can't be applied here (no cluster, no cloud): each is parsed and held
// against the code it deploys. Env names against the config schema, probes against the real
// server, the command against the Dockerfile, the scheduled mutation against the GraphQL schema.
type Doc = Record<string, any>;
const files = readdirSync("deploy", { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => join("deploy", f));
const docs: { file: string; doc: Doc }[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(file, "utf8")).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return { file, doc: d.toJS() as Doc };
  }),
);
const dockerfile = readFileSync("Dockerfile", "utf8");
const CMD: string[] = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!);
const EXPOSED = Number(/^EXPOSE (\d+)$/m.exec(dockerfile)![1]);
const readme = readFileSync("README.md", "utf8");
const schema = buildSchema();
const SECRET_NAMES = /^(DATABASE_URL|.*_API_KEY)$/;

const kinds = (kind: string) => docs.filter((d) => d.doc.kind === kind);
const deployment = kinds("Deployment")[0]!.doc;
const cloudRun = docs.find((d) => d.doc.apiVersion === "serving.knative.dev/v1")!.doc;
const cronJob = kinds("CronJob")[0]!.doc;
/** The service's own containers: the Deployment's and Cloud Run's. */
const appContainers: [string, Doc][] = [
  ["Kubernetes Deployment", deployment.spec.template.spec.containers[0]],
  ["Cloud Run service", cloudRun.spec.template.spec.containers[0]],
];

function expectTriggerEtl(body: string) {
  const { query } = JSON.parse(body) as { query: string };
  const document = parseGraphQL(query);
  expect(validate(schema, document)).toEqual([]);
  expect(query).toMatch(/^mutation\b[\s\S]*\btriggerEtl\b/);
}

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe("deploy/ manifests", () => {
  it("are all parsed: Kubernetes Deployment, Service, PodDisruptionBudget, CronJob; Cloud Run and Scheduler", () => {
    expect(docs.flatMap((d) => d.doc.kind ?? []).sort()).toEqual(
      ["CronJob", "Deployment", "PodDisruptionBudget", "Service", "Service"].sort(),
    );
    expect(files).toContain("deploy/cloudrun/scheduler-job.yaml");
  });

  it.each(appContainers)("%s: starts the image's CMD, on the port the image exposes", (_, container) => {
    expect(container.command ?? CMD).toEqual(CMD);
    expect(container.args).toBeUndefined();
    const port = container.ports[0].containerPort;
    expect(port).toBe(EXPOSED);
    const setPort = container.env.find((e: Doc) => e.name === "PORT")?.value;
    // Unset PORT means the config's default, which must then be the port.
    expect(Number(setPort ?? loadConfig({}).server.port)).toBe(port);
  });

  it.each(appContainers)("%s: sets only variables the config schema reads, secrets by reference", (_, c) => {
    for (const e of c.env as Doc[]) {
      expect(ENV_NAMES, e.name).toContain(e.name);
      if (SECRET_NAMES.test(e.name)) {
        expect(e.value, e.name).toBeUndefined();
        expect(e.valueFrom.secretKeyRef.name, e.name).toBeTruthy();
      }
    }
    // The values given must also pass the schema: one bad value stops the service at start-up.
    const values = Object.fromEntries(
      (c.env as Doc[]).filter((e) => "value" in e).map((e) => [e.name, e.value]),
    );
    expect(() => loadConfig(values)).not.toThrow();
  });

  it.each(appContainers)(
    "%s: every probe asks a path the server answers 200 on, on its port",
    async (_, c) => {
      const probes = ["readinessProbe", "livenessProbe", "startupProbe"].filter((p) => c[p]);
      expect(probes.length).toBeGreaterThanOrEqual(2);
      for (const p of probes) {
        const { path, port } = c[p].httpGet;
        expect([c.ports[0].name, c.ports[0].containerPort]).toContain(port);
        const res = await fetch(`${stack.http.url}${path}`);
        expect(res.status, `${p} ${path}`).toBe(200);
      }
    },
  );

  it("Kubernetes: two replicas or more, a disruption budget and a Service that select its pods", () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const pdb = kinds("PodDisruptionBudget")[0]!.doc;
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    const service = docs.find((d) => d.doc.kind === "Service" && d.doc.apiVersion === "v1")!.doc;
    expect(service.spec.selector).toEqual(labels);
    expect(service.spec.ports[0].targetPort).toBe(deployment.spec.template.spec.containers[0].ports[0].name);
    expect(deployment.spec.template.spec.containers[0].readinessProbe).toBeDefined();
    expect(deployment.spec.template.spec.containers[0].livenessProbe).toBeDefined();
  });

  it("Kubernetes CronJob: POSTs a valid triggerEtl to the Service with the key from a secretKeyRef", () => {
    const c = cronJob.spec.jobTemplate.spec.template.spec.containers[0];
    const args: string[] = c.args;
    const service = docs.find((d) => d.doc.kind === "Service" && d.doc.apiVersion === "v1")!.doc;
    const url = new URL(args.find((a) => a.startsWith("http"))!);
    expect(url.hostname).toBe(service.metadata.name);
    expect(Number(url.port)).toBe(service.spec.ports[0].port);
    expect(url.pathname).toBe("/graphql");
    expect(args).toContain("Authorization: Bearer $(ETL_API_KEY)");
    expect(c.env.find((e: Doc) => e.name === "ETL_API_KEY").valueFrom.secretKeyRef.name).toBe(
      deployment.spec.template.spec.containers[0].env.find((e: Doc) => e.name === "ETL_API_KEY").valueFrom
        .secretKeyRef.name,
    );
    expectTriggerEtl(args[args.indexOf("-d") + 1]!);
  });

  it("Cloud Scheduler job: a POST of a valid triggerEtl; the key comes from Secret Manager at creation", () => {
    const flags = parseYaml(readFileSync("deploy/cloudrun/scheduler-job.yaml", "utf8"));
    expect(flags["--http-method"]).toBe("POST");
    expect(flags["--schedule"]).toMatch(/^\S+ \S+ \S+ \S+ \S+$/);
    expectTriggerEtl(flags["--message-body"]);
    const header = readFileSync("deploy/cloudrun/scheduler-job.yaml", "utf8");
    expect(header).toMatch(
      /Authorization=Bearer \$\(gcloud secrets versions access latest --secret=coinflow-etl-api-key\)/,
    );
    const secret = cloudRun.spec.template.spec.containers[0].env.find((e: Doc) => e.name === "ETL_API_KEY");
    expect(secret.valueFrom.secretKeyRef.name).toBe("coinflow-etl-api-key");
    expect(header).toMatch(/--uri="[^"]*\/graphql"/);
  });

  it("hold no secret value", () => {
    for (const file of files)
      expect(readFileSync(file, "utf8")).not.toMatch(/postgres(ql)?:\/\/[^\s"]*:[^\s"@]*@/);
  });

  it("README shows the same CronJob and says how to deploy each", () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(parseYaml(block)).toEqual(cronJob);
    for (const file of files) expect(readme, file).toContain(file);
  });
});
