import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ownerIsGone } from "./run-admission.ts";

describe("ownerIsGone", () => {
  const self = `${hostname()}:${process.pid}`;

  it("is false for a live process of this host, and for this process", () => {
    expect(ownerIsGone(self, self)).toBe(false);
    expect(ownerIsGone(`${hostname()}:${process.ppid}`, self)).toBe(false);
  });

  it("is true for a process of this host that has exited", () => {
    const child = spawnSync(process.execPath, ["-e", "0"]);
    expect(child.status).toBe(0);
    expect(ownerIsGone(`${hostname()}:${child.pid}`, self)).toBe(true);
  });

  it("is false for another host's process, a missing owner and a malformed one (nothing to tell)", () => {
    expect(ownerIsGone("elsewhere:1", self)).toBe(false);
    expect(ownerIsGone(null, self)).toBe(false);
    expect(ownerIsGone(`${hostname()}:abc`, self)).toBe(false);
    expect(ownerIsGone(`${hostname()}:0`, self)).toBe(false);
  });
});
