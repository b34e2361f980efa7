import { createHash } from "node:crypto";
import type { GraphiQLOptions, Plugin } from "graphql-yoga";

/**
 * GraphiQL served by the service itself. yoga's default page loads its script, stylesheet and
 * Monaco editor workers from a public CDN, so offline it stays blank. The same build ships in
 * @graphql-yoga/render-graphiql (pinned to yoga's version): this serves its pieces from our own
 * origin, so the page names no outside URL. Unlike that package's renderGraphiQL, which inlines
 * ~9 MB into every page load, the assets are separate files under content-hashed names,
 * cached by the browser for good.
 *
 * The bundle is imported on the first GraphiQL request, not at start-up: it would add its
 * ~9 MB of strings to every process's idle memory, and production (explorer off) never needs it.
 */
export const GRAPHIQL_ASSET_PREFIX = "/graphiql/";

interface Asset {
  body: string;
  type: string;
}

interface Bundle {
  /** Hashed asset names the page refers to, by role. */
  names: { js: string; css: string; workers: Record<"editorWorkerService" | "json" | "graphql", string> };
  assets: Map<string, Asset>;
}

const JS = "text/javascript; charset=utf-8";

function hashed(stem: string, ext: string, body: string): string {
  return `${stem}.${createHash("sha256").update(body).digest("hex").slice(0, 12)}.${ext}`;
}

async function loadBundle(): Promise<Bundle> {
  const b = await import("@graphql-yoga/render-graphiql/graphiql");
  const assets = new Map<string, Asset>();
  const add = (stem: string, ext: string, body: string, type: string) => {
    const name = hashed(stem, ext, body);
    assets.set(name, { body, type });
    return name;
  };
  return {
    names: {
      js: add("graphiql", "js", b.js, JS),
      css: add("graphiql", "css", b.css, "text/css; charset=utf-8"),
      // Monaco asks MonacoEnvironment.getWorkerUrl for a worker by these labels.
      workers: {
        editorWorkerService: GRAPHIQL_ASSET_PREFIX + add("editor.worker", "js", b.editorWorkerService, JS),
        json: GRAPHIQL_ASSET_PREFIX + add("json.worker", "js", b.jsonWorker, JS),
        graphql: GRAPHIQL_ASSET_PREFIX + add("graphql.worker", "js", b.graphqlWorker, JS),
      },
    },
    assets,
  };
}

/** JSON safe inside an inline <script>: no "</script>" or "<!--" can close it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(bundle: Bundle, opts: GraphiQLOptions): string {
  const { js, css, workers } = bundle.names;
  // The live page's icon instead of the package's 150 KB data URI.
  const options = { ...opts, favicon: "/favicon.svg" };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(opts.title ?? "GraphiQL")}</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="${GRAPHIQL_ASSET_PREFIX}${css}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${scriptJson(workers)};
      self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => workers[label] };
    </script>
    <script src="${GRAPHIQL_ASSET_PREFIX}${js}"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector("#root"), ${scriptJson(options)});
    </script>
  </body>
</html>
`;
}

/**
 * The page renderer for yoga's `renderGraphiQL` option and the plugin that serves its assets
 * (GET /graphiql/<name>.<hash>.<ext>). Wire both only when the explorer is on.
 */
export function createLocalGraphiQL() {
  let bundle: Promise<Bundle> | null = null;
  const load = () => {
    bundle ??= loadBundle().catch((error) => {
      bundle = null; // a failed import is retried on the next request
      throw error;
    });
    return bundle;
  };
  const assets: Plugin = {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (!url.pathname.startsWith(GRAPHIQL_ASSET_PREFIX)) return;
      if (request.method !== "GET" && request.method !== "HEAD") return;
      const asset = (await load()).assets.get(url.pathname.slice(GRAPHIQL_ASSET_PREFIX.length));
      if (!asset) {
        endResponse(new fetchAPI.Response("not found", { status: 404 }));
        return;
      }
      endResponse(
        new fetchAPI.Response(request.method === "HEAD" ? null : asset.body, {
          status: 200,
          // The name changes with the content: a browser never needs to ask again.
          headers: { "content-type": asset.type, "cache-control": "public, max-age=31536000, immutable" },
        }),
      );
    },
  };
  return {
    render: async (opts: GraphiQLOptions) => page(await load(), opts),
    assets,
  };
}
