-- Raw serving events -> the mtfuse session log (docs/log-format.md).
--
-- Inputs (views registered by etl/sessions.py): impressions_raw, one row per
-- ranked candidate, and events_raw, one row per response event. Output: the
-- view session_log, in the session log's columns plus user_id (to partition
-- by), and etl_problems, every row left out and why.
--
-- The same text runs on DuckDB and on Spark SQL. sessions.py fills in the
-- {placeholders} before either engine sees it: {q:name} quotes an identifier
-- (DuckDB "name", Spark `name`: the one dialect difference), and the {...}
-- lists expand over the feature, score and action columns named in the
-- session log's metadata. Statements end with ';' at the end of a line.

-- 1. Impression rows and the first problem of each, if any.
CREATE OR REPLACE TEMPORARY VIEW impressions_checked AS
SELECT i.*,
  CASE
    WHEN request_id IS NULL THEN 'request_id is null'
    WHEN user_id IS NULL THEN 'user_id is null'
    WHEN timestamp_ms IS NULL THEN 'timestamp_ms is null'
    WHEN timestamp_ms > {now_ms} THEN 'timestamp_ms is in the future'
    WHEN candidate IS NULL OR candidate < 0 THEN 'candidate is null or negative'
    WHEN candidate_id IS NULL THEN 'candidate_id is null'
    {float_checks}
    WHEN explore IS NULL OR isnan(explore) OR explore < 0 OR explore > 2 THEN 'explore is null, NaN or outside [0, 2]'
    WHEN explore_per_item IS NULL THEN 'explore_per_item is null'
    WHEN behaviour IS NULL THEN 'behaviour is null'
    WHEN shown IS NULL THEN 'shown is null'
    WHEN shown AND (position IS NULL OR position < 0) THEN 'shown without a position'
    WHEN NOT shown AND position IS NOT NULL THEN 'a position but not shown'
    ELSE NULL
  END AS problem
FROM impressions_raw i;

-- 2. Requests that cannot be used whole: a bad row, or candidates and
-- positions that do not number 0, 1, 2, ... once each, or rows that disagree.
CREATE OR REPLACE TEMPORARY VIEW request_problems AS
SELECT request_id,
  CASE
    WHEN COUNT(problem) > 0 THEN concat('a candidate row: ', MIN(problem))
    WHEN COUNT(*) <> COUNT(DISTINCT candidate) THEN 'a candidate appears twice'
    WHEN MIN(candidate) <> 0 OR MAX(candidate) <> COUNT(*) - 1 THEN 'candidates do not number 0, 1, 2, ...'
    WHEN COUNT(position) <> COUNT(DISTINCT position) THEN 'two candidates at one position'
    WHEN COUNT(position) > 0 AND MAX(position) <> COUNT(position) - 1 THEN 'positions do not number 0, 1, 2, ...'
    WHEN COUNT(DISTINCT user_id) > 1 OR COUNT(DISTINCT timestamp_ms) > 1 OR COUNT(DISTINCT coalesce(session_hint, '')) > 1 THEN 'rows disagree on user, time or session'
    {request_consistency_checks}
    ELSE NULL
  END AS problem
FROM impressions_checked
WHERE request_id IS NOT NULL
GROUP BY request_id;

CREATE OR REPLACE TEMPORARY VIEW requests AS
SELECT request_id, MIN(user_id) AS user_id, MIN(session_hint) AS session_hint, MIN(timestamp_ms) AS timestamp_ms
FROM impressions_checked
WHERE request_id IN (SELECT request_id FROM request_problems WHERE problem IS NULL)
GROUP BY request_id;

-- 3. Sessions: the app's session id where it sent one; else a user's
-- requests split where {gap_ms} ms pass without one.
CREATE OR REPLACE TEMPORARY VIEW request_gaps AS
SELECT r.*,
  CASE WHEN timestamp_ms - LAG(timestamp_ms) OVER (PARTITION BY user_id ORDER BY timestamp_ms, request_id) <= {gap_ms} THEN 0 ELSE 1 END AS starts_session
FROM requests r
WHERE session_hint IS NULL;

