import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type TestStack } from "../support/app.ts";

// Every page the service serves, and everything those pages load, must come from the service
// itself: an air-gapped operator gets the same live page and GraphiQL as anyone.
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

/** The pages a browser user reaches: the live page and GraphiQL. */
const PAGES = ["/", "/graphql"];

/**
 * What a document makes a browser fetch. HTML: src/href/action attributes, and every quoted
 * URL or absolute path in inline scripts (GraphiQL's worker URLs live there). CSS: url() and
 * @import. JS: static and dynamic imports, workers, importScripts. Bundled libraries mention
 * many URLs in strings and comments (XML namespaces, docs links) that no browser fetches: a JS
 * file is judged by the forms that load something, with a URL or path as their argument (a bare
 * specifier such as "ws" in a bundle's Node branch is nothing a browser can fetch).
 */
function references(type: string, body: string): string[] {
  const found: string[] = [];
  const add = (re: RegExp) => {
    for (const m of body.matchAll(re)) {
      const ref = m.slice(1).find((g) => g !== undefined);
      if (ref && !ref.startsWith("data:")) found.push(ref);
    }
  };
  if (type.includes("html")) {
    // Quoted or not: minified pages (yoga's own GraphiQL page among them) drop the quotes.
    add(/\s(?:src|href|action|poster|srcset)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi);
    for (const script of body.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)) {
      for (const m of (script[1] ?? "").matchAll(/["'`]((?:https?:|wss?:)?\/\/[^"'`\s]+|\/[\w./-]+)["'`]/g))
        found.push(m[1]!);
    }
    add(/url\(\s*["']?([^"')]+)["']?\s*\)/gi);
  } else if (type.includes("css")) {
    add(/url\(\s*["']?([^"')]+)["']?\s*\)/gi);
    add(/@import\s+["']([^"']+)["']/gi);
  } else if (type.includes("javascript")) {
    // A static import starts a statement (bundled parsers quote `import x from "./module"` in
    // their error messages).
    add(/(?:^|[;}])\s*import\s*(?:[\w$*{}\s,]+from\s*)?["']([^"']+)["']/gm);
    add(/\bimport\(\s*["']([^"']+)["']\s*\)/g);
    add(/\bnew\s+(?:Shared)?Worker\(\s*["']([^"']+)["']/g);
    add(/\bimportScripts\(\s*["']([^"']+)["']/g);
    add(/\bfetch\(\s*["']((?:https?:)?\/\/[^"']+)["']/g);
    return found.filter((ref) => /^(?:[a-z]+:|\/|\.\.?\/)/i.test(ref));
  }
  return found;
}

describe("pages the service serves", () => {
  it("reference no URL outside the machine, and everything they load is served", async () => {
    const base = stack.http.url;
    const seen = new Map<string, number>();
    const outside: string[] = [];
    const queue = PAGES.map((p) => new URL(p, base).toString());
    while (queue.length > 0) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      const res = await fetch(url, { headers: { accept: "text/html,*/*" } });
      seen.set(url, res.status);
      const type = res.headers.get("content-type") ?? "";
      const body = await res.text();
      for (const ref of references(type, body)) {
        const target = new URL(ref, url);
        if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) {
          outside.push(`${url} → ${ref}`);
          continue;
        }
        if (target.protocol.startsWith("ws")) continue; // graphql-ws: the same path, checked below
        target.hash = "";
        queue.push(target.toString());
      }
    }
    expect(outside, outside.join("\n")).toEqual([]);
    // The crawl reached GraphiQL's own assets (script, stylesheet, three editor workers) and the
    // live page's (its modules, style, icon, the graphql-ws client).
    const paths = [...seen.keys()].map((u) => new URL(u).pathname);
    expect(
      paths.filter((p) => p.startsWith("/graphiql/")),
      paths.join("\n"),
    ).toHaveLength(5);
    const modules = readdirSync("public").filter((f) => f.endsWith(".js"));
    expect(modules.length).toBeGreaterThan(5);
    expect(paths).toEqual(
      expect.arrayContaining([...modules.map((f) => `/${f}`), "/style.css", "/favicon.svg"]),
    );
    expect(paths.some((p) => p.startsWith("/vendor/graphql-ws/"))).toBe(true);
    const broken = [...seen].filter(([, status]) => status !== 200);
    expect(broken).toEqual([]);
  });

  it("serve GraphiQL's assets with immutable caching, and 404 for a name it never gave out", async () => {
    const html = await (
      await fetch(`${stack.http.url}/graphql`, { headers: { accept: "text/html" } })
    ).text();
    const script = /<script src="(\/graphiql\/graphiql\.[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const res = await fetch(`${stack.http.url}${script}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    expect((await res.text()).length).toBeGreaterThan(1_000_000);
    expect((await fetch(`${stack.http.url}/graphiql/graphiql.000000000000.js`)).status).toBe(404);
  });

  it("serve no GraphiQL page or asset when the explorer is off (production)", async () => {
    const prod = await startStack({ explorer: false });
    try {
      const html = await fetch(`${prod.http.url}/graphql`, { headers: { accept: "text/html" } });
      expect(await html.text()).not.toContain("YogaGraphiQL");
      const asset = /graphiql\.[0-9a-f]{12}\.js/.exec(
        await (await fetch(`${stack.http.url}/graphql`, { headers: { accept: "text/html" } })).text(),
      )?.[0];
      expect((await fetch(`${prod.http.url}/graphiql/${asset}`)).status).toBe(404);
    } finally {
      await prod.close();
    }
  });
});
