//! Off-policy evaluation from session logs: a policy's discounted session
//! return, estimated from logs that another policy explored with. Three
//! estimators, each with a 95% bootstrap interval over sessions:
//!
//! - `importance`: per-decision weighted importance sampling (PDWIS) with the
//!   known exploration density; unbiased where it has support, silent where
//!   it has none;
//! - `fitted_q`: fitted-Q evaluation (FQE), list-level TD under the policy's
//!   actions; judges any policy, with the critics' bias;
//! - the doubly-robust combination (weighted, per decision): FQE's value
//!   plus the importance-weighted TD errors of the critics, so it is FQE
//!   where the weights vanish and corrects it where they do not.
//!
//! The FQE and DR intervals resample sessions with the critics fixed: they
//! leave out the critics' own fitting noise.

pub mod fitted_q;
pub mod gate;
pub mod importance;

pub use gate::held_out;

use rand::Rng;

use crate::logs::{read_logs, LogError, LogSchema, LoggedRequest};
use crate::ranker::{Columns, Ranker};
use crate::rl::export::A;
use crate::rl::{TrainConfig, TrainError};
use crate::rng::{stream, Purpose};
use crate::schema::FeatureGroup;
use crate::stats::mean_ci;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpeError {
    #[error("cannot read the logs")]
    Log(#[from] LogError),
    #[error("cannot load the blob to evaluate")]
    Blob(#[source] crate::BlobError),
    #[error("cannot fit the critics")]
    Train(#[from] TrainError),
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

/// How to evaluate.
pub struct OpeConfig<'a> {
    pub bootstrap: usize,
    pub seed: u64,
    /// Critic sizes, learning rate, updates and batch for FQE (γ is the log's).
    pub train: &'a TrainConfig,
    /// Fit the critics (FQE and DR); without, only PDWIS.
    pub fitted_q: bool,
    /// Evaluate on these sessions only (by id); all when `None`.
    pub sessions: Option<fn(&str) -> bool>,
}

/// The share of sessions the importance weights' effective sample size must
/// reach for a gate to trust the doubly-robust estimate: below it, DR is
/// mostly the critics' extrapolation.
pub const MIN_SUPPORT: f64 = 0.1;


/// One logged request as the estimators see it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Step {
    /// Density ratio of the logged actions, target over behaviour.
    pub weight: f64,
    /// The list reward.
    pub reward: f64,
    /// FQE's list value at the logged actions and at the policy's.
    pub q_logged: f64,
    pub v_target: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Session {
    pub steps: Vec<Step>,
}

/// An estimate with its 95% bootstrap interval over sessions.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Estimate {
    /// `None` when the estimator cannot judge the policy from this log.
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct OpeReport {
    pub sessions: usize,
    pub requests: usize,
    /// The behaviour's own mean discounted return in the log, and its 95% half-width.
    pub behaviour_return: f64,
    pub behaviour_ci: f64,
    pub pdwis: Estimate,
    /// Effective sample size of the sessions' importance weights.
    pub ess: f64,
    pub fqe: Option<Estimate>,
    pub dr: Option<Estimate>,
    /// DR minus the behaviour's own return, paired over the same resamples:
    /// the lift a gate decides on.
    pub dr_lift: Option<Estimate>,
}

/// Evaluates `policy` on the logs `pattern` matches.
pub fn evaluate(pattern: &str, policy: &mut Ranker, cfg: &OpeConfig) -> Result<OpeReport, OpeError> {
    let mut log = read_logs(pattern)?;
    if let Some(keep) = cfg.sessions {
        log.requests.retain(|q| keep(&q.session));
    }
    let ls = &log.schema;
    let map = FeatureMap::new(policy, ls)?;
    let targets = log.requests.iter().map(|q| target_actions(policy, &map, q)).collect::<Result<Vec<_>, _>>()?;
    let mut steps: Vec<Step> = log.requests.iter().zip(&targets).map(|(q, t)| Step { weight: importance::request_weight(q, t), reward: list_reward(ls, q), ..Step::default() }).collect();
    if cfg.fitted_q {
        // The critics discount as the log's reward does.
        let train = TrainConfig { gamma: ls.gamma, ..cfg.train.clone() };
        let (lists, width) = crate::rl::offline::pair_lists(&log, &train)?;
        let critics = fitted_q::fit(&lists, &targets, width, &train, &mut stream(cfg.seed, Purpose::OpeFittedQ, 0, 0));
        let v = fitted_q::list_values(&critics, &lists, |l, p| targets[l][p]);
        let q = fitted_q::list_values(&critics, &lists, |l, p| std::array::from_fn(|d| lists[l].actions[p][d]));
        for (s, (v, q)) in steps.iter_mut().zip(v.into_iter().zip(q)) {
            (s.v_target, s.q_logged) = (v, q);
        }
    }
    let mut sessions: Vec<Session> = Vec::new();
    for (q, s) in log.requests.iter().zip(steps) {
        if q.request == 0 {
            sessions.push(Session::default());
        }
        sessions.last_mut().expect("sessions start at request 0").steps.push(s);
    }
    let gamma = ls.gamma as f64;
    let returns: Vec<f64> = sessions.iter().map(|s| s.steps.iter().rev().fold(0.0, |acc, st| st.reward + gamma * acc)).collect();
    let (behaviour_return, behaviour_ci) = mean_ci(returns.iter().copied());
    let boot = Bootstrap::new(sessions.len(), cfg.bootstrap, cfg.seed);
    let pdwis = boot.estimate(|pick| importance::pdwis(&sessions, pick, gamma));
    let fqe = cfg.fitted_q.then(|| boot.estimate(|pick| Some(pick.iter().map(|&i| sessions[i].steps[0].v_target).sum::<f64>() / pick.len() as f64)));
    let dr = cfg.fitted_q.then(|| boot.estimate(|pick| Some(doubly_robust(&sessions, pick, gamma))));
    let dr_lift = cfg.fitted_q.then(|| boot.estimate(|pick| Some(doubly_robust(&sessions, pick, gamma) - pick.iter().map(|&i| returns[i]).sum::<f64>() / pick.len() as f64)));
    Ok(OpeReport { sessions: sessions.len(), requests: log.requests.len(), behaviour_return, behaviour_ci, pdwis, ess: importance::ess(&sessions), fqe, dr, dr_lift })
}

/// Weighted per-decision doubly-robust estimate: FQE's value of the first
/// lists plus `Σ_t γ^t Σ_i w̃_it (r_it + γ V(s_i,t+1) − Q(s_it, a_it))`, the
/// weights self-normalised at each step. Where the weights vanish, what is
/// left is FQE's value.
fn doubly_robust(sessions: &[Session], pick: &[usize], gamma: f64) -> f64 {
    let n = pick.len() as f64;
    let mut value = pick.iter().map(|&i| sessions[i].steps[0].v_target).sum::<f64>() / n;
    let horizon = pick.iter().map(|&i| sessions[i].steps.len()).max().unwrap_or(0);
    let mut rho = vec![1.0f64; pick.len()];
    for t in 0..horizon {
        for (k, &i) in pick.iter().enumerate() {
            if let Some(st) = sessions[i].steps.get(t) {
                rho[k] *= st.weight;
            }
        }
        let den: f64 = rho.iter().sum();
        if den == 0.0 {
            break;
        }
        for (k, &i) in pick.iter().enumerate() {
            let steps = &sessions[i].steps;
            if let Some(st) = steps.get(t) {
                let next = steps.get(t + 1).map_or(0.0, |s| s.v_target);
                value += gamma.powi(t as i32) * rho[k] / den * (st.reward + gamma * next - st.q_logged);
            }
        }
    }
    value
}

/// Resamples of sessions, shared by every estimator so their intervals
/// come from the same draws.
struct Bootstrap {
    picks: Vec<Vec<usize>>,
    all: Vec<usize>,
}

impl Bootstrap {
    fn new(sessions: usize, resamples: usize, seed: u64) -> Bootstrap {
        let mut rng = stream(seed, Purpose::OpeBootstrap, 0, 0);
        let picks = (0..resamples).map(|_| (0..sessions).map(|_| rng.random_range(0..sessions)).collect()).collect();
        Bootstrap { picks, all: (0..sessions).collect() }
    }

    fn estimate(&self, f: impl Fn(&[usize]) -> Option<f64>) -> Estimate {
        let mut boots: Vec<f64> = self.picks.iter().filter_map(|p| f(p)).collect();
        boots.sort_by(f64::total_cmp);
        let q = |p: f64| (!boots.is_empty()).then(|| boots[((boots.len() - 1) as f64 * p).round() as usize]);
        Estimate { value: f(&self.all), ci_low: q(0.025), ci_high: q(0.975) }
    }
}

fn list_reward(ls: &LogSchema, q: &LoggedRequest) -> f64 {
    q.signals.chunks_exact(ls.k()).zip(&q.play_s).map(|(sig, &p)| ls.group_rewards(sig, p).iter().sum::<f32>() as f64).sum()
}

/// Where each of the policy's features sits in the log's rows.
struct FeatureMap {
    user: Vec<usize>,
    context: Vec<usize>,
    item: Vec<usize>,
    log_item_width: usize,
}

impl FeatureMap {
    fn new(policy: &Ranker, ls: &LogSchema) -> Result<FeatureMap, OpeError> {
        let s = policy.schema();
        if s.objectives != ls.objectives || ls.k() * 2 != A {
            return Err(OpeError::Objectives { policy: s.objectives.join(", "), log: ls.objectives.join(", ") });
        }
        let find = |group: FeatureGroup, names: &[String], word: &'static str| {
            s.names(group).map(|n| names.iter().position(|m| m == n).ok_or_else(|| OpeError::MissingFeature { group: word, name: n.to_string() })).collect::<Result<Vec<usize>, OpeError>>()
        };
        Ok(FeatureMap { user: find(FeatureGroup::User, &ls.user, "user")?, context: find(FeatureGroup::Context, &ls.context, "context")?, item: find(FeatureGroup::Item, &ls.item, "item")?, log_item_width: ls.item.len() })
    }
}

/// The policy's normalised action for every candidate of a logged request.
fn target_actions(policy: &mut Ranker, m: &FeatureMap, q: &LoggedRequest) -> Result<Vec<[f32; A]>, OpeError> {
    let n = q.actions.len() / A;
    let pick = |v: &[f32], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<f32>>();
    let items: Vec<f32> = (0..n).flat_map(|j| pick(&q.items[j * m.log_item_width..(j + 1) * m.log_item_width], &m.item)).collect();
    let (user, context) = (pick(&q.user, &m.user), pick(&q.context, &m.context));
    let cols = Columns { user: &user, context: &context, items: &items, scores: &q.scores };
    let r = policy.rank_columns(&cols, 1).map_err(|source| OpeError::Rank { session: q.session.clone(), request: q.request, source })?;
    Ok((0..n).map(|j| std::array::from_fn(|d| if r.per_item { r.norm_actions[j * A + d] } else { r.norm_actions[d] })).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(steps: &[(f64, f64, f64, f64)]) -> Session {
        Session { steps: steps.iter().map(|&(weight, reward, q_logged, v_target)| Step { weight, reward, q_logged, v_target }).collect() }
    }

    /// With every weight 1, PDWIS is the mean discounted return, and DR is
    /// too whatever the critics say (their errors cancel in the telescoping sum).
    #[test]
    fn on_policy_weights_give_the_mean_return_to_both() {
        let s = vec![session(&[(1.0, 1.0, 5.0, 7.0), (1.0, 2.0, -1.0, 3.0)]), session(&[(1.0, 4.0, 0.0, 0.5)])];
        let all = [0, 1];
        let want = ((1.0 + 0.5 * 2.0) + 4.0) / 2.0;
        assert!((importance::pdwis(&s, &all, 0.5).unwrap() - want).abs() < 1e-12);
        // DR = mean V(s0) + Σ_t γ^t mean_i (r + γ V(s') − Q(s, a)); with Q = V the critics cancel.
        let exact = vec![session(&[(1.0, 1.0, 2.0, 2.0), (1.0, 2.0, 2.0, 2.0)]), session(&[(1.0, 4.0, 4.0, 4.0)])];
        assert!((doubly_robust(&exact, &all, 0.5) - want).abs() < 1e-12);
        let wrong = vec![session(&[(1.0, 1.0, 9.0, 9.0), (1.0, 2.0, -3.0, -3.0)]), session(&[(1.0, 4.0, 0.0, 0.0)])];
        assert!((doubly_robust(&wrong, &all, 0.5) - want).abs() < 1e-12);
    }

    /// Where no session has weight, PDWIS has no estimate and DR is FQE's
    /// value of the first lists.
    #[test]
    fn without_support_dr_is_fitted_q() {
        let s = vec![session(&[(0.0, 1.0, 5.0, 7.0), (1.0, 2.0, -1.0, 3.0)]), session(&[(0.0, 4.0, 0.0, 0.5)])];
        assert_eq!(importance::pdwis(&s, &[0, 1], 0.9), None);
        assert_eq!(doubly_robust(&s, &[0, 1], 0.9), (7.0 + 0.5) / 2.0);
        assert_eq!(importance::ess(&s), 0.0);
    }

    /// A session with weight 2 counts twice: the estimate leans to its return.
    #[test]
    fn weights_tilt_pdwis_towards_the_sessions_the_target_would_produce() {
        let s = vec![session(&[(2.0, 3.0, 0.0, 0.0)]), session(&[(1.0, 0.0, 0.0, 0.0)])];
        assert!((importance::pdwis(&s, &[0, 1], 0.9).unwrap() - 2.0).abs() < 1e-12);
        assert!((importance::ess(&s) - 9.0 / 5.0).abs() < 1e-12);
    }
}
