//! What each fuzz target asserts, shared with tests/fuzz_regressions.rs so
//! that every input a fuzzer kept is replayed by `cargo test`. Any input may
//! be refused with an error; none may panic, and none may rank with a
//! non-finite, unsorted or out-of-range result.

use mtfuse::{Columns, Ranker};

const TINY: &[u8] = include_bytes!("../tests/fixtures/tiny-enhanced.safetensors");

fn check_ranking(order: &[u32], scores: &[f32], n: usize, top: usize) {
    assert_eq!((order.len(), scores.len()), (top, top));
    assert!(scores.iter().all(|s| s.is_finite()), "{scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let mut seen = order.to_vec();
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.len() == top && seen.iter().all(|&j| (j as usize) < n), "{order:?}");
}

/// Any bytes as a blob; one that loads ranks a request at its feature means.
pub fn blob(data: &[u8]) {
    let Ok(mut r) = Ranker::from_bytes(data) else { return };
    let s = r.schema().clone();
    let (n, k) = (5, s.k());
    let user = s.mean[s.user.clone()].to_vec();
    let context = s.mean[s.context.clone()].to_vec();
    let items: Vec<f32> = (0..n).flat_map(|_| s.mean[s.item.clone()].to_vec()).collect();
    let scores: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let cols = Columns { user: &user, context: &context, items: &items, scores: &scores };
    if let Ok(out) = r.rank_columns(&cols, 3) {
        check_ranking(out.order, out.scores, n, 3);
    }
}

/// Any bytes as a JSON rank request to the tiny fixture blob.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(req) = mtfuse::RankRequest::from_json_text(text) else { return };
    let mut r = Ranker::from_bytes(TINY).expect("the fixture loads");
    if let Ok(items) = r.rank(&req) {
        let scores: Vec<f32> = items.iter().map(|i| i.score).collect();
        assert!(!items.is_empty() && items.len() <= req.items.len());
        assert!(scores.iter().all(|s| s.is_finite()) && scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }
}

/// Any bytes as columns: four lengths and topK, then little-endian f32s
/// (NaN and infinities included), to the tiny fixture blob.
pub fn columnar(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let lens: Vec<usize> = data[..4].iter().map(|&b| b as usize % 64).collect();
    let top = data[4] as usize;
    let floats: Vec<f32> = data[5..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let mut at = 0;
    let mut take = |len: usize| {
        let v: Vec<f32> = (0..len).map(|i| floats.get(at + i).copied().unwrap_or(0.5)).collect();
        at += len;
        v
    };
    let (user, context, items, scores) = (take(lens[0]), take(lens[1]), take(lens[2]), take(lens[3]));
    let mut r = Ranker::from_bytes(TINY).expect("the fixture loads");
    let n = scores.len() / r.schema().k();
    let cols = Columns { user: &user, context: &context, items: &items, scores: &scores };
    if let Ok(out) = r.rank_columns(&cols, top) {
        check_ranking(out.order, out.scores, n, top);
    }
}
