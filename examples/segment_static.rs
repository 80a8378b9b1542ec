//! How much could one action per request gain over one global action in the
//! committed simulator? Splits the users into thirds by one user feature,
//! runs a cross-entropy search per third from the shipped static action, and
//! compares the per-third actions with the global one on fresh sessions.
//!
//! `cargo run --release --example segment_static -- [user feature name]`

use mtfuse::rl::static_ranker;
use mtfuse::rl::TrainConfig;
use mtfuse::sim::run_session;
use mtfuse::stats::mean_ci;
use mtfuse::sim::model::USER_FEATURES;
use mtfuse::sim::Simulator;
use rand::{Rng, SeedableRng};

/// Mean return of a static action over `n` sessions of `users`, round-robin.
fn mean_return(sim: &Simulator, action: &[f32], users: &[usize], n: usize, seed: u64) -> f64 {
    let mut r = static_ranker(sim, action, &TrainConfig::default(), serde_json::Value::Null).expect("static blob builds");
    mean_ci((0..n).map(|s| run_session(sim, &mut r, users[s % users.len()], seed, (s / users.len()) as u64, None).expect("static ranker ranks").ret)).0
}

/// Cross-entropy search over one action for `users`, started at `start`; returns the best of the final mean, the best candidate and `start` on fresh sessions.
fn search(sim: &Simulator, start: &[f32], users: &[usize], seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut mean, mut std) = (start.to_vec(), vec![0.3f32; start.len()]);
    let mut best = (start.to_vec(), f64::NEG_INFINITY);
    for it in 0..8 {
        let mut scored: Vec<(f64, Vec<f32>)> = (0..16)
            .map(|_| {
                let a: Vec<f32> = mean.iter().zip(&std).map(|(m, s)| (m + s * (rng.random::<f32>() * 2.0 - 1.0) * 1.732).clamp(-1.0, 1.0)).collect();
                (mean_return(sim, &a, users, 1000, 100 + it), a)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let elite = &scored[..4];
        for d in 0..mean.len() {
            mean[d] = elite.iter().map(|e| e.1[d]).sum::<f32>() / 4.0;
            std[d] = (elite.iter().map(|e| (e.1[d] - mean[d]).powi(2)).sum::<f32>() / 4.0).sqrt().max(0.02);
        }
        if scored[0].0 > best.1 {
            best = (scored[0].1.clone(), scored[0].0);
        }
    }
    [mean, best.0, start.to_vec()].into_iter().map(|a| (mean_return(sim, &a, users, 2000, 999), a)).max_by(|a, b| a.0.total_cmp(&b.0)).expect("three candidates").1
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| USER_FEATURES[0].to_string());
    let feature = USER_FEATURES.iter().position(|f| *f == name).ok_or_else(|| format!("unknown user feature {name:?}; one of {}", USER_FEATURES.join(", ")))?;
    let sim = Simulator::from_bytes(&std::fs::read("models/simulator.safetensors")?)?;
    let blob = mtfuse::Ranker::from_bytes(&std::fs::read("models/static.safetensors")?)?;
    let global = blob.blob().meta.baseline_action.clone();
    let mut users: Vec<usize> = (0..sim.n_users()).collect();
    users.sort_by(|&a, &b| sim.user_row(a)[feature].total_cmp(&sim.user_row(b)[feature]));
    let (mut sum_global, mut sum_segment) = (0.0, 0.0);
    for (i, third) in users.chunks(users.len().div_ceil(3)).enumerate() {
        let action = search(&sim, &global, third, 5 + i as u64);
        let (g, s) = (mean_return(&sim, &global, third, 3000, 4242), mean_return(&sim, &action, third, 3000, 4242));
        println!("{name} third {i} ({} users): global action {g:.3}, its own action {s:.3}", third.len());
        sum_global += g * third.len() as f64;
        sum_segment += s * third.len() as f64;
    }
    println!("all users: global action {:.3}, per-third actions {:.3} ({:+.1}%)", sum_global / users.len() as f64, sum_segment / users.len() as f64, 100.0 * (sum_segment / sum_global - 1.0));
    Ok(())
}