CREATE OR REPLACE TEMPORARY VIEW request_sessions AS
SELECT request_id, user_id, timestamp_ms,
  SUM(starts_session) OVER (PARTITION BY user_id ORDER BY timestamp_ms, request_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_number
FROM request_gaps;

CREATE OR REPLACE TEMPORARY VIEW sessionised AS
SELECT request_id, user_id, timestamp_ms,
  concat('user-', user_id, '-', CAST(MIN(timestamp_ms) OVER (PARTITION BY user_id, session_number) AS STRING)) AS session_id
FROM request_sessions
UNION ALL
SELECT request_id, user_id, timestamp_ms, session_hint AS session_id
FROM requests
WHERE session_hint IS NOT NULL;

-- Requests numbered 0, 1, 2, ... by time within their session; the last is done.
CREATE OR REPLACE TEMPORARY VIEW numbered AS
SELECT request_id, user_id, timestamp_ms, session_id,
  ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY timestamp_ms, request_id) - 1 AS request,
  COUNT(*) OVER (PARTITION BY session_id) AS session_requests
FROM sessionised;

-- 4. Events: checked, then matched to a shown candidate of a usable request
-- and kept if they arrive within {lateness_ms} ms of it; duplicates (same
-- request, candidate and signal) count once, with their largest value.
CREATE OR REPLACE TEMPORARY VIEW events_checked AS
SELECT e.*,
  CASE
    WHEN e.request_id IS NULL OR e.candidate_id IS NULL OR e.signal IS NULL OR e.value IS NULL OR e.timestamp_ms IS NULL THEN 'malformed: a field is null'
    WHEN e.signal NOT IN ({signal_names}) THEN 'malformed: unknown signal'
    WHEN isnan(e.value) OR abs(e.value) > 3.4e38 OR e.value < 0 THEN 'malformed: value is NaN, infinite or negative'
    WHEN e.timestamp_ms > {now_ms} THEN 'timestamp_ms is in the future'
    WHEN known.request_id IS NULL THEN 'no impression has its request_id'
    WHEN n.request_id IS NULL THEN 'its request was left out'
    WHEN shown.request_id IS NULL THEN 'its candidate was not shown'
    WHEN e.timestamp_ms < n.timestamp_ms THEN 'before its impression'
    WHEN e.timestamp_ms > n.timestamp_ms + {lateness_ms} THEN 'late: after the lateness window'
    ELSE NULL
  END AS problem
FROM events_raw e
LEFT JOIN (SELECT DISTINCT request_id FROM impressions_checked) known ON known.request_id = e.request_id
LEFT JOIN numbered n ON n.request_id = e.request_id
LEFT JOIN (SELECT DISTINCT request_id, candidate_id FROM impressions_checked WHERE shown) shown
  ON shown.request_id = e.request_id AND shown.candidate_id = e.candidate_id;

CREATE OR REPLACE TEMPORARY VIEW responses AS
SELECT request_id, candidate_id,
  {signal_pivot},
  COUNT(*) AS events,
  COUNT(*) - COUNT(DISTINCT signal) AS duplicates
FROM events_checked
WHERE problem IS NULL
GROUP BY request_id, candidate_id;

-- 5. The session log: every candidate of every usable request.
CREATE OR REPLACE TEMPORARY VIEW session_log AS
SELECT
  n.session_id AS session_id,
  CAST(n.request AS INT) AS request,
  n.timestamp_ms AS timestamp_ms,
  CAST(i.candidate AS INT) AS candidate,
  {float_columns},
  CAST(i.explore AS FLOAT) AS explore,
  i.explore_per_item AS explore_per_item,
  i.behaviour AS behaviour,
  i.shown AS shown,
  CAST(i.position AS INT) AS position,
  {signal_columns},
  n.request = n.session_requests - 1 AS done,
  n.user_id AS user_id
FROM impressions_checked i
JOIN numbered n ON n.request_id = i.request_id
LEFT JOIN responses r ON r.request_id = i.request_id AND r.candidate_id = i.candidate_id AND i.shown;

-- 6. Everything left out, one row each, for the report.
CREATE OR REPLACE TEMPORARY VIEW etl_problems AS
SELECT 'impression' AS kind, problem, request_id, CAST(candidate AS STRING) AS detail
FROM impressions_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'request' AS kind, problem, request_id, '' AS detail
FROM request_problems WHERE problem IS NOT NULL
UNION ALL
SELECT 'event' AS kind, problem, request_id, concat(coalesce(candidate_id, '?'), ' ', coalesce(signal, '?')) AS detail
FROM events_checked WHERE problem IS NOT NULL;
