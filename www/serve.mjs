// Static server for the demo: www/ at /, the repository's models/ at /models/.
// Usage: node www/serve.mjs [--port 8080] [--host 127.0.0.1]
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const WWW = fileURLToPath(new URL(".", import.meta.url));
const MODELS = resolve(WWW, "../models");
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json", ".wasm": "application/wasm", ".svg": "image/svg+xml",
  ".png": "image/png", ".ts": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8", ".safetensors": "application/octet-stream",
};

/** Maps a URL path to a file under www/ or models/, refusing escapes. */
function fileFor(urlPath) {
  const path = normalize(decodeURIComponent(urlPath.split("?")[0]));
  const [root, rest] = path.startsWith("/models/") ? [MODELS, path.slice("/models/".length)] : [WWW, path.slice(1)];
  const file = resolve(root, rest || "index.html");
  return file.startsWith(root) ? file : null;
}

export function startServer({ port = 8080, host = "127.0.0.1" } = {}) {
  const server = createServer(async (req, res) => {
    try {
      let file = fileFor(req.url);
      if (file && (await stat(file).catch(() => null))?.isDirectory()) file = join(file, "index.html");
      const body = file && (await readFile(file).catch(() => null));
      if (!body) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${req.url}\n`);
        return;
      }
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" }).end(body);
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(e));
    }
  });
  return new Promise((ok) => server.listen(port, host, () => ok(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
  const server = await startServer({ port: Number(arg("--port", 8080)), host: arg("--host", "127.0.0.1") });
  const { address, port } = server.address();
  console.log(`mtfuse demo: http://${address}:${port}/`);
}
