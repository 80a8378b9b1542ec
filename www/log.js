// Log lines from JS: what an app records when it ranks with exploration.
// One line per request holds the rank request (every candidate, shown or
// not), the record `ranker.rank(request, { explore })` returned, and the
// user's response to each shown item. `mtfuse log import` turns NDJSON of
// these lines into the Parquet session log the trainer reads; the edge
// worker's POST /log takes the same lines.

/**
 * One log line.
 * @param {object} a
 * @param {string} a.session the session's id
 * @param {number} a.request request index within the session, from 0
 * @param {object} a.rankRequest the request as ranked: {user, context, items}
 * @param {object} a.record the `record` of an exploring rank
 * @param {Array<{signals: Record<string, number>, playS: number}>} a.responses one per shown item, in `record.shown` order
 * @param {boolean} [a.done] this request ended the session
 * @param {number} [a.timestampMs] when it was served (default: now)
 */
export function logLine({ session, request, rankRequest, record, responses, done = false, timestampMs = Date.now() }) {
  if (!record || !Array.isArray(record.shown)) throw new Error("record: expected the record of an exploring rank ({ explore } option)");
  if (!Array.isArray(responses) || responses.length !== record.shown.length) {
    throw new Error(`responses: ${responses?.length ?? "none"} for ${record.shown.length} shown items; give one per shown item, in shown order`);
  }
  const { user = {}, context = {}, items } = rankRequest;
  return {
    session,
    request,
    timestampMs,
    done,
    user,
    context,
    items: items.map(({ id, scores, features = {} }) => ({ id, scores, features })),
    record,
    responses: responses.map(({ signals, playS }) => ({ signals, playS })),
  };
}

/**
 * Fills a response for every objective: an objective the app saw no event
 * for is 0 (shown, not clicked), as the log format wants.
 */
export function response(objectives, events = {}, playS = 0) {
  const signals = {};
  for (const o of objectives) signals[o] = events[o] ?? 0;
  for (const o of Object.keys(events)) if (!objectives.includes(o)) throw new Error(`events.${o}: unknown objective (objectives: ${objectives.join(", ")})`);
  return { signals, playS };
}

/**
 * Collects the lines of sessions as they are served. A session's last line
 * is held back until the next request of that session or `end(session)`,
 * which marks it done: apps rarely know a request is the last when they serve it.
 */
export class SessionLogger {
  #lines = [];
  #open = new Map(); // session → its held-back last line

  /** Adds a line (see `logLine`) for the next request of `line.session`. */
  add(line) {
    const held = this.#open.get(line.session);
    const want = held ? held.request + 1 : 0;
    if (line.request !== want) throw new Error(`request: session "${line.session}" expects request ${want}, got ${line.request}`);
    if (held) this.#lines.push(held);
    if (line.done) {
      this.#lines.push(line);
      this.#open.delete(line.session);
    } else {
      this.#open.set(line.session, line);
    }
  }

  /** Ends `session`: its held-back line is marked done. */
  end(session) {
    const held = this.#open.get(session);
    if (!held) return;
    this.#lines.push({ ...held, done: true });
    this.#open.delete(session);
  }

  /** Ends every open session. */
  endAll() {
    for (const s of [...this.#open.keys()]) this.end(s);
  }

  /** Finished lines so far, as NDJSON. */
  ndjson() {
    return this.#lines.map((l) => JSON.stringify(l) + "\n").join("");
  }

  get lines() {
    return this.#lines.length;
  }
}
