//! Evaluation: a simulated A/B test on shared random streams, and offline
//! metrics on the real held-out days of the log (native only).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::RequestError;
use crate::ranker::{Columns, Ranker};
use crate::sim::data::{weekday, Impression};
use crate::sim::model::{context_features, ITEM_FEATURES};
use crate::rl::recalibrated::RecalibratedPolicy;
use crate::sim::{run_sessions, Decision, Policy, Response, SessionStats, Simulator};
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

/// A policy `eval` compares: a weight blob, or the recalibrated baseline
/// (which is not a blob: the core does not recalibrate scores).
pub enum EvalPolicy {
    Blob(Ranker),
    Recalibrated(RecalibratedPolicy),
}

impl From<Ranker> for EvalPolicy {
    fn from(r: Ranker) -> EvalPolicy {
        EvalPolicy::Blob(r)
    }
}

impl EvalPolicy {
    /// Indices of the best `top` candidates, best first, and their fused scores.
    fn rank_columns(&mut self, cols: &Columns, top: usize) -> Result<(Vec<u32>, Vec<f32>), RequestError> {
        match self {
            EvalPolicy::Blob(r) => r.rank_columns(cols, top).map(|r| (r.order.to_vec(), r.scores.to_vec())),
            EvalPolicy::Recalibrated(p) => p.rank_columns(cols, top),
        }
    }
}

impl Policy for EvalPolicy {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        match self {
            EvalPolicy::Blob(r) => r.decide(cols, top, out),
            EvalPolicy::Recalibrated(p) => p.decide(cols, top, out),
        }
    }
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
pub fn simulated_ab(sim: &Simulator, policies: &mut [(String, EvalPolicy)], sessions: usize, seed: u64) -> Result<Vec<AbRow>, EvalError> {
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

/// Offline metrics of one policy, or of one MTL score alone (a reference
/// row), on the held-out days. Each user-day is one request.
#[derive(Clone, Debug, Serialize)]
pub struct OfflineRow {
    pub policy: String,
    /// Long-view AUC within each request, averaged over requests weighted by
    /// their size, ± 95% bootstrap half-width over users. Per request, so a
    /// per-day offset of the fused scores cannot move it.
    pub mtf_gauc: (f64, f64),
    /// `mtf_gauc` minus the first row's, on the same bootstrap resamples.
    pub gauc_vs_first: (f64, f64),
    /// Reward-weighted NDCG@6 averaged over requests, ± 95% bootstrap half-width.
    pub ndcg6: (f64, f64),
    /// The earlier GAUC: one AUC over each user's pooled held-out days.
    pub gauc_pooled_days: f64,
    pub users: usize,
    pub user_days: usize,
    pub rows: usize,
}

/// Bootstrap resamples of users for the offline intervals.
const OFFLINE_BOOTSTRAP: usize = 1000;

/// One user's pooled held-out samples: fused score, long-view label, weight.
type UserSamples = (Vec<f32>, Vec<u8>, Vec<f32>);

/// Per user: Σ request AUC × size, Σ size (requests with both labels), Σ NDCG@6, requests with gains.
type UserSums = [f64; 4];

/// MTF-GAUC and reward-weighted NDCG@6 on held-out rows whose user and item
/// the simulator knows, for each policy and then for sorting by each MTL
/// score alone. MTL scores come from the simulator's MTL model. AUC weights
/// each sample by `1 + r` (its instant reward), so that negatives, whose
/// reward is near 0, still count. Intervals resample users (`seed`).
pub fn offline(sim: &Simulator, rows: &[Impression], split_date: u32, policies: &mut [(String, EvalPolicy)], seed: u64) -> Result<Vec<OfflineRow>, EvalError> {
    let users: BTreeMap<u32, usize> = sim.user_ids.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let items: BTreeMap<u32, usize> = sim.item_ids.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut days: BTreeMap<(u32, u32), Vec<&Impression>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.date >= split_date) {
        if users.contains_key(&r.user) && items.contains_key(&r.item) {
            days.entry((r.user, r.date)).or_default().push(r);
        }
    }
    let held_out_users: Vec<u32> = days.keys().map(|(u, _)| *u).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let slot: BTreeMap<u32, usize> = held_out_users.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let reward = |r: &Impression| Response { signals: r.signals, play_s: r.play_ms as f32 / 1000.0 }.reward(&sim.config.reward);
    let k = crate::blob::DEFAULT_OBJECTIVES.len();
    let mut names: Vec<String> = policies.iter().map(|(n, _)| n.clone()).collect();
    names.extend(crate::blob::DEFAULT_OBJECTIVES.iter().map(|o| format!("MTL {o} alone")));
    let scorers = names.len();
    let mut sums = vec![vec![[0.0f64; 4]; held_out_users.len()]; scorers];
    let mut pooled: Vec<BTreeMap<u32, UserSamples>> = vec![BTreeMap::new(); scorers];
    let mut n_rows = 0;
    for ((user, date), list) in &days {
        let u = users[user];
        let context = context_features(list[0].hour, list[0].tab, weekday(*date));
        let cands: Vec<u32> = list.iter().map(|r| items[&r.item] as u32).collect();
        let mut scores = Vec::new();
        sim.mtl_scores(u, &cands, &context, &mut scores);
        let item_feats: Vec<f32> = cands.iter().flat_map(|&i| sim.item_row(i as usize).to_vec()).collect();
        debug_assert_eq!(item_feats.len(), cands.len() * ITEM_FEATURES.len());
        let cols = Columns { user: sim.user_row(u), context: &context, items: &item_feats, scores: &scores };
        let n = list.len();
        n_rows += n;
        let gains: Vec<f32> = list.iter().map(|r| reward(r).max(0.0)).collect();
        let labels: Vec<u8> = list.iter().map(|r| r.signals[1]).collect();
        let weights: Vec<f32> = gains.iter().map(|g| 1.0 + g).collect();
        for (s, sum) in sums.iter_mut().enumerate() {
            let mut fused = vec![0.0f32; n];
            let order: Vec<usize> = if let Some((name, policy)) = policies.get_mut(s) {
                let (order, scores) = policy.rank_columns(&cols, n).map_err(|source| EvalError::Offline { policy: name.clone(), source })?;
                for (&j, &v) in order.iter().zip(&scores) {
                    fused[j as usize] = v;
                }
                order.iter().map(|&j| j as usize).collect()
            } else {
                let o = s - policies.len();
                fused.iter_mut().enumerate().for_each(|(j, f)| *f = scores[j * k + o]);
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| fused[b].total_cmp(&fused[a]));
                order
            };
            let e = &mut sum[slot[user]];
            if let Some(a) = weighted_auc(&fused, &labels, &weights) {
                e[0] += a * n as f64;
                e[1] += n as f64;
            }
            if let Some(v) = ndcg6(&order, &gains) {
                e[2] += v;
                e[3] += 1.0;
            }
            let p = pooled[s].entry(*user).or_default();
            p.0.extend_from_slice(&fused);
            p.1.extend_from_slice(&labels);
            p.2.extend_from_slice(&weights);
        }
    }
    let all: Vec<usize> = (0..held_out_users.len()).collect();
    let draws = bootstrap_users(&sums, seed);
    let half = |xs: Vec<f64>| 1.96 * (xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64 - (xs.iter().sum::<f64>() / xs.len() as f64).powi(2)).max(0.0).sqrt();
    let first = metrics_of(&sums[0], &all);
    Ok((0..scorers)
        .map(|s| {
            let (gauc, ndcg) = metrics_of(&sums[s], &all);
            OfflineRow {
                policy: names[s].clone(),
                mtf_gauc: (gauc, half(draws.iter().map(|d| d[s].0).collect())),
                gauc_vs_first: (gauc - first.0, half(draws.iter().map(|d| d[s].0 - d[0].0).collect())),
                ndcg6: (ndcg, half(draws.iter().map(|d| d[s].1).collect())),
                gauc_pooled_days: pooled_gauc(&pooled[s]),
                users: held_out_users.len(),
                user_days: days.len(),
                rows: n_rows,
            }
        })
        .collect())
}

