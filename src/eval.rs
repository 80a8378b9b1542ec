//! Evaluation: a simulated A/B test on shared random streams, and offline
//! metrics on the real held-out days of the log (native only).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::RequestError;
use crate::ranker::{Columns, Ranker};
use crate::sim::data::{weekday, Impression};
use crate::sim::model::{context_features, ITEM_FEATURES};
use crate::sim::{run_sessions, Response, SessionStats, Simulator};
use crate::stats::{mean_ci, weighted_auc};

/// Why a policy could not be evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The policy refused a request of the simulated A/B test.
    #[error("policy \"{policy}\" failed in a simulated session")]
    Session {
        policy: String,
        #[source]
        source: RequestError,
    },
    /// The policy refused a held-out request, e.g. its schema does not match the simulator's features.
    #[error("policy \"{policy}\" cannot rank the held-out requests")]
    Offline {
        policy: String,
        #[source]
        source: RequestError,
    },
}

/// One policy's line of the simulated A/B table.
#[derive(Clone, Debug, Serialize)]
pub struct AbRow {
    pub policy: String,
    pub sessions: usize,
    pub ret: (f64, f64),
    pub long_views: (f64, f64),
    pub depth: (f64, f64),
    pub interactions: (f64, f64),
    /// Relative lift of mean return over the first policy (the static baseline).
    pub lift: f64,
    /// 95% half-width of `lift` from the per-session paired differences: both
    /// policies ran the same user and random streams in each session, so the
    /// difference is far less noisy than either return.
    pub lift_ci: f64,
}

/// Runs every policy on the same users and random streams.
pub fn simulated_ab(sim: &Simulator, policies: &mut [(String, Ranker)], sessions: usize, seed: u64) -> Result<Vec<AbRow>, EvalError> {
    let mut rows: Vec<AbRow> = Vec::new();
    let mut base: Option<Vec<f64>> = None;
    for (name, r) in policies.iter_mut() {
        let stats: Vec<SessionStats> = run_sessions(sim, r, sessions, seed).map_err(|source| EvalError::Session { policy: name.clone(), source })?;
        let ci = |f: &dyn Fn(&SessionStats) -> f64| mean_ci(stats.iter().map(f));
        let ret = ci(&|s| s.ret);
        let base_ret = base.get_or_insert_with(|| stats.iter().map(|s| s.ret).collect());
        let base_mean = base_ret.iter().sum::<f64>() / base_ret.len().max(1) as f64;
        let (lift, lift_ci) = mean_ci(stats.iter().zip(base_ret.iter()).map(|(s, b)| (s.ret - b) / base_mean));
        rows.push(AbRow {
            policy: name.clone(),
            sessions,
            ret,
            long_views: ci(&|s| s.long_views as f64),
            depth: ci(&|s| s.depth as f64),
            interactions: ci(&|s| s.interactions as f64),
            lift,
            lift_ci,
        });
    }
    Ok(rows)
}

/// Offline metrics of one policy on the held-out days.
#[derive(Clone, Debug, Serialize)]
pub struct OfflineRow {
    pub policy: String,
    pub mtf_gauc: f64,
    pub ndcg6: f64,
    pub users: usize,
    pub user_days: usize,
    pub rows: usize,
}

/// One user's held-out samples: fused score, long-view label, weight.
type UserSamples = (Vec<f32>, Vec<u8>, Vec<f32>);

