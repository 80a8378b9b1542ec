// Runs the demo's A/B test off the main thread: every policy on the same
// simulated users and random streams, in chunks so progress can be shown.
import init, { Ranker, Simulator } from "./pkg/demo/mtfuse.js";

const CHUNK = 25;

/** Mean and 95% CI half-width (normal approximation). */
function meanCi(xs) {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, ci: 1.96 * Math.sqrt(variance / n) };
}

self.onmessage = async ({ data }) => {
  try {
    await init();
    const simBytes = new Uint8Array(await (await fetch(new URL("./models/simulator.safetensors", import.meta.url))).arrayBuffer());
    const sim = Simulator.fromBytes(simBytes);
    const total = data.policies.length * data.sessions;
    let done = 0;
    const rows = [];
    for (const p of data.policies) {
      const ranker = Ranker.fromBytes(p.bytes);
      const cols = [[], [], [], []];
      for (let first = 0; first < data.sessions; first += CHUNK) {
        const count = Math.min(CHUNK, data.sessions - first);
        const out = sim.runSessions(ranker, first, count, data.seed);
        for (let s = 0; s < count; s++) for (let c = 0; c < 4; c++) cols[c].push(out[s * 4 + c]);
        done += count;
        self.postMessage({ type: "progress", done, total });
      }
      rows.push({ name: p.name, sessions: data.sessions, ret: meanCi(cols[0]), depth: meanCi(cols[1]), longViews: meanCi(cols[2]), interactions: meanCi(cols[3]) });
    }
    self.postMessage({ type: "done", rows });
  } catch (e) {
    self.postMessage({ type: "error", message: e.message });
  }
};