/// MTF-GAUC and NDCG@6 over the users `pick` (with repeats).
fn metrics_of(sums: &[UserSums], pick: &[usize]) -> (f64, f64) {
    let mut t = [0.0f64; 4];
    pick.iter().for_each(|&i| (0..4).for_each(|c| t[c] += sums[i][c]));
    (t[0] / t[1].max(1.0), t[2] / t[3].max(1.0))
}

/// Every scorer's metrics on the same `OFFLINE_BOOTSTRAP` resamples of users.
fn bootstrap_users(sums: &[Vec<UserSums>], seed: u64) -> Vec<Vec<(f64, f64)>> {
    let users = sums.first().map_or(0, Vec::len);
    let mut rng = crate::rng::stream(seed, crate::rng::Purpose::OfflineBootstrap, 0, 0);
    (0..OFFLINE_BOOTSTRAP)
        .map(|_| {
            let pick: Vec<usize> = (0..users).map(|_| rand::Rng::random_range(&mut rng, 0..users.max(1))).collect();
            sums.iter().map(|sum| metrics_of(sum, &pick)).collect()
        })
        .collect()
}

/// The earlier GAUC: one AUC per user over all their held-out days, size-weighted.
fn pooled_gauc(pooled: &BTreeMap<u32, UserSamples>) -> f64 {
    let (mut sum, mut w) = (0.0, 0.0);
    for (f, l, weights) in pooled.values() {
        if let Some(a) = weighted_auc(f, l, weights) {
            sum += a * l.len() as f64;
            w += l.len() as f64;
        }
    }
    sum / w.max(1.0)
}

