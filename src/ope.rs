//! Off-policy evaluation from session logs: what a policy's discounted
//! session return would have been, from logs another policy explored with.
//!
//! This is the importance-sampling part: per-decision weighted importance
//! sampling (self-normalised at every step) with the known exploration
//! density. The target is "serve the policy with the log's exploration", so
//! a request's weight is the density of its logged actions under that target
//! over the behaviour's: 1 or 0 per dimension inside the box, the ratio of
//! clamped masses at ±1. A session's weight at step t is the product over its
//! requests up to t. The fitted-Q and doubly-robust estimators are not built
//! yet.
//!
//! Where the weights vanish the estimate says so (effective sample size 0)
//! instead of returning a number: with noise drawn once per request, a
//! per-item target matches the logged actions only if it moves every item's
//! action by the same offset, so enhanced targets rarely have support.

use rand::Rng;

use crate::logs::{read_logs, LogError, LoggedRequest};
use crate::ranker::{Columns, Ranker};
use crate::rl::export::A;
use crate::rl::static_from_log::{density_ratio, LoggedAction};
use crate::rng::{stream, Purpose};
use crate::schema::FeatureGroup;
use crate::stats::mean_ci;

/// Offsets between items closer than this count as the same offset.
const SAME_OFFSET: f32 = 1e-5;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpeError {
    #[error("cannot read the logs")]
    Log(#[from] LogError),
    #[error("the policy needs {group} feature \"{name}\", which the log does not have")]
    MissingFeature { group: &'static str, name: String },
    #[error("the policy's objectives ({policy}) differ from the log's ({log}), or are not the 7 this build evaluates")]
    Objectives { policy: String, log: String },
    #[error("the policy cannot rank logged request {request} of session \"{session}\"")]
    Rank {
        session: String,
        request: u32,
        #[source]
        source: crate::RequestError,
    },
}

/// An estimate with its 95% bootstrap interval over sessions.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Estimate {
    /// `None` when no session has weight: the log cannot judge the policy.
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Effective sample size of the sessions' final weights, `(Σw)² / Σw²`.
    pub ess: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct OpeReport {
    pub sessions: usize,
    pub requests: usize,
    /// The behaviour's own mean discounted return in the log, and its 95% half-width.
    pub behaviour_return: f64,
    pub behaviour_ci: f64,
    /// Per-decision weighted importance sampling.
    pub pdwis: Estimate,
}

/// One logged request: its importance weight and list reward.
#[derive(Clone, Copy, Debug)]
struct Step {
    weight: f64,
    reward: f64,
}

/// Evaluates `policy` on the logs `pattern` matches, with a bootstrap of
/// `bootstrap` resamples of sessions.
pub fn evaluate(pattern: &str, policy: &mut Ranker, bootstrap: usize, seed: u64) -> Result<OpeReport, OpeError> {
    let log = read_logs(pattern)?;
    let ls = &log.schema;
    let s = policy.schema();
    if s.objectives != ls.objectives || ls.k() * 2 != A {
        return Err(OpeError::Objectives { policy: s.objectives.join(", "), log: ls.objectives.join(", ") });
    }
    let map = FeatureMap::new(policy, ls)?;
    let mut sessions: Vec<Vec<Step>> = Vec::new();
    for q in &log.requests {
        let reward = q.signals.chunks_exact(ls.k()).zip(&q.play_s).map(|(sig, &p)| ls.group_rewards(sig, p).iter().sum::<f32>() as f64).sum();
        let weight = weight(policy, &map, q)?;
        if q.request == 0 {
            sessions.push(Vec::new());
        }
        sessions.last_mut().expect("sessions start at request 0").push(Step { weight, reward });
    }
    let gamma = ls.gamma as f64;
    let returns = sessions.iter().map(|s| s.iter().rev().fold(0.0, |acc, st| st.reward + gamma * acc));
    let (behaviour_return, behaviour_ci) = mean_ci(returns);
    let all: Vec<usize> = (0..sessions.len()).collect();
    let value = pdwis(&sessions, &all, gamma);
    let mut rng = stream(seed, Purpose::OpeBootstrap, 0, 0);
    let mut boots: Vec<f64> = (0..bootstrap)
        .filter_map(|_| {
            let pick: Vec<usize> = (0..sessions.len()).map(|_| rng.random_range(0..sessions.len())).collect();
            pdwis(&sessions, &pick, gamma)
        })
        .collect();
    boots.sort_by(f64::total_cmp);
    let q = |p: f64| (!boots.is_empty()).then(|| boots[((boots.len() - 1) as f64 * p).round() as usize]);
    let finals: Vec<f64> = sessions.iter().map(|s| s.iter().map(|st| st.weight).product()).collect();
    let (sw, sw2) = (finals.iter().sum::<f64>(), finals.iter().map(|w| w * w).sum::<f64>());
    let ess = if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 };
    Ok(OpeReport { sessions: sessions.len(), requests: log.requests.len(), behaviour_return, behaviour_ci, pdwis: Estimate { value, ci_low: q(0.025), ci_high: q(0.975), ess } })
}

/// `Σ_t γ^t Σ_i ρ_it r_it / Σ_i ρ_it` over the sessions `pick` (with
/// repeats), where `ρ_it` is session i's weight product up to step t; a
/// session that ended keeps its last weight and adds no reward.
fn pdwis(sessions: &[Vec<Step>], pick: &[usize], gamma: f64) -> Option<f64> {
    let horizon = pick.iter().map(|&i| sessions[i].len()).max().unwrap_or(0);
    let mut rho: Vec<f64> = vec![1.0; pick.len()];
    let mut value = 0.0;
    for t in 0..horizon {
        let (mut num, mut den) = (0.0, 0.0);
        for (k, &i) in pick.iter().enumerate() {
            if let Some(st) = sessions[i].get(t) {
                rho[k] *= st.weight;
                num += rho[k] * st.reward;
            }
            den += rho[k];
        }
        if den == 0.0 {
            return (t > 0).then_some(value);
        }
        value += gamma.powi(t as i32) * num / den;
    }
    (horizon > 0).then_some(value)
}

/// Where each of the policy's features sits in the log's rows.
struct FeatureMap {
    user: Vec<usize>,
    context: Vec<usize>,
    item: Vec<usize>,
    log_item_width: usize,
}

impl FeatureMap {
    fn new(policy: &Ranker, ls: &crate::logs::LogSchema) -> Result<FeatureMap, OpeError> {
        let s = policy.schema();
        let find = |group: FeatureGroup, names: &[String], word: &'static str| {
            s.names(group).map(|n| names.iter().position(|m| m == n).ok_or_else(|| OpeError::MissingFeature { group: word, name: n.to_string() })).collect::<Result<Vec<usize>, OpeError>>()
        };
        Ok(FeatureMap { user: find(FeatureGroup::User, &ls.user, "user")?, context: find(FeatureGroup::Context, &ls.context, "context")?, item: find(FeatureGroup::Item, &ls.item, "item")?, log_item_width: ls.item.len() })
    }
}

