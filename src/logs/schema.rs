//! The log's columns, named after its feature schema, and the Parquet
//! key-value metadata that carries that schema.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::blob::DEFAULT_OBJECTIVES;
use crate::rl::export::action_ranges;
use crate::schema::FeatureGroup;
use crate::sim::Simulator;

/// The format version this build writes and reads.
pub const LOG_FORMAT_VERSION: u32 = 1;

/// The Parquet metadata key holding the [`LogSchema`] as JSON.
pub const METADATA_KEY: &str = "mtfuse.session_log";

/// What the columns mean: feature names by group, objectives, action
/// ranges, and the reward the trainer optimises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSchema {
    pub version: u32,
    pub objectives: Vec<String>,
    pub user: Vec<String>,
    pub context: Vec<String>,
    pub item: Vec<String>,
    /// Real range of each action dimension `(p_1..p_k, b_1..b_k)`.
    pub action_low: Vec<f32>,
    pub action_high: Vec<f32>,
    /// Reward weight of each objective's signal.
    pub reward: Vec<f32>,
    /// Reward weight per second of play.
    pub reward_play_s: f32,
    /// Objectives whose reward critic group A (with play time) learns; the
    /// others go to group B.
    pub group_a: Vec<String>,
    /// Discount of the session return.
    pub gamma: f32,
}

impl LogSchema {
    /// The schema of logs the simulator writes.
    pub fn of_simulator(sim: &Simulator) -> LogSchema {
        let names = |g| sim.group(g).map(|f| f.name.clone()).collect();
        let (action_low, action_high) = action_ranges();
        let w = &sim.config.reward;
        LogSchema {
            version: LOG_FORMAT_VERSION,
            objectives: DEFAULT_OBJECTIVES.iter().map(|s| s.to_string()).collect(),
            user: names(FeatureGroup::User),
            context: names(FeatureGroup::Context),
            item: names(FeatureGroup::Item),
            action_low,
            action_high,
            reward: w.signals.to_vec(),
            reward_play_s: w.play_s,
            group_a: vec!["click".into(), "long_view".into()],
            gamma: sim.config.gamma,
        }
    }

    pub fn k(&self) -> usize {
        self.objectives.len()
    }

    /// Every column, in file order, with its type and nullability.
    pub fn columns(&self) -> Vec<(String, DataType, bool)> {
        let mut c: Vec<(String, DataType, bool)> = vec![
            ("session_id".into(), DataType::Utf8, false),
            ("request".into(), DataType::UInt32, false),
            ("timestamp_ms".into(), DataType::Int64, false),
            ("candidate".into(), DataType::UInt32, false),
        ];
        let floats = |c: &mut Vec<(String, DataType, bool)>, prefix: &str, names: &[String], nullable: bool| {
            c.extend(names.iter().map(|n| (format!("{prefix}.{n}"), DataType::Float32, nullable)));
        };
        floats(&mut c, "user", &self.user, false);
        floats(&mut c, "context", &self.context, false);
        floats(&mut c, "item", &self.item, false);
        floats(&mut c, "score", &self.objectives, false);
        for prefix in ["action.power", "action.bias", "base.power", "base.bias"] {
            floats(&mut c, prefix, &self.objectives, false);
        }
        c.push(("explore".into(), DataType::Float32, false));
        c.push(("explore_per_item".into(), DataType::Boolean, false));
        c.push(("behaviour".into(), DataType::Utf8, false));
        c.push(("shown".into(), DataType::Boolean, false));
        c.push(("position".into(), DataType::UInt32, true));
        floats(&mut c, "signal", &self.objectives, true);
        c.push(("play_s".into(), DataType::Float32, true));
        c.push(("done".into(), DataType::Boolean, false));
        c
    }

    /// The Arrow schema of the columns, with this schema as metadata.
    pub fn arrow(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self.columns().into_iter().map(|(n, t, null)| Field::new(n, t, null)).collect();
        let meta: std::collections::HashMap<String, String> = [(METADATA_KEY.to_string(), serde_json::to_string(self).expect("schema serialises"))].into_iter().collect();
        Arc::new(Schema::new_with_metadata(fields, meta))
    }

    /// Why this schema cannot describe a log, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let k = self.k();
        if self.version != LOG_FORMAT_VERSION {
            return Some(format!("format version {}, this build reads {LOG_FORMAT_VERSION}", self.version));
        }
        if k == 0 {
            return Some("no objectives".into());
        }
        for (what, got, want) in [("action_low", self.action_low.len(), 2 * k), ("action_high", self.action_high.len(), 2 * k), ("reward", self.reward.len(), k)] {
            if got != want {
                return Some(format!("{what} has {got} values, expected {want} for {k} objectives"));
            }
        }
        if let Some(g) = self.group_a.iter().find(|g| !self.objectives.contains(g)) {
            return Some(format!("group_a names \"{g}\", which is not an objective"));
        }
        None
    }

    /// The reward of one shown item split into critic groups A and B.
    pub fn group_rewards(&self, signals: &[f32], play_s: f32) -> [f32; 2] {
        let mut r = [self.reward_play_s * play_s, 0.0];
        for ((o, &s), &w) in self.objectives.iter().zip(signals).zip(&self.reward) {
            r[if self.group_a.contains(o) { 0 } else { 1 }] += w * s;
        }
        r
    }
}
