//! The static baseline from logs: the cross-entropy search of
//! `static_search`, each candidate action scored by a self-normalised
//! importance-sampling (SNIPS) estimate from the logged requests instead of
//! simulator rollouts. The exploration density is known (uniform on a box
//! around the logged base action, clamped to [−1, 1]), so the weight of a
//! request is the density of its logged action under "serve the candidate
//! with the same exploration" over that under the behaviour.
//!
//! The estimate is per request (the list reward), not per session: products
//! of weights over a session's requests vanish. So it is myopic, and it can
//! only judge candidates whose exploration box overlaps the behaviour's.

use rand::Rng;

use crate::blob::PolicyWeights;
use crate::logs::stream_logs;
use crate::rl::export::{Metrics, A, K};
use crate::rl::offline::{LogStats, Setup};
use crate::rl::{TrainConfig, TrainError};
use crate::rng::{stream, Purpose};
use crate::schema::PolicyKind;

/// What the estimate needs of one logged request.
#[derive(Clone, Debug)]
pub struct LoggedAction {
    pub base: [f32; A],
    pub taken: [f32; A],
    pub explore: f32,
    /// The list reward of the request.
    pub reward: f32,
}

/// `π(taken) / β(taken)` for the target "serve `target` plus the same
/// exploration": per dimension, 1 or 0 inside [−1, 1] (both densities are
/// 1/2e where they cover), and the ratio of the clamped masses at ±1.
pub fn density_ratio(target: &[f32], r: &LoggedAction) -> f64 {
    let e = r.explore as f64;
    let mut w = 1.0f64;
    for ((&x, &b), &a) in r.taken.iter().zip(&r.base).zip(target) {
        let (x, b, a) = (x as f64, b as f64, a as f64);
        w *= if x >= 1.0 {
            (a + e - 1.0).max(0.0) / (b + e - 1.0).max(1e-12)
        } else if x <= -1.0 {
            (e - 1.0 - a).max(0.0) / (e - 1.0 - b).max(1e-12)
        } else if (x - a).abs() <= e {
            1.0
        } else {
            0.0
        };
        if w == 0.0 {
            break;
        }
    }
    w
}

/// The SNIPS value of `target` and the effective sample size of its weights.
pub fn snips(target: &[f32], log: &[LoggedAction]) -> (f64, f64) {
    let e = estimate(target, log);
    (e.value, e.ess)
}

/// A SNIPS estimate with its effective sample size and 95% half-width
/// (delta method: `Σ w²(r − v)² / (Σ w)²`).
pub struct Estimate {
    pub value: f64,
    pub ess: f64,
    pub ci: f64,
}

pub fn estimate(target: &[f32], log: &[LoggedAction]) -> Estimate {
    let weights: Vec<f64> = log.iter().map(|r| density_ratio(target, r)).collect();
    let sw: f64 = weights.iter().sum();
    if sw == 0.0 {
        return Estimate { value: f64::NEG_INFINITY, ess: 0.0, ci: f64::INFINITY };
    }
    let value = weights.iter().zip(log).map(|(w, r)| w * r.reward as f64).sum::<f64>() / sw;
    let sw2: f64 = weights.iter().map(|w| w * w).sum();
    let var = weights.iter().zip(log).map(|(w, r)| (w * (r.reward as f64 - value)).powi(2)).sum::<f64>() / (sw * sw);
    Estimate { value, ess: sw * sw / sw2, ci: 1.96 * var.sqrt() }
}

/// Candidates need this effective sample size to be judged at all.
const MIN_ESS: f64 = 30.0;

