//! The states the actor and critics see, built exactly as serving builds
//! them. EnhancedRL's enhanced state is one row per candidate: user, context,
//! item features and the item's MTL scores. UnifiedRL's is one row per
//! request: user, context and each objective's mean and std over the list.

use crate::rl::export::{A, K};
use crate::schema::{PolicyKind, Schema};
use crate::sim::{Simulator, Transition};
use crate::stats::request_score_stats;

/// The normalised state rows a ranker with this schema computes for a
/// transition: one per candidate (enhanced) or one for the request.
pub fn pair_states(sim: &Simulator, schema: &Schema, t: &Transition) -> Vec<Vec<f32>> {
    let items: Vec<f32> = t.candidates.iter().flat_map(|&i| sim.item_row(i as usize).iter().copied()).collect();
    request_states(schema, sim.user_row(t.user as usize), &t.context, &items, &t.scores)
}

/// The normalised state rows of a request from its raw features: user and
/// context, then per candidate its item features and scores (enhanced), or
/// each objective's mean and std over the candidates (user-level).
pub fn request_states(schema: &Schema, user: &[f32], context: &[f32], items: &[f32], scores: &[f32]) -> Vec<Vec<f32>> {
    let norm = |v: f32, i: usize| (v - schema.mean[i]) * schema.inv_std[i];
    let mut shared: Vec<f32> = user.iter().enumerate().map(|(i, &v)| norm(v, schema.user.start + i)).collect();
    shared.extend(context.iter().enumerate().map(|(i, &v)| norm(v, schema.context.start + i)));
    let fi = schema.item.len();
    match schema.kind {
        PolicyKind::Enhanced => scores
            .chunks_exact(K)
            .enumerate()
            .map(|(p, row)| {
                let mut s = shared.clone();
                s.extend(items[p * fi..(p + 1) * fi].iter().enumerate().map(|(i, &v)| norm(v, schema.item.start + i)));
                s.extend(row.iter().enumerate().map(|(i, &v)| norm(v, schema.score.start + i)));
                s
            })
            .collect(),
        _ => {
            let mut s = shared;
            s.extend(request_score_stats(scores, K).iter().enumerate().map(|(i, &v)| norm(v as f32, schema.request.start + i)));
            vec![s]
        }
    }
}

/// Mean and std of the MTL scores (enhanced) or of the per-request score
/// statistics (user-level) over a log: the blob's input normalisation.
pub fn score_stats(kind: PolicyKind, log: &[Transition]) -> Vec<(f32, f32)> {
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); if kind == PolicyKind::Enhanced { K } else { A }];
    for t in log {
        if kind == PolicyKind::Enhanced {
            for row in t.scores.chunks_exact(K) {
                for o in 0..K {
                    cols[o].push(row[o] as f64);
                }
            }
        } else {
            let n = t.candidates.len() as f64;
            for o in 0..K {
                let v: Vec<f64> = t.scores.chunks_exact(K).map(|r| r[o] as f64).collect();
                let m = v.iter().sum::<f64>() / n;
                cols[o].push(m);
                cols[K + o].push((v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt());
            }
        }
    }
    cols.iter()
        .map(|c| {
            let m = c.iter().sum::<f64>() / c.len().max(1) as f64;
            let s = (c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / c.len().max(1) as f64).sqrt();
            (m as f32, (s as f32).max(1e-4))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::PolicyWeights;
    use crate::rl::testing::{sim, tiny};
    use crate::rl::train_rl;
    use crate::sim::run_session;

    /// The states the trainer builds are the ones the served ranker builds:
    /// the exported actor, run on them, reproduces the ranker's logged actions.
    #[test]
    fn trainer_states_match_serving() {
        let sim = sim();
        let cfg = tiny();
        for kind in [PolicyKind::Enhanced, PolicyKind::UserLevel] {
            let mut trained = train_rl(&sim, kind, &[0.0; A], &cfg, &mut Vec::new(), &|_| {}).unwrap();
            let mut log = Vec::new();
            run_session(&sim, &mut trained.ranker, 3, 11, 0, Some(&mut log)).unwrap();
            let PolicyWeights::Actor(actor) = &trained.ranker.blob().weights else { panic!() };
            let schema = trained.ranker.schema().clone();
            let states = pair_states(&sim, &schema, &log[0]);
            assert_eq!(states.len(), if kind == PolicyKind::Enhanced { log[0].candidates.len() } else { 1 });
            let split = actor.shared_inputs;
            for (p, s) in states.iter().enumerate() {
                let mut out = Vec::new();
                actor.forward(&s[..split], &s[split..], 1, &mut Default::default(), &mut out);
                assert_eq!(out.len(), A);
                for (a, b) in out.iter().zip(&log[0].actions[p * A..(p + 1) * A]) {
                    assert!((a - b).abs() < 1e-5, "{kind:?} pair {p}: {a} vs {b}");
                }
            }
        }
    }
}
