//! NDJSON log lines (what apps, the demo page and the edge worker send) into
//! the Parquet session log. Lines arrive in any order, sessions interleaved;
//! the importer groups them by session, checks each line as the worker does
//! and each session's sequence as the reader does, writes to a temporary
//! file, reads it back through the validating reader, and only then moves it
//! into place: a failed import leaves no log behind.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fusion::ActionSpace;
use crate::log_line::LogLine;
use crate::logs::{stream_logs, LogError, LogSchema, LoggedRequest, SessionLogWriter, LOG_FORMAT_VERSION};
use crate::schema::{FeatureGroup, Schema};

/// The reward the trainer will optimise: the business's choice, not the
/// ranker's, so the importer takes it from a file
/// (`mtfuse log reward` prints the simulator's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardSpec {
    /// Weight of each objective's signal, by objective name.
    pub reward: BTreeMap<String, f32>,
    pub reward_play_s: f32,
    pub group_a: Vec<String>,
    pub gamma: f32,
}

impl RewardSpec {
    pub fn of(log: &LogSchema) -> RewardSpec {
        RewardSpec { reward: log.objectives.iter().cloned().zip(log.reward.iter().copied()).collect(), reward_play_s: log.reward_play_s, group_a: log.group_a.clone(), gamma: log.gamma }
    }
}

/// The log schema of lines ranked under `schema`, with `reward`.
pub fn log_schema(schema: &Schema, actions: &ActionSpace, reward: &RewardSpec) -> Result<LogSchema, LogError> {
    let bad = |problem: String| LogError::Reward(problem);
    if let Some(o) = reward.reward.keys().find(|o| !schema.objectives.contains(o)) {
        return Err(bad(format!("reward names \"{o}\", which is not an objective of the blob ({})", schema.objectives.join(", "))));
    }
    let weights = schema.objectives.iter().map(|o| reward.reward.get(o).copied().ok_or_else(|| bad(format!("reward has no weight for objective \"{o}\"")))).collect::<Result<Vec<f32>, _>>()?;
    if !(reward.gamma.is_finite() && (0.0..1.0).contains(&reward.gamma)) || weights.iter().chain([&reward.reward_play_s]).any(|w| !w.is_finite()) {
        return Err(bad(format!("weights must be finite and gamma in [0, 1), got gamma {}", reward.gamma)));
    }
    let names = |g| schema.names(g).map(str::to_string).collect();
    let s = LogSchema {
        version: LOG_FORMAT_VERSION,
        objectives: schema.objectives.clone(),
        user: names(FeatureGroup::User),
        context: names(FeatureGroup::Context),
        item: names(FeatureGroup::Item),
        action_low: actions.lo.clone(),
        action_high: actions.hi.clone(),
        reward: weights,
        reward_play_s: reward.reward_play_s,
        group_a: reward.group_a.clone(),
        gamma: reward.gamma,
    };
    match s.problem() {
        Some(p) => Err(bad(p)),
        None => Ok(s),
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub lines: usize,
    pub sessions: usize,
    pub rows: usize,
}

/// Imports the lines of `inputs` into the session log `out`. Every line is
/// checked against `schema` (the serving blob's); sessions must be complete:
/// requests 0, 1, 2, … with `done` on the last and only there.
pub fn import_ndjson(inputs: &[PathBuf], schema: &Schema, log_schema: LogSchema, out: &Path) -> Result<ImportSummary, LogError> {
    let mut sessions: BTreeMap<String, Vec<(LoggedRequest, PathBuf, usize)>> = BTreeMap::new();
    let mut lines = 0;
    for path in inputs {
        let file = std::fs::File::open(path).map_err(|source| LogError::Open { path: path.clone(), source })?;
        for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
            let text = text.map_err(|source| LogError::Open { path: path.clone(), source })?;
            if text.trim().is_empty() {
                continue;
            }
            let at = |source| LogError::BadLine { path: path.clone(), line: i + 1, source };
            let line = LogLine::from_json_text(&text).map_err(at)?;
            let c = line.check(schema).map_err(at)?;
            let r = line.record;
            let q = LoggedRequest {
                session: line.session,
                request: line.request,
                timestamp_ms: line.timestamp_ms,
                user: c.user,
                context: c.context,
                items: c.items,
                scores: c.scores,
                actions: c.actions,
                base: c.base,
                explore: r.explore,
                explore_per_item: r.per_item,
                behaviour: r.behaviour,
                shown: r.shown,
                signals: c.signals,
                play_s: c.play_s,
                done: line.done,
            };
            sessions.entry(q.session.clone()).or_default().push((q, path.clone(), i + 1));
            lines += 1;
        }
    }
    let mut ordered: Vec<Vec<(LoggedRequest, PathBuf, usize)>> = sessions.into_values().collect();
    for s in &mut ordered {
        s.sort_by_key(|(q, _, _)| q.request);
        check_sequence(s)?;
    }
    // Sessions in the order they started; the id breaks ties.
    ordered.sort_by(|a, b| (a[0].0.timestamp_ms, &a[0].0.session).cmp(&(b[0].0.timestamp_ms, &b[0].0.session)));
    let tmp = out.with_extension("parquet.partial");
    let written = write_sessions(&ordered, log_schema, &tmp).and_then(|rows| {
        let summary = stream_logs(&tmp.to_string_lossy(), &mut |_| Ok(()))?;
        debug_assert_eq!(summary.rows, rows);
        std::fs::rename(&tmp, out).map_err(|source| LogError::Open { path: out.into(), source })?;
        Ok(rows)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(ImportSummary { lines, sessions: ordered.len(), rows: written? })
}

/// A session's requests, sorted by index, must be 0, 1, 2, … and end with `done`.
fn check_sequence(s: &[(LoggedRequest, PathBuf, usize)]) -> Result<(), LogError> {
    let last = s.len() - 1;
    for (i, (q, path, line)) in s.iter().enumerate() {
        let bad = |problem: String| LogError::BadSession { path: path.clone(), line: *line, session: q.session.clone(), problem };
        if q.request as usize != i {
            return Err(bad(if i > 0 && q.request == s[i - 1].0.request { format!("request {} is logged twice", q.request) } else { format!("request {i} is missing (the next is {})", q.request) }));
        }
        if q.done != (i == last) {
            return Err(bad(if q.done { format!("request {i} is done, but the session goes on to request {last}") } else { format!("its last request {i} is not done: the session is incomplete") }));
        }
    }
    Ok(())
}

fn write_sessions(sessions: &[Vec<(LoggedRequest, PathBuf, usize)>], schema: LogSchema, path: &Path) -> Result<usize, LogError> {
    let mut w = SessionLogWriter::create(path, schema)?;
    for (q, _, _) in sessions.iter().flatten() {
        w.push(q)?;
    }
    w.finish()
}
