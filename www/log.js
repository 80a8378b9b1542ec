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

// Raw serving events (docs/log-format.md): what a serving system logs when
// responses arrive on their own, later, from the client. The ETL job
// (etl/sessions.py) joins and sessionises them into the session log.

/**
 * Impression rows of one exploring rank: one per candidate, shown or not,
 * with the columns of the raw impression format.
 * @param {object} a
 * @param {string} a.requestId unique per request; events name it
 * @param {string} a.userId the user
 * @param {string|null} [a.sessionHint] the app's session id, if it has one
 * @param {object} a.rankRequest the request as ranked: {user, context, items: [{id, scores, features}]}
 * @param {object} a.record the `record` of an exploring rank
 * @param {object} a.schema `ranker.schema()`: feature and objective names in order
 * @param {number} [a.timestampMs] when it was served (default: now)
 */
export function impressionRows({ requestId, userId, sessionHint = null, rankRequest, record, schema, timestampMs = Date.now() }) {
  if (typeof requestId !== "string" || requestId === "") throw new Error("requestId: expected a non-empty string");
  if (typeof userId !== "string" || userId === "") throw new Error("userId: expected a non-empty string");
  if (!record || !Array.isArray(record.shown) || !Array.isArray(record.actions)) throw new Error("record: expected the record of an exploring rank ({ explore } option)");
  const { user = {}, context = {}, items } = rankRequest;
  if (!Array.isArray(items) || record.actions.length !== items.length) throw new Error(`record.actions: ${record.actions.length} rows for ${items?.length ?? "no"} items`);
  const position = new Map(record.shown.map((c, p) => [c, p]));
  const k = schema.objectives.length;
  const group = (prefix, names, values, where) =>
    names.map((n) => {
      const v = values?.[n];
      if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${where}.${n}: ${v === undefined ? "is missing" : `is ${v}`}, expected a finite number`);
      return [`${prefix}.${n}`, v];
    });
  const shared = Object.fromEntries([...group("user", schema.user, user, "user"), ...group("context", schema.context, context, "context")]);
  return items.map((item, c) => {
    const actions = (prefix, row) => [0, 1].flatMap((half) => schema.objectives.map((o, j) => [`${prefix}.${half ? "bias" : "power"}.${o}`, row[half * k + j]]));
    return {
      request_id: requestId,
      session_hint: sessionHint,
      user_id: userId,
      timestamp_ms: timestampMs,
      candidate: c,
      candidate_id: String(item.id),
      ...shared,
      ...Object.fromEntries(group("item", schema.item, item.features, `items[${c}].features`)),
      ...Object.fromEntries(group("score", schema.objectives, item.scores, `items[${c}].scores`)),
      ...Object.fromEntries(actions("action", record.actions[c])),
      ...Object.fromEntries(actions("base", record.base[c])),
      explore: record.explore,
      explore_per_item: record.perItem,
      behaviour: record.behaviour,
      shown: position.has(c),
      position: position.get(c) ?? null,
    };
  });
}

/**
 * One response event: `signal` (an objective, or "play_s" for seconds
 * watched) of a shown candidate, with its own timestamp.
 * @param {object} a
 * @param {string} a.requestId the request whose impression it answers
 * @param {string|number} a.candidateId the shown item's id
 * @param {string} a.signal an objective name or "play_s"
 * @param {number} [a.value] 1 for an event (default), seconds for play_s
 * @param {number} [a.timestampMs] when it happened (default: now)
 * @param {string[]} [a.objectives] when given, `signal` must be one of them or "play_s"
 */
export function responseEvent({ requestId, candidateId, signal, value = 1, timestampMs = Date.now(), objectives }) {
  if (typeof requestId !== "string" || requestId === "") throw new Error("requestId: expected a non-empty string");
  if (candidateId === undefined || candidateId === null) throw new Error("candidateId: is missing");
  if (typeof signal !== "string" || (objectives && signal !== "play_s" && !objectives.includes(signal))) {
    throw new Error(`signal: ${JSON.stringify(signal)} is not an objective${objectives ? ` (${objectives.join(", ")})` : ""} or "play_s"`);
  }
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new Error(`value: ${value} is not a finite number ≥ 0`);
  if (!Number.isInteger(timestampMs)) throw new Error(`timestampMs: ${timestampMs} is not an integer`);
  return { request_id: requestId, candidate_id: String(candidateId), signal, value, timestamp_ms: timestampMs };
}
