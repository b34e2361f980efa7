import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize } from "node:path";

const ROOT = join(process.cwd(), "public");
// The live page imports the graphql-ws browser client straight from node_modules (no build step).
const VENDOR = {
  prefix: "/vendor/graphql-ws/",
  root: join(process.cwd(), "node_modules", "graphql-ws", "dist"),
};
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Serves the live prices page and its assets from public/. Returns false when there is no such file. */
export async function serveStatic(path: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const vendor = path.startsWith(VENDOR.prefix);
  const root = vendor ? VENDOR.root : ROOT;
  const relative = normalize(
    vendor ? path.slice(VENDOR.prefix.length - 1) : path === "/" ? "/index.html" : path,
  );
  const file = join(root, relative);
  if (!file.startsWith(`${root}/`) || !TYPES[extname(file)]) return false;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return false;
  }
  res.writeHead(200, { "content-type": TYPES[extname(file)]!, "cache-control": "no-cache" });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
