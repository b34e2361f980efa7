import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_NAMES } from "../../src/config/config.ts";

const readme = readFileSync("README.md", "utf8");
const envExample = readFileSync(".env.example", "utf8");

describe("configuration docs", () => {
  it("README's configuration table lists exactly the variables the config schema reads", () => {
    const section = readme.split("## Configuration")[1]?.split("\n## ")[0] ?? "";
    const names = [...section.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual([...ENV_NAMES].sort());
  });

  it(".env.example lists exactly the variables the config schema reads", () => {
    const names = [...envExample.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual([...ENV_NAMES].sort());
  });
});