/// The density ratio of request `q`'s logged actions under "the policy plus
/// the log's exploration" over the behaviour's.
fn weight(policy: &mut Ranker, m: &FeatureMap, q: &LoggedRequest) -> Result<f64, OpeError> {
    let n = q.scores.len() / policy.schema().k();
    let pick = |v: &[f32], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f32>>();
    let items: Vec<f32> = (0..n).flat_map(|j| pick(&q.items[j * m.log_item_width..(j + 1) * m.log_item_width], &m.item)).collect();
    let (user, context) = (pick(&q.user, &m.user), pick(&q.context, &m.context));
    let cols = Columns { user: &user, context: &context, items: &items, scores: &q.scores };
    let r = policy.rank_columns(&cols, 1).map_err(|source| OpeError::Rank { session: q.session.clone(), request: q.request, source })?;
    let width = q.actions.len() / n;
    let target = |j: usize| if r.per_item { &r.norm_actions[j * width..(j + 1) * width] } else { &r.norm_actions[..width] };
    let row = |v: &[f32], j: usize| -> [f32; A] {
        let mut a = [0.0; A];
        a.copy_from_slice(&v[j * width..(j + 1) * width]);
        a
    };
    let logged = |j: usize| LoggedAction { base: row(&q.base, j), taken: row(&q.actions, j), explore: q.explore, reward: 0.0 };
    if q.explore_per_item {
        return Ok((0..n).map(|j| density_ratio(target(j), &logged(j))).product());
    }
    // One draw of noise for the whole request: the target must move every
    // item's action by one offset from the base to have produced these actions.
    let offset = |j: usize| target(j).iter().zip(&q.base[j * width..(j + 1) * width]).map(|(t, b)| t - b).collect::<Vec<f32>>();
    let first = offset(0);
    if (1..n).any(|j| offset(j).iter().zip(&first).any(|(a, b)| (a - b).abs() > SAME_OFFSET)) {
        return Ok(0.0);
    }
    Ok(density_ratio(target(0), &logged(0)))
}
