//! Property tests of the inference core (proptest): any blob that loads
//! ranks with finite scores, and any change to a blob's bytes either fails
//! to load or ranks identically.
#![cfg(not(target_arch = "wasm32"))]

use mtfuse::blob::{random_policy, PolicyWeights};
use mtfuse::{Blob, Columns, PolicyKind, Ranker};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

/// A blob with random sizes, normalisation, action ranges and weights
/// (scaled by `gain`), and a random request for it whose inputs lie within
/// `spread` standard deviations of the blob's means.
struct Case {
    bytes: Vec<u8>,
    user: Vec<f32>,
    context: Vec<f32>,
    items: Vec<f32>,
    scores: Vec<f32>,
    n: usize,
}

fn case(kind: PolicyKind, sizes: [usize; 3], hidden: &[usize], gain: f32, spread: f32, n: usize, seed: u64) -> Case {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut meta, mut weights) = random_policy(kind, sizes, hidden, seed);
    for f in &mut meta.features {
        f.mean = rng.random_range(-100.0..100.0);
        f.std = 10f32.powf(rng.random_range(-3.0..2.0));
    }
    for d in 0..meta.action_low.len() {
        let (a, b) = (rng.random_range(-10.0..10.0f32), rng.random_range(-10.0..10.0f32));
        (meta.action_low[d], meta.action_high[d]) = (a.min(b), a.max(b));
    }
    if let PolicyWeights::Actor(actor) = &mut weights {
        for l in &mut actor.layers {
            l.w.mapv_inplace(|w| w * gain);
            l.b.mapv_inplace(|_| rng.random_range(-1.0..1.0) * gain);
        }
    }
    let bytes = Blob::to_bytes(&meta, &weights).unwrap();
    let blob = Blob::from_bytes(&bytes).unwrap();
    let s = &blob.schema;
    let mut draw = |range: std::ops::Range<usize>, rows: usize| -> Vec<f32> {
        (0..rows).flat_map(|_| range.clone().map(|i| s.mean[i] + rng.random_range(-spread..spread) / s.inv_std[i]).collect::<Vec<_>>()).collect()
    };
    let (user, context, items) = (draw(s.user.clone(), 1), draw(s.context.clone(), 1), draw(s.item.clone(), n));
    let scores = (0..n * s.k()).map(|_| rng.random_range(-0.5..1.5)).collect();
    Case { bytes, user, context, items, scores, n }
}

fn kinds() -> impl Strategy<Value = PolicyKind> {
    prop_oneof![Just(PolicyKind::Static), Just(PolicyKind::UserLevel), Just(PolicyKind::Enhanced)]
}

/// Order and scores of a ranking, or None when it fails.
fn rank(bytes: &[u8], c: &Case, top: usize) -> Option<(Vec<u32>, Vec<f32>)> {
    let mut r = Ranker::from_bytes(bytes).ok()?;
    let cols = Columns { user: &c.user, context: &c.context, items: &c.items, scores: &c.scores };
    let out = r.rank_columns(&cols, top).ok()?;
    Some((out.order.to_vec(), out.scores.to_vec()))
}

proptest! {
    #[test]
    fn a_blob_that_loads_ranks_with_finite_scores(
        kind in kinds(), users in 0..4usize, contexts in 0..3usize, items in 0..4usize,
        hidden in prop::collection::vec(1..24usize, 1..3), gain in 0.1..10.0f32,
        spread in 0.0..100.0f32, n in 1..60usize, top in 1..60usize, seed in any::<u64>(),
    ) {
        let c = case(kind, [users, contexts, items], &hidden, gain, spread, n, seed);
        let top = top.min(n);
        let (order, scores) = rank(&c.bytes, &c, top).expect("a valid request to a valid blob ranks");
        prop_assert_eq!(order.len(), top);
        prop_assert!(scores.iter().all(|s| s.is_finite()), "{:?}", scores);
        prop_assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not sorted: {:?}", scores);
        let mut seen = order.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert!(seen.len() == top && seen.iter().all(|&j| (j as usize) < c.n));
    }

    #[test]
    fn a_changed_blob_fails_to_load_or_ranks_identically(
        kind in kinds(), seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..4u8, any::<u8>()), 1..5),
    ) {
        let c = case(kind, [2, 1, 2], &[6], 1.0, 3.0, 7, seed);
        let want = rank(&c.bytes, &c, 7).unwrap();
        let mut b = c.bytes.clone();
        for (at, op, byte) in edits {
            let i = at.index(b.len().max(1));
            match op {
                0 => b[i] ^= 1 << (byte % 8),
                1 => b[i] = byte,
                2 => b.truncate(i),
                _ => b.insert(i, byte),
            }
            if b.is_empty() {
                break;
            }
        }
        if let Some(got) = rank(&b, &c, 7) {
            prop_assert_eq!(got, want);
        }
    }
}
