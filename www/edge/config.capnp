# workerd config: serves the mtfuse edge worker on 127.0.0.1:8787.
#   node_modules/.bin/workerd serve www/edge/config.capnp [--socket-addr http=127.0.0.1:PORT]
# Build the wasm first (scripts/build-wasm.sh). Module names mirror the repo
# paths so the worker's relative imports resolve as they do under wrangler.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "mtfuse", worker = .mtfuseWorker),
    # Where POST /log writes NDJSON files; `--directory-path log-sink=DIR` moves it.
    (name = "log-sink", disk = (path = "../../target/edge-logs", writable = true)),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "mtfuse") ],
  # V8 otherwise lets the heap grow lazily under load (a hello-world worker
  # passes 300 MB RSS after 64k requests); the live set here is a few MB.
  v8Flags = [ "--max-semi-space-size=1", "--max-old-space-size=24" ],
);

const mtfuseWorker :Workerd.Worker = (
  modules = [
    (name = "www/edge/worker.mjs", esModule = embed "worker.mjs"),
    # The package `mtfuse` (its `worker` export), laid out as in node_modules:
    # the worker's bare import "mtfuse/worker" resolves against its folder.
    (name = "www/edge/mtfuse/worker", esModule = embed "../mtfuse-worker.js"),
    (name = "www/edge/mtfuse/mtfuse.js", esModule = embed "../mtfuse.js"),
    (name = "www/edge/mtfuse/pkg/simd/mtfuse.js", esModule = embed "../pkg/simd/mtfuse.js"),
    (name = "www/edge/mtfuse/pkg/simd/mtfuse_bg.wasm", wasm = embed "../pkg/simd/mtfuse_bg.wasm"),
    (name = "models/enhanced.safetensors", data = embed "../../models/enhanced.safetensors"),
  ],
  compatibilityDate = "2025-01-01",
  bindings = [
    (name = "MAX_BODY_BYTES", text = "1048576"),
    (name = "MAX_ITEMS", text = "1000"),
    (name = "LOG_SINK", service = "log-sink"),
  ],
);
