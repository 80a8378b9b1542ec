//! The 16-bit actor against f32, judged by the ranking, over the shipped
//! actors and 3,000 requests drawn from the fitted simulator: issue #21's
//! acceptance, the top 6 the same (items and order) in at least 99% of
//! requests, and fused scores within a stated bound.
//! `cargo test --release --test quant -- --nocapture` prints the table.

use mtfuse::quant::Precision;
use mtfuse::sim::Simulator;
use mtfuse::{RankedItem, Ranker};

const REQUESTS: usize = 3000;

fn root(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

struct Agreement {
    same_order: usize,
    same_set: usize,
    /// Largest |int16 − f32| fused score of a candidate, over its request's f32 score range.
    worst_relative: f64,
}

fn compare(blob: &str, sim: &Simulator) -> Agreement {
    let bytes = std::fs::read(root(blob)).unwrap();
    let (mut f32r, mut q) = (Ranker::from_bytes(&bytes).unwrap(), Ranker::from_bytes(&bytes).unwrap());
    q.set_precision(Precision::Int16);
    assert_eq!((f32r.precision(), q.precision()), (Precision::F32, Precision::Int16));
    let mut a = Agreement { same_order: 0, same_set: 0, worst_relative: 0.0 };
    for i in 0..REQUESTS {
        let n = [10, 50, 200][i % 3];
        let req = sim.draw_request(i % sim.n_users(), (i % 24) as u8, (i % 3) as u8, (i % 7) as u8, n, i as u64);
        let (want, got) = (f32r.rank(&req).unwrap(), q.rank(&req).unwrap());
        let ids = |r: &[RankedItem]| r.iter().take(6).map(|x| x.id.to_string()).collect::<Vec<_>>();
        let (w6, g6) = (ids(&want), ids(&got));
        a.same_order += (w6 == g6) as usize;
        let (mut ws, mut gs) = (w6.clone(), g6.clone());
        ws.sort();
        gs.sort();
        a.same_set += (ws == gs) as usize;
        let range = (want[0].score - want[want.len() - 1].score).abs().max(1e-6) as f64;
        for w in &want {
            let g = got.iter().find(|g| g.id == w.id).expect("same candidates");
            a.worst_relative = a.worst_relative.max(((g.score - w.score).abs() as f64) / range);
        }
    }
    a
}

#[test]
fn int16_actor_ranks_like_f32() {
    let sim = Simulator::from_bytes(&std::fs::read(root("models/simulator.safetensors")).unwrap()).unwrap();
    println!("| blob | requests | top 6 same order | top 6 same set | worst score change / request's score range |\n|---|---:|---:|---:|---:|");
    for blob in ["models/enhanced.safetensors", "models/user.safetensors"] {
        let a = compare(blob, &sim);
        let pct = |k: usize| 100.0 * k as f64 / REQUESTS as f64;
        println!("| {blob} | {REQUESTS} | {:.2}% | {:.2}% | {:.2e} |", pct(a.same_order), pct(a.same_set), a.worst_relative);
        assert!(a.same_order as f64 >= 0.99 * REQUESTS as f64, "{blob}: the top 6 kept its items and order in {} of {REQUESTS}", a.same_order);
        assert!(a.worst_relative < 2e-3, "{blob}: a fused score moved {:.2e} of its request's range", a.worst_relative);
    }
}

/// A static policy has no actor: choosing int16 changes nothing.
#[test]
fn static_policy_ignores_precision() {
    let bytes = std::fs::read(root("models/static.safetensors")).unwrap();
    let mut r = Ranker::from_bytes(&bytes).unwrap();
    r.set_precision(Precision::Int16);
    assert_eq!(r.precision(), Precision::F32);
}
