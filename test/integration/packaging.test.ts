import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ENV_NAMES } from "../../src/config/config.ts";

// No Docker engine on these machines: the wiring of the image and the compose stack is checked
// statically, against the same config schema and npm scripts that CI exercises.
const compose = parseYaml(readFileSync("docker-compose.yml", "utf8"));
const dockerfile = readFileSync("Dockerfile", "utf8");
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const makefile = readFileSync("Makefile", "utf8");

describe("docker-compose.yml", () => {
  it("runs PostgreSQL with a pinned major, a healthcheck and a named volume", () => {
    const pg = compose.services.postgres;
    expect(pg.image).toMatch(/^postgres:\d+$/);
    expect(pg.healthcheck.test.join(" ")).toContain("pg_isready");
    expect(pg.volumes[0]).toMatch(/^pgdata:/);
    expect(compose.volumes).toHaveProperty("pgdata");
    expect(pg.ports).toBeUndefined();
  });

  it("runs the app on port 4000 after a healthy database, with env from .env and GraphiQL on", () => {
    const app = compose.services.app;
    expect(app.ports).toEqual(["4000:4000"]);
    expect(app.depends_on.postgres.condition).toBe("service_healthy");
    expect(app.env_file[0].path).toBe(".env");
    expect(app.environment.GRAPHQL_EXPLORER).toBe("true");
    expect(app.environment.DATABASE_URL).toMatch(/^postgresql:\/\/postgres@postgres:5432\//);
  });

  it("only sets variables the config schema knows, and no secret", () => {
    for (const service of ["app", "app-replica"]) {
      for (const name of Object.keys(compose.services[service].environment))
        expect(ENV_NAMES).toContain(name);
    }
    expect(readFileSync("docker-compose.yml", "utf8")).not.toMatch(/API_KEY:|PASSWORD:/);
  });

  it("has a scale profile with a second replica for cross-process fan-out", () => {
    const replica = compose.services["app-replica"];
    expect(replica.profiles).toEqual(["scale"]);
    expect(replica.ports).toEqual(["4001:4000"]);
    expect(replica.environment.DATABASE_URL).toBe(compose.services.app.environment.DATABASE_URL);
  });
});

describe("Dockerfile", () => {
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\w+))?/gm)];

  it("is multi-stage on a pinned Node 22 image", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s[1]).toMatch(/^node:22\.\d+\.\d+-/);
  });

  it("installs with npm ci, and the runtime stage without dev dependencies", () => {
    const runtime = dockerfile.slice(stages.at(-1)!.index);
    expect(dockerfile).toMatch(/RUN npm ci /);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    // The compiled service (the generated Prisma client inside), never the TypeScript sources.
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).not.toMatch(/\/app\/src\b/);
  });

  it("runs as a non-root user in production mode with a /health healthcheck", () => {
    const runtime = dockerfile.slice(stages.at(-1)!.index);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/NODE_ENV=production/);
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*\/health/);
    expect(runtime).toMatch(/EXPOSE 4000/);
  });

  it("starts node itself on the compiled service, as npm start does, with no dev tool at runtime", () => {
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/main\.js", "serve"\]$/m);
    expect(pkg.scripts.start).toBe("exec node dist/main.js serve");
    for (const tool of ["tsx", "typescript", "prisma"]) expect(pkg.dependencies).not.toHaveProperty(tool);
    expect(dockerfile).toMatch(/RUN npm run generate && npm run typecheck && npm run build/);
  });
});

describe("Makefile", () => {
  it.each(["help", "up", "down", "logs", "test", "etl", "migrate", "bench", "demo", "schema"])(
    "has the %s target, and it is a thin call to npm or docker compose",
    (target) => {
      const m = new RegExp(`^${target}:.*##.*\\n((?:\\t.*\\n)+)`, "m").exec(makefile);
      expect(m, target).not.toBeNull();
      if (target !== "help") expect(m![1]).toMatch(/^\t(npm (run )?[\w:-]+|docker compose)/);
    },
  );

  it("calls only npm scripts that exist", () => {
    for (const m of makefile.matchAll(/npm run ([\w:-]+)/g)) expect(pkg.scripts).toHaveProperty(m[1]!);
  });
});
