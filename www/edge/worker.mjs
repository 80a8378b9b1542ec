// mtfuse at the edge: a Workers-style ES-module fetch handler that reranks
// with the bundled enhanced model. Runs under workerd (config.capnp) and
// deploys to Cloudflare as it is (wrangler.toml).
//
//   POST /rank    {user, context, items: [{id, scores, features}], topK?, withActions?, explore?}
//                 with explore {width, seed?, perItem?}: also the log record
//   POST /log     one log line (www/log.js) or an array of them; checked, then
//                 written as NDJSON to the LOG_SINK service binding
//   GET  /schema  the model's features and objectives
//   GET  /health  liveness, build and model facts
//
// Every error is JSON {error, status}; the isolate keeps serving after it,
// after a trap too: the request that trapped gets a 500 and the module is
// re-instantiated for the next one.
//
// It imports mtfuse as the npm package (`mtfuse/worker`). workerd resolves a
// bare import against the importer's folder, so config.capnp names the
// package's modules www/edge/mtfuse/…; wrangler resolves it by its alias.

import { loadMtfuseSync, TrapError } from "mtfuse/worker";
import modelBytes from "../../models/enhanced.safetensors";

/** Defaults of the limits; the `MAX_BODY_BYTES` and `MAX_ITEMS` vars override them. */
export const DEFAULT_LIMITS = { maxBodyBytes: 1 << 20, maxItems: 1000 };

// One ranker per isolate: built on the first request, reused after. After a
// trap the package's ranker throws a TrapError and rebuilds itself in a new
// instance on its next call.
let ranker = null;
function getRanker() {
  ranker ??= loadMtfuseSync().Ranker.fromBytes(new Uint8Array(modelBytes));
  return ranker;
}

/** Rethrows a trap as it is, so that it is not reported as bad input. */
function rethrowTrap(e) {
  if (e instanceof TrapError) throw e;
}

class HttpError extends Error {
  constructor(status, message, headers = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const json = (body, status = 200, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });

function limits(env) {
  const int = (name, fallback) => {
    const raw = env?.[name];
    if (raw === undefined || raw === "") return fallback;
    const v = Number(raw);
    if (!Number.isInteger(v) || v <= 0) throw new HttpError(500, `config: ${name} must be a positive integer, got "${raw}"`);
    return v;
  };
  return { maxBodyBytes: int("MAX_BODY_BYTES", DEFAULT_LIMITS.maxBodyBytes), maxItems: int("MAX_ITEMS", DEFAULT_LIMITS.maxItems) };
}

/** Reads the body as text, stopping as soon as it passes `max` bytes. */
async function readBody(request, max) {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) throw new HttpError(413, `body: ${declared} bytes exceeds the limit of ${max}`);
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new HttpError(413, `body: more than ${max} bytes exceeds the limit`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

/** Reads a JSON body: content type, size limit, UTF-8, syntax. */
async function readJson(request, env) {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, `content-type: expected application/json, got ${type === "" ? "none" : `"${type}"`}`);
  }
  const lim = limits(env);
  let text;
  try {
    text = await readBody(request, lim.maxBodyBytes);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, `body: not valid UTF-8 (${e.message})`);
  }
  try {
    return { body: JSON.parse(text), lim };
  } catch (e) {
    throw new HttpError(400, `body: malformed JSON: ${e.message}`);
  }
}

async function rank(request, env) {
  const { body, lim } = await readJson(request, env);
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "body: expected a JSON object");
  if (Array.isArray(body.items) && body.items.length > lim.maxItems) {
    throw new HttpError(413, `items: ${body.items.length} items exceeds the limit of ${lim.maxItems}`);
  }
  const { explore, ...rankRequest } = body;
  const r = getRanker();
  let out;
  try {
    out = explore === undefined ? r.rank(rankRequest) : r.rank(rankRequest, { explore });
  } catch (e) {
    rethrowTrap(e);
    // The core's validation errors name the field: "items[2].scores.click: is NaN, …".
    throw new HttpError(400, e.message.replace(/^options\./, ""));
  }
  return explore === undefined ? json({ items: out, model: r.kind }) : json({ items: out.items, model: r.kind, record: out.record });
}

/**
 * Checks log lines with the core (the same errors as /rank, prefixed with
 * the line's index for an array) and forwards them, as NDJSON, to LOG_SINK
 * with PUT /<unique name>.ndjson: a writable disk under workerd, another
 * worker or a queue's producer in production. Nothing is acknowledged
 * before the sink has it, so a client may retry any failure.
 */
async function log(request, env) {
  const { body } = await readJson(request, env);
  const lines = Array.isArray(body) ? body : [body];
  if (lines.length === 0) throw new HttpError(400, "body: an empty array holds no log line");
  const r = getRanker();
  lines.forEach((line, i) => {
    const at = Array.isArray(body) ? `[${i}].` : "";
    if (line === null || typeof line !== "object" || Array.isArray(line)) throw new HttpError(400, `${at ? `${at.slice(0, -1)}: ` : "body: "}expected a log line object`);
    try {
      r.checkLogLine(line);
    } catch (e) {
      rethrowTrap(e);
      throw new HttpError(400, `${at}${e.message}`);
    }
  });
  if (env?.LOG_SINK === undefined) throw new HttpError(503, "config: no LOG_SINK binding, so POST /log has nowhere to write");
  const name = `${Date.now()}-${crypto.randomUUID()}.ndjson`;
  let res;
  try {
    res = await env.LOG_SINK.fetch(`http://log-sink/${name}`, { method: "PUT", body: lines.map((l) => JSON.stringify(l) + "\n").join("") });
  } catch (e) {
    throw new HttpError(502, `log sink: ${e.message}`);
  }
  if (!res.ok) throw new HttpError(502, `log sink: status ${res.status}`);
  return json({ accepted: lines.length, file: name }, 202);
}

const ROUTES = {
  "/rank": { POST: rank },
  // Only with the MTFUSE_TEST_TRAP binding: traps inside the ranker, for the trap-recovery test.
  "/__trap": {
    POST: (_, env) => {
      if (env?.MTFUSE_TEST_TRAP !== "1") throw new HttpError(404, "route: no /__trap; try POST /rank, POST /log, GET /schema or GET /health");
      getRanker().__trapForTests();
    },
  },
  "/log": { POST: log },
  "/schema": { GET: () => json(getRanker().schema()) },
  "/health": {
    GET: () => {
      const model = getRanker().kind; // also initialises the wasm
      const m = loadMtfuseSync();
      return json({ ok: true, version: m.version(), kernel: m.kernel(), model, wasmMemoryBytes: m.memoryBytes() });
    },
  },
};

export default {
  async fetch(request, env) {
    try {
      const { pathname } = new URL(request.url);
      const route = ROUTES[pathname];
      if (route === undefined) throw new HttpError(404, `route: no ${pathname}; try POST /rank, POST /log, GET /schema or GET /health`);
      const handler = route[request.method];
      if (handler === undefined) {
        const allow = Object.keys(route).join(", ");
        throw new HttpError(405, `method: ${request.method} is not allowed on ${pathname}; use ${allow}`, { allow });
      }
      return await handler(request, env);
    } catch (e) {
      if (e instanceof HttpError) return json({ error: e.message, status: e.status }, e.status, e.headers);
      if (e instanceof TrapError) {
        return json({ error: `internal: the ranker trapped (${e.cause.message}) and was restarted; retry the request`, status: 500 }, 500);
      }
      // Anything else is a bug: report it, and keep the isolate serving.
      return json({ error: `internal: ${e?.message ?? e}`, status: 500 }, 500);
    }
  },
};