/// The cross-entropy search on a log. The log's sessions are split in two
/// halves by id: the search scores candidates on one by the lower end of
/// their estimate's 95% interval (the maximum of many noisy estimates is
/// biased up), and the other half decides whether the best beats the
/// behaviour's mean action, the start, or whether that ships instead.
/// Returns the action and its blob.
pub fn train_static_from_log_files(pattern: &str, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<(Vec<f32>, Vec<u8>), TrainError> {
    let (mut stats, mut rows) = (LogStats::empty(PolicyKind::Static), Vec::new());
    let mut per_item = None;
    let summary = stream_logs(pattern, &mut |q| {
        stats.add(&q);
        if q.explore_per_item && per_item.is_none() {
            per_item = Some((q.session.clone(), q.request));
        }
        let mut r = LoggedAction { base: [0.0; A], taken: [0.0; A], explore: q.explore, reward: 0.0 };
        r.base.copy_from_slice(&q.base[..A]);
        r.taken.copy_from_slice(&q.actions[..A]);
        let half = crate::blob::crc32(q.session.as_bytes()) % 2 == 0;
        rows.push((r, q.signals, q.play_s, half));
        Ok(())
    })?;
    if let Some((session, request)) = per_item {
        return Err(TrainError::InvalidConfig { field: "kind", problem: format!("a static search from logs needs one action per request, but session \"{session}\" request {request} explored per item") });
    }
    let ls = &summary.schema;
    let (mut search, mut select) = (Vec::new(), Vec::new());
    for (mut r, signals, play, half) in rows {
        r.reward = signals.chunks_exact(K).zip(&play).map(|(s, &p)| ls.group_rewards(s, p).iter().sum::<f32>()).sum();
        if half { search.push(r) } else { select.push(r) }
    }
    stats.name(ls);
    let setup = Setup::new(ls, PolicyKind::Static, cfg, &stats)?;
    let start = stats.mean_base();
    let lower = |a: &[f32]| {
        let e = estimate(a, &search);
        (if e.ess >= MIN_ESS { e.value - e.ci } else { f64::NEG_INFINITY }, e.ess)
    };
    let spread = search.iter().map(|r| r.explore).fold(0.0f32, f32::max) / 2.0;
    let mut rng = stream(cfg.seed, Purpose::SearchPopulation, 0, 0);
    let (mut mean, mut std) = (start.clone(), vec![spread; A]);
    let mut best = (start.clone(), lower(&start).0);
    for it in 0..cfg.es_iterations {
        let mut scored: Vec<(f64, f64, Vec<f32>)> = (0..cfg.es_population)
            .map(|_| {
                let a: Vec<f32> = (0..A).map(|d| (mean[d] + std[d] * (rng.random::<f32>() * 2.0 - 1.0) * 1.732).clamp(-1.0, 1.0)).collect();
                let (lcb, ess) = lower(&a);
                (lcb, ess, a)
            })
            .collect();
        scored.sort_by(|x, y| y.0.total_cmp(&x.0));
        let elite: Vec<&(f64, f64, Vec<f32>)> = scored.iter().take(cfg.es_elite).filter(|e| e.0.is_finite()).collect();
        if let Some(top) = elite.first().filter(|t| t.0 > best.1) {
            best = (top.2.clone(), top.0);
        }
        // No candidate with enough support: keep searching around the same mean.
        if !elite.is_empty() {
            for d in 0..A {
                let m = elite.iter().map(|e| e.2[d]).sum::<f32>() / elite.len() as f32;
                let v = elite.iter().map(|e| (e.2[d] - m).powi(2)).sum::<f32>() / elite.len() as f32;
                mean[d] = m;
                std[d] = v.sqrt().max(0.02);
            }
        }
        metrics.push(serde_json::json!({"algo": "static", "source": "log", "iteration": it, "charts/elite_return": elite.first().map_or(f64::NAN, |e| e.0), "charts/elite_ess": elite.first().map_or(0.0, |e| e.1)}));
        progress(&format!("ES iteration {it}: best lower bound {:.4} per request, {} of {} candidates with ESS ≥ {MIN_ESS}", best.1, scored.iter().filter(|e| e.0.is_finite()).count(), scored.len()));
    }
    // The held-out half decides: the search's best ships only if its lower bound clears the start's estimate.
    let (found, held) = (estimate(&best.0, &select), estimate(&start, &select));
    let ships = found.ess >= MIN_ESS && found.value - found.ci > held.value;
    progress(&format!(
        "held-out half: search's best {:.4} ± {:.4} (ESS {:.0}) against the behaviour's mean action {:.4}; {}",
        found.value, found.ci, found.ess, held.value, if ships { "keeping the search's best" } else { "keeping the behaviour's mean action" }
    ));
    let action = if ships { best.0 } else { start };
    let summary_json = serde_json::json!({"algo": "static", "source": "log", "held_out_snips_per_request": found.value, "held_out_ci": found.ci, "held_out_ess": found.ess, "behaviour_held_out_snips_per_request": held.value, "kept_search": ships, "requests": search.len() + select.len(), "rows": summary.rows});
    let (_, bytes) = setup.spec.export(PolicyWeights::Static(action.clone()), summary_json)?;
    Ok((action, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn logged(base: f32, taken: f32, explore: f32) -> LoggedAction {
        LoggedAction { base: [base; A], taken: [taken; A], explore, reward: 1.0 }
    }

    /// Rewards that grow with the first action dimension: SNIPS ranks a
    /// target moved up above one moved down, and judges nothing outside the box.
    #[test]
    fn snips_ranks_targets_by_the_rewards_their_boxes_cover() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let log: Vec<LoggedAction> = (0..4000)
            .map(|_| {
                let mut r = logged(0.0, 0.0, 0.15);
                for d in 0..A {
                    r.taken[d] = rng.random_range(-0.15..0.15);
                }
                r.reward = 1.0 + r.taken[0];
                r
            })
            .collect();
        let mut up = [0.0f32; A];
        up[0] = 0.1;
        let mut down = [0.0f32; A];
        down[0] = -0.1;
        let ((vu, eu), (vd, _), (v0, e0)) = (snips(&up, &log), snips(&down, &log), snips(&[0.0; A], &log));
        assert!(vu > v0 && v0 > vd, "{vu} {v0} {vd}");
        assert!((v0 - 1.0).abs() < 0.01 && e0 == 4000.0, "{v0} {e0}");
        assert!(eu < 0.7 * 4000.0, "ESS {eu}");
        assert_eq!(snips(&[0.5; A], &log), (f64::NEG_INFINITY, 0.0));
    }

    #[test]
    fn the_density_ratio_follows_the_boxes_and_the_clamped_masses() {
        let r = logged(0.0, 0.1, 0.15);
        assert_eq!(density_ratio(&[0.0; A], &r), 1.0);
        assert_eq!(density_ratio(&[0.2; A], &r), 1.0);
        assert_eq!(density_ratio(&[0.3; A], &r), 0.0);
        // At the bound: the behaviour put mass 0.05 / 0.3 there, a target centred 0.05 higher 0.1 / 0.3.
        let top = logged(0.9, 1.0, 0.15);
        let w = density_ratio(&[0.95; A], &top);
        assert!((w - 2f64.powi(A as i32)).abs() < 1e-4 * w, "{w}");
        assert_eq!(density_ratio(&[0.8; A], &top), 0.0);
    }
}
