//! The static baseline: one global action for everyone, found by a
//! cross-entropy search on the simulator, as industry tunes fusion weights.

use rand::Rng;

use crate::rl::export::{static_ranker, Metrics, A};
use crate::rl::{TrainConfig, TrainError};
use crate::rng::{key, stream, Purpose};
use crate::sim::{run_sessions, Policy, Simulator};
use crate::stats::mean_ci;

/// Builds the policy that serves a static action (plain, or on recalibrated scores).
pub type MakePolicy<'a> = dyn Fn(&[f32]) -> Result<Box<dyn Policy>, TrainError> + 'a;

/// Mean simulated return of the static action `a` over `sessions` sessions.
fn mean_return(sim: &Simulator, a: &[f32], make: &MakePolicy, sessions: usize, seed: u64) -> Result<f64, TrainError> {
    let mut p = make(a)?;
    Ok(mean_ci(run_sessions(sim, p.as_mut(), sessions, seed)?.iter().map(|s| s.ret)).0)
}

/// Cross-entropy search for one global normalised action maximising mean
/// simulated return; all candidates of an iteration see the same sessions.
/// Returns the action and its return on fresh sessions.
pub fn train_static(sim: &Simulator, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<(Vec<f32>, f64), TrainError> {
    search_static(sim, cfg, "static", metrics, progress, &|a| Ok(Box::new(static_ranker(sim, a, cfg, serde_json::Value::Null)?)))
}

/// The search of [`train_static`] for any policy built from one action.
pub fn search_static(sim: &Simulator, cfg: &TrainConfig, algo: &str, metrics: &mut Metrics, progress: &dyn Fn(&str), make: &MakePolicy) -> Result<(Vec<f32>, f64), TrainError> {
    let mut rng = stream(cfg.seed, Purpose::SearchPopulation, 0, 0);
    let (mut mean, mut std) = (vec![0.0f32; A], vec![0.5f32; A]);
    let mut best = (mean.clone(), f64::NEG_INFINITY);
    for it in 0..cfg.es_iterations {
        let mut scored = Vec::new();
        for _ in 0..cfg.es_population {
            // Uniform with the population's std (√3 · half-width).
            let a: Vec<f32> = (0..A).map(|d| (mean[d] + std[d] * (rng.random::<f32>() * 2.0 - 1.0) * 1.732).clamp(-1.0, 1.0)).collect();
            scored.push((mean_return(sim, &a, make, cfg.es_sessions, key(cfg.seed, Purpose::SearchSessions, it as u64, 0))?, a));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let elite = &scored[..cfg.es_elite.min(scored.len())];
        for d in 0..A {
            let m = elite.iter().map(|e| e.1[d]).sum::<f32>() / elite.len() as f32;
            let v = elite.iter().map(|e| (e.1[d] - m).powi(2)).sum::<f32>() / elite.len() as f32;
            mean[d] = m;
            std[d] = v.sqrt().max(0.02);
        }
        if scored[0].0 > best.1 {
            best = (scored[0].1.clone(), scored[0].0);
        }
        metrics.push(serde_json::json!({"algo": algo, "iteration": it, "charts/elite_return": elite[0].0, "charts/population_mean": scored.iter().map(|s| s.0).sum::<f64>() / scored.len() as f64}));
        progress(&format!("ES iteration {it}: best {:.3}", scored[0].0));
    }
    // Re-evaluate the final mean and the best candidate on fresh sessions; keep the better.
    let mut pick = (best.0.clone(), f64::NEG_INFINITY);
    for cand in [mean, best.0] {
        let ret = mean_return(sim, &cand, make, cfg.es_sessions, key(cfg.seed, Purpose::SearchFinalSessions, 0, 0))?;
        if ret > pick.1 {
            pick = (cand, ret);
        }
    }
    Ok(pick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::testing::{sim, tiny};
    use crate::stats::paired_lift;

    /// The search climbs from its start (every action at the middle of its
    /// range) on fresh sessions, paired. At this budget it clears that start
    /// in each of seeds 1–8 (+0.15 to +0.47) but beats a random order clearly
    /// in only 4 of them and loses to it in 2, so that is not asserted: the
    /// centre of the action box ranks far worse than random (1.32 vs 1.68).
    #[test]
    fn static_search_improves_on_its_start() {
        let sim = sim();
        let cfg = TrainConfig { es_iterations: 6, es_population: 12, es_sessions: 300, ..tiny() };
        let mut metrics = Vec::new();
        let (action, _) = train_static(&sim, &cfg, &mut metrics, &|_| {}).unwrap();
        assert_eq!(action.len(), A);
        assert!(action.iter().all(|a| (-1.0..=1.0).contains(a)));
        assert_eq!(metrics.len(), cfg.es_iterations);
        let returns = |a: &[f32]| -> Vec<f64> {
            let mut r = static_ranker(&sim, a, &cfg, serde_json::Value::Null).unwrap();
            run_sessions(&sim, &mut r, 1000, 991).unwrap().iter().map(|s| s.ret).collect()
        };
        let (lift, ci) = paired_lift(&returns(&[0.0; A]), &returns(&action));
        assert!(lift - ci > 0.0, "static search over its start: {lift:+.3} ± {ci:.3}");
    }
}