/// MTF-GAUC and reward-weighted NDCG@6 on held-out rows whose user and item
/// the simulator knows. Each user-day is one request; its MTL scores come
/// from the simulator's MTL model. GAUC weights each sample by `1 + r` (its
/// instant reward), so that negatives, whose reward is near 0, still count.
pub fn offline(sim: &Simulator, rows: &[Impression], split_date: u32, policies: &mut [(String, Ranker)]) -> Result<Vec<OfflineRow>, EvalError> {
    let users: BTreeMap<u32, usize> = sim.user_ids.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let items: BTreeMap<u32, usize> = sim.item_ids.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut days: BTreeMap<(u32, u32), Vec<&Impression>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.date >= split_date) {
        if users.contains_key(&r.user) && items.contains_key(&r.item) {
            days.entry((r.user, r.date)).or_default().push(r);
        }
    }
    let reward = |r: &Impression| Response { signals: r.signals, play_s: r.play_ms as f32 / 1000.0 }.reward(&sim.config.reward);
    let mut out = Vec::new();
    for (name, ranker) in policies.iter_mut() {
        // Per user-day: NDCG@6.
        let mut per_user: BTreeMap<u32, UserSamples> = BTreeMap::new();
        let (mut ndcg_sum, mut ndcg_n, mut n_rows) = (0.0, 0usize, 0usize);
        for ((user, date), list) in &days {
            let u = users[user];
            let hour = list[0].hour;
            let context = context_features(hour, list[0].tab, weekday(*date));
            let cands: Vec<u32> = list.iter().map(|r| items[&r.item] as u32).collect();
            let mut scores = Vec::new();
            sim.mtl_scores(u, &cands, &context, &mut scores);
            let item_feats: Vec<f32> = cands.iter().flat_map(|&i| sim.item_row(i as usize).to_vec()).collect();
            debug_assert_eq!(item_feats.len(), cands.len() * ITEM_FEATURES.len());
            let cols = Columns { user: sim.user_row(u), context: &context, items: &item_feats, scores: &scores };
            let n = list.len();
            let ranking = ranker.rank_columns(&cols, n).map_err(|source| EvalError::Offline { policy: name.clone(), source })?;
            let mut fused = vec![0.0f32; n];
            for (&j, &s) in ranking.order.iter().zip(ranking.scores) {
                fused[j as usize] = s;
            }
            let gains: Vec<f32> = list.iter().map(|r| reward(r).max(0.0)).collect();
            let dcg = |order: &[usize]| order.iter().take(6).enumerate().map(|(p, &j)| gains[j] as f64 / ((p + 2) as f64).log2()).sum::<f64>();
            let got: Vec<usize> = ranking.order.iter().map(|&j| j as usize).collect();
            let mut ideal: Vec<usize> = (0..n).collect();
            ideal.sort_by(|&a, &b| gains[b].total_cmp(&gains[a]));
            let best = dcg(&ideal);
            if best > 0.0 {
                ndcg_sum += dcg(&got) / best;
                ndcg_n += 1;
            }
            let e = per_user.entry(*user).or_default();
            for (j, r) in list.iter().enumerate() {
                e.0.push(fused[j]);
                e.1.push(r.signals[1]);
                e.2.push(1.0 + reward(r).max(0.0));
            }
            n_rows += n;
        }
        let (mut gauc_sum, mut gauc_w) = (0.0, 0.0);
        for (scores, labels, weights) in per_user.values() {
            if let Some(a) = weighted_auc(scores, labels, weights) {
                gauc_sum += a * labels.len() as f64;
                gauc_w += labels.len() as f64;
            }
        }
        out.push(OfflineRow {
            policy: name.clone(),
            mtf_gauc: gauc_sum / gauc_w.max(1.0),
            ndcg6: ndcg_sum / ndcg_n.max(1) as f64,
            users: per_user.len(),
            user_days: days.len(),
            rows: n_rows,
        });
    }
    Ok(out)
}

/// Both tables as Markdown.
pub fn markdown(ab: &[AbRow], offline: &[OfflineRow]) -> String {
    let base = ab.first().map_or("the first policy", |r| r.policy.as_str());
    let mut s = format!("| policy | sessions | return ± 95% CI | long views | depth | interactions | lift vs {base} ± paired 95% CI |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for r in ab {
        s += &format!(
            "| {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:+.1}% ± {:.1}% |\n",
            r.policy, r.sessions, r.ret.0, r.ret.1, r.long_views.0, r.long_views.1, r.depth.0, r.depth.1, r.interactions.0, r.interactions.1, 100.0 * r.lift, 100.0 * r.lift_ci
        );
    }
    if !offline.is_empty() {
        s += "\n| policy | MTF-GAUC | reward-weighted NDCG@6 | users | user-days | rows |\n|---|---:|---:|---:|---:|---:|\n";
        for r in offline {
            s += &format!("| {} | {:.4} | {:.4} | {} | {} | {} |\n", r.policy, r.mtf_gauc, r.ndcg6, r.users, r.user_days, r.rows);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same policy twice has a lift of exactly zero with no spread; a
    /// different one gets a paired interval narrower than either return's CI.
    #[test]
    fn paired_lift_is_tighter_than_the_returns() {
        let sim = Simulator::from_bytes(include_bytes!("../models/simulator.safetensors")).unwrap();
        let cfg = crate::rl::TrainConfig::default();
        let make = |a: f32| crate::rl::static_ranker(&sim, &[a; 14], &cfg, serde_json::Value::Null).unwrap();
        let mut policies = vec![("a".to_string(), make(0.0)), ("a again".to_string(), make(0.0)), ("b".to_string(), make(0.3))];
        let rows = simulated_ab(&sim, &mut policies, 400, 9).unwrap();
        assert_eq!((rows[1].lift, rows[1].lift_ci), (0.0, 0.0));
        assert!(rows[2].lift != 0.0);
        let base = rows[0].ret.0;
        assert!(rows[2].lift_ci * base < rows[2].ret.1.min(rows[0].ret.1), "paired {} vs {:?} {:?}", rows[2].lift_ci * base, rows[0].ret, rows[2].ret);
        let md = markdown(&rows, &[]);
        assert!(md.contains("lift vs a ± paired 95% CI"), "{md}");
        assert!(md.contains("| a again | 400 |"), "{md}");
    }

    /// A policy whose schema does not fit the simulator's features fails
    /// with its name, and the request error that caused it as the source.
    #[test]
    fn a_policy_that_cannot_rank_the_simulators_requests_is_named() {
        let sim = Simulator::from_bytes(include_bytes!("../models/simulator.safetensors")).unwrap();
        let foreign = Ranker::from_bytes(include_bytes!("../tests/fixtures/tiny-enhanced.safetensors")).unwrap();
        let mut policies = vec![("foreign".to_string(), foreign)];
        let err = simulated_ab(&sim, &mut policies, 3, 1).unwrap_err();
        assert_eq!(err.to_string(), "policy \"foreign\" failed in a simulated session");
        let cause = std::error::Error::source(&err).expect("a cause").to_string();
        assert_eq!(cause, "scores: length 350 is not a multiple of 3 objectives");
    }
}
