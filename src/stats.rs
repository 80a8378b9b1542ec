//! The few statistics mtfuse reports and decides with: means with 95%
//! intervals, paired lifts, AUCs, and a request's score moments.

/// Mean and 95% normal-approximation half-width. `(0, 0)` when empty.
pub fn mean_ci(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = xs.collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, 1.96 * (var / n).sqrt())
}

/// Mean and 95% CI of the per-session difference `candidate − base`. Both
/// ran on the same sessions and random streams, so pairing removes most of
/// the between-session spread.
pub fn paired_lift(base: &[f64], candidate: &[f64]) -> (f64, f64) {
    mean_ci(candidate.iter().zip(base).map(|(c, b)| c - b))
}

/// Area under the ROC curve, ties counted half. `None` without both classes.
pub fn auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    weighted_auc(scores, labels, &vec![1.0; scores.len()])
}

/// AUC with sample weights: the weighted share of (positive, negative) pairs
/// ordered correctly, ties counted half. `None` without both classes.
pub fn weighted_auc(scores: &[f32], labels: &[u8], weights: &[f32]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut neg_below, mut num, mut pos_w, mut neg_w) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let (mut tie_pos, mut tie_neg) = (0.0, 0.0);
        for &k in &idx[i..=j] {
            if labels[k] == 1 { tie_pos += weights[k] as f64 } else { tie_neg += weights[k] as f64 }
        }
        num += tie_pos * (neg_below + 0.5 * tie_neg);
        neg_below += tie_neg;
        pos_w += tie_pos;
        neg_w += tie_neg;
        i = j + 1;
    }
    (pos_w > 0.0 && neg_w > 0.0).then(|| num / (pos_w * neg_w))
}

/// Mean then standard deviation of each of the `k` objectives' scores over a
/// request's candidates (`scores` is `n × k`): UnifiedRL's request state.
/// Serving and training both call this, so their states agree bit for bit.
pub fn request_score_stats(scores: &[f32], k: usize) -> Vec<f64> {
    let n = (scores.len() / k.max(1)) as f64;
    let mut st = vec![0.0f64; 2 * k];
    for row in scores.chunks_exact(k) {
        for (o, &v) in row.iter().enumerate() {
            st[o] += v as f64;
            st[k + o] += (v as f64) * (v as f64);
        }
    }
    for o in 0..k {
        let m = st[o] / n;
        st[k + o] = (st[k + o] / n - m * m).max(0.0).sqrt();
        st[o] = m;
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_auc_matches_hand_counts() {
        // Unit weights: pairs (p, n) = (0.9 > 0.1), (0.9 > 0.5), (0.3 > 0.1), (0.3 < 0.5) → 3/4.
        assert_eq!(weighted_auc(&[0.9, 0.3, 0.1, 0.5], &[1, 1, 0, 0], &[1.0; 4]), Some(0.75));
        // Weight 3 on the positive at 0.3: (1·1 + 1·1 + 3·1 + 3·0) / (4 · 2) = 5/8.
        assert_eq!(weighted_auc(&[0.9, 0.3, 0.1, 0.5], &[1, 1, 0, 0], &[1.0, 3.0, 1.0, 1.0]), Some(0.625));
        assert_eq!(weighted_auc(&[0.2, 0.2], &[1, 0], &[1.0, 1.0]), Some(0.5));
        assert_eq!(weighted_auc(&[0.2, 0.3], &[1, 1], &[1.0, 1.0]), None);
        assert_eq!(auc(&[0.9, 0.3, 0.1, 0.5], &[1, 1, 0, 0]), Some(0.75));
        assert_eq!(auc(&[0.1, 0.1, 0.9], &[1, 0, 1]), Some(0.75));
    }

    #[test]
    fn the_gate_needs_a_paired_lift_clear_of_zero() {
        let base: Vec<f64> = (0..400).map(|i| (i % 17) as f64 * 0.3).collect();
        // A small mean gain under large per-session noise: the CI straddles zero.
        let noisy: Vec<f64> = base.iter().enumerate().map(|(i, b)| b + 0.01 + if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let (lift, ci) = paired_lift(&base, &noisy);
        assert!((lift - 0.01).abs() < 1e-9 && lift - ci < 0.0, "{lift} ± {ci}");
        // The same small gain on every session: clear of zero despite the spread between sessions.
        let steady: Vec<f64> = base.iter().map(|b| b + 0.01).collect();
        let (lift, ci) = paired_lift(&base, &steady);
        assert!(lift - ci > 0.0, "{lift} ± {ci}");
    }

    #[test]
    fn request_stats_are_each_objectives_mean_and_std() {
        let st = request_score_stats(&[0.1, 1.0, 0.3, 3.0], 2);
        let want = [0.2, 2.0, 0.1, 1.0];
        for (a, b) in st.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{st:?}");
        }
        let (m, ci) = mean_ci([1.0, 3.0].into_iter());
        assert_eq!(m, 2.0);
        assert!((ci - 1.96 * (2.0f64 / 2.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_ci(std::iter::empty()), (0.0, 0.0));
    }
}