/// Reward-weighted NDCG@6 of `order`; `None` when no item has a gain.
fn ndcg6(order: &[usize], gains: &[f32]) -> Option<f64> {
    let dcg = |order: &[usize]| order.iter().take(6).enumerate().map(|(p, &j)| gains[j] as f64 / ((p + 2) as f64).log2()).sum::<f64>();
    let mut ideal: Vec<usize> = (0..gains.len()).collect();
    ideal.sort_by(|&a, &b| gains[b].total_cmp(&gains[a]));
    let best = dcg(&ideal);
    (best > 0.0).then(|| dcg(order) / best)
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
        let first = &offline[0].policy;
        s += &format!("\n| policy | MTF-GAUC per request ± 95% CI | vs {first} ± paired 95% CI | reward-weighted NDCG@6 ± 95% CI | GAUC over pooled days | users | user-days | rows |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in offline {
            s += &format!(
                "| {} | {:.4} ± {:.4} | {:+.4} ± {:.4} | {:.4} ± {:.4} | {:.4} | {} | {} | {} |\n",
                r.policy, r.mtf_gauc.0, r.mtf_gauc.1, r.gauc_vs_first.0, r.gauc_vs_first.1, r.ndcg6.0, r.ndcg6.1, r.gauc_pooled_days, r.users, r.user_days, r.rows
            );
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
        let make = |a: f32| crate::rl::static_ranker(&sim, &[a; 14], &cfg, serde_json::Value::Null).unwrap().into();
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
        let mut policies = vec![("foreign".to_string(), foreign.into())];
        let err = simulated_ab(&sim, &mut policies, 3, 1).unwrap_err();
        assert_eq!(err.to_string(), "policy \"foreign\" failed in a simulated session");
        let cause = std::error::Error::source(&err).expect("a cause").to_string();
        assert_eq!(cause, "scores: length 350 is not a multiple of 3 objectives");
    }

    /// Held-out rows for a few known users over two days: the offline rows
    /// are per request, the first row is its own paired zero, and sorting by
    /// the MTL long-view score alone gives the hand-computed request AUCs.
    #[test]
    fn offline_gauc_is_per_request_and_paired() {
        use crate::sim::data::Impression;
        let sim = Simulator::from_bytes(include_bytes!("../models/simulator.safetensors")).unwrap();
        let mut rows = Vec::new();
        for (u, &user) in sim.user_ids.iter().take(4).enumerate() {
            for date in [20220506, 20220507] {
                for j in 0..8 {
                    let item = sim.item_ids[(u * 31 + j * 7 + date as usize) % sim.item_ids.len()];
                    let mut signals = [0u8; 7];
                    signals[1] = ((u + j + date as usize) % 3 == 0) as u8;
                    rows.push(Impression { user, item, date, hour: 20, time_ms: 0, signals, play_ms: 5000 * j as u64, duration_ms: 30_000, tab: 1 });
                }
            }
        }
        rows.push(Impression { date: 20220401, ..rows[0].clone() });
        let cfg = crate::rl::TrainConfig::default();
        let mut policies = vec![("static".to_string(), crate::rl::static_ranker(&sim, &[0.0; 14], &cfg, serde_json::Value::Null).unwrap().into())];
        let out = offline(&sim, &rows, 20220505, &mut policies, 3).unwrap();
        assert_eq!(out.len(), 1 + 7);
        assert_eq!((out[0].users, out[0].user_days, out[0].rows), (4, 8, 64));
        assert_eq!(out[0].gauc_vs_first, (0.0, 0.0));
        let lv = out.iter().find(|r| r.policy == "MTL long_view alone").unwrap();
        let (mut sum, mut w) = (0.0, 0.0);
        for day in rows[..64].chunks(8) {
            let u = sim.user_ids.iter().position(|&x| x == day[0].user).unwrap();
            let cands: Vec<u32> = day.iter().map(|r| sim.item_ids.iter().position(|&x| x == r.item).unwrap() as u32).collect();
            let mut scores = Vec::new();
            sim.mtl_scores(u, &cands, &context_features(20, 1, weekday(day[0].date)), &mut scores);
            let fused: Vec<f32> = scores.chunks(7).map(|s| s[1]).collect();
            let labels: Vec<u8> = day.iter().map(|r| r.signals[1]).collect();
            let weights: Vec<f32> = day.iter().map(|r| 1.0 + Response { signals: r.signals, play_s: r.play_ms as f32 / 1000.0 }.reward(&sim.config.reward).max(0.0)).collect();
            if let Some(a) = weighted_auc(&fused, &labels, &weights) {
                sum += a * 8.0;
                w += 8.0;
            }
        }
        assert!((lv.mtf_gauc.0 - sum / w).abs() < 1e-12, "{} vs {}", lv.mtf_gauc.0, sum / w);
        assert!(lv.mtf_gauc.1 > 0.0 && lv.ndcg6.1 > 0.0);
    }
}
