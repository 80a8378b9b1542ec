//! The three training algorithms and what they share: blob metadata for the
//! simulator's schema, exploration, data collection and evaluation.

use ndarray::{s, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::blob::{Blob, BlobMeta, PolicyWeights, DEFAULT_OBJECTIVES};
use crate::error::RequestError;
use crate::fusion::{fuse, top_k, ActionSpace, MIN_BIAS};
use crate::policy::{Decision, Policy};
use crate::ranker::{Columns, Ranker};
use crate::rl::net::{Adam, Head, Mlp};
use crate::rl::TrainConfig;
use crate::schema::{request_stat_name, Feature, FeatureGroup, PolicyKind, Schema};
use crate::sim::env::{mean_ci, run_session, Response, SessionStats, Transition};
use crate::sim::Simulator;

const K: usize = 7;
const A: usize = 2 * K;

/// Real action ranges: powers in [0, 2] (hate in [−2, 0]), biases in [0.001, 1].
pub fn action_ranges() -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![0.0; K];
    let mut hi = vec![2.0; K];
    (lo[K - 1], hi[K - 1]) = (-2.0, 0.0);
    lo.extend([1e-3; K]);
    hi.extend([1.0; K]);
    (lo, hi)
}

/// One line of the metrics log (JSON lines).
pub type Metrics = Vec<serde_json::Value>;

/// Feature list of a blob trained on `sim`: the simulator's user, context
/// and item features, then the kind's score or request statistics.
pub fn blob_features(sim: &Simulator, kind: PolicyKind, score_stats: &[(f32, f32)]) -> Vec<Feature> {
    let mut f: Vec<Feature> = [FeatureGroup::User, FeatureGroup::Context, FeatureGroup::Item].iter().flat_map(|g| sim.group(*g).cloned()).collect();
    match kind {
        PolicyKind::Enhanced => f.extend(DEFAULT_OBJECTIVES.iter().zip(score_stats).map(|(o, (m, s))| Feature { name: o.to_string(), group: FeatureGroup::Score, mean: *m, std: *s })),
        PolicyKind::UserLevel => {
            for (stat, range) in [("mean", 0..K), ("std", K..2 * K)] {
                f.extend(DEFAULT_OBJECTIVES.iter().zip(&score_stats[range]).map(|(o, (m, s))| Feature { name: request_stat_name(stat, o), group: FeatureGroup::Request, mean: *m, std: *s }));
            }
        }
        PolicyKind::Static => {}
    }
    f
}

fn meta(sim: &Simulator, kind: PolicyKind, stats: &[(f32, f32)], hidden: Vec<usize>, baseline: Vec<f32>, cfg: &TrainConfig, summary: serde_json::Value) -> BlobMeta {
    let (action_low, action_high) = action_ranges();
    BlobMeta {
        kind,
        objectives: DEFAULT_OBJECTIVES.iter().map(|s| s.to_string()).collect(),
        features: blob_features(sim, kind, stats),
        action_low,
        action_high,
        baseline_action: baseline,
        hidden,
        config: serde_json::to_value(cfg).expect("config serialises"),
        summary,
    }
}

fn ranker(meta: BlobMeta, weights: PolicyWeights) -> Result<Ranker, String> {
    let bytes = Blob::to_bytes(&meta, &weights).map_err(|e| e.to_string())?;
    Ranker::from_bytes(&bytes).map_err(|e| e.to_string())
}

/// A static policy as a ranker (its normalised action, shared by all).
pub fn static_ranker(sim: &Simulator, action: &[f32], cfg: &TrainConfig, summary: serde_json::Value) -> Result<Ranker, String> {
    ranker(meta(sim, PolicyKind::Static, &[], vec![], action.to_vec(), cfg, summary), PolicyWeights::Static(action.to_vec()))
}

/// Runs `sessions` sessions (users round-robin) and returns their stats.
pub fn evaluate(sim: &Simulator, policy: &mut dyn Policy, sessions: usize, seed: u64) -> Result<Vec<SessionStats>, RequestError> {
    (0..sessions).map(|s| run_session(sim, policy, s % sim.n_users(), seed, (s / sim.n_users()) as u64, None)).collect()
}

/// The behaviour policy: the current policy plus `U(−explore, explore)` per
/// normalised action dimension, drawn once per request.
pub struct Explore<'a> {
    pub inner: &'a mut Ranker,
    pub space: ActionSpace,
    pub explore: f32,
    /// Draw ε per item (every candidate gets its own action) instead of per request.
    pub per_item: bool,
    pub rng: StdRng,
    fused: Vec<f32>,
    real: Vec<f32>,
}

impl<'a> Explore<'a> {
    pub fn new(inner: &'a mut Ranker, explore: f32, seed: u64) -> Explore<'a> {
        let space = inner.blob().actions.clone();
        Explore { inner, space, explore, per_item: false, rng: StdRng::seed_from_u64(seed), fused: Vec::new(), real: vec![0.0; A] }
    }
}

impl Policy for Explore<'_> {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let n = cols.scores.len() / K;
        let r = self.inner.rank_columns(cols, n)?;
        out.actions.clear();
        if self.per_item {
            for j in 0..n {
                let base = if r.per_item { &r.norm_actions[j * A..(j + 1) * A] } else { &r.norm_actions[..A] };
                for &a in base {
                    out.actions.push((a + self.rng.random_range(-self.explore..self.explore)).clamp(-1.0, 1.0));
                }
            }
            out.per_item = true;
        } else {
            let eps: Vec<f32> = (0..A).map(|_| self.rng.random_range(-self.explore..self.explore)).collect();
            out.actions.extend(r.norm_actions.iter().enumerate().map(|(i, a)| (a + eps[i % A]).clamp(-1.0, 1.0)));
            out.per_item = r.per_item;
        }
        self.fused.clear();
        for j in 0..n {
            let a = if out.per_item { &out.actions[j * A..(j + 1) * A] } else { &out.actions[..A] };
            self.space.to_real(a, &mut self.real);
            self.fused.push(fuse(&cols.scores[j * K..(j + 1) * K], &self.real));
        }
        top_k(&self.fused, top, &mut out.order);
        Ok(())
    }
}

/// Cross-entropy search for one global normalised action maximising mean
/// simulated return; all candidates see the same sessions.
pub fn train_static(sim: &Simulator, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<(Vec<f32>, f64), String> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let (mut mean, mut std) = (vec![0.0f32; A], vec![0.5f32; A]);
    let mut best = (mean.clone(), f64::NEG_INFINITY);
    for it in 0..cfg.es_iterations {
        let mut scored = Vec::new();
        for _ in 0..cfg.es_population {
            let a: Vec<f32> = (0..A).map(|d| (mean[d] + std[d] * (rng.random::<f32>() * 2.0 - 1.0) * 1.732).clamp(-1.0, 1.0)).collect();
            let mut r = static_ranker(sim, &a, cfg, serde_json::Value::Null)?;
            let stats = evaluate(sim, &mut r, cfg.es_sessions, cfg.seed + 1000 + it as u64).map_err(|e| e.to_string())?;
            scored.push((mean_ci(stats.iter().map(|s| s.ret)).0, a));
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
        metrics.push(serde_json::json!({"algo": "static", "iteration": it, "charts/elite_return": elite[0].0, "charts/population_mean": scored.iter().map(|s| s.0).sum::<f64>() / scored.len() as f64}));
        progress(&format!("ES iteration {it}: best {:.3}", scored[0].0));
    }
    // Re-evaluate the final mean and the best candidate on fresh sessions; keep the better.
    let mut final_pick = best.0.clone();
    let mut best_ret = f64::NEG_INFINITY;
    for cand in [mean.clone(), best.0.clone()] {
        let mut r = static_ranker(sim, &cand, cfg, serde_json::Value::Null)?;
        let ret = mean_ci(evaluate(sim, &mut r, cfg.es_sessions, cfg.seed + 7777).map_err(|e| e.to_string())?.iter().map(|s| s.ret)).0;
        if ret > best_ret {
            (best_ret, final_pick) = (ret, cand);
        }
    }
    Ok((final_pick, best_ret))
}

/// One logged decision as the critics and the actor see it.
struct Sample {
    /// Normalised states of the pairs (enhanced: every candidate; user-level: the request).
    states: Vec<Vec<f32>>,
    /// Logged normalised actions, one per state.
    actions: Vec<Vec<f32>>,
    /// Behaviour policy's action before noise: the centre of the box.
    centers: Vec<Vec<f32>>,
    /// Indices into `states` of the shown pairs, and of the others.
    shown: Vec<usize>,
    unshown: Vec<usize>,
    /// List reward per critic group.
    rewards: [f32; 2],
    next: Option<usize>,
    /// Margin critic only: raw MTL scores (`candidates × k`), and each
    /// candidate's cut-off and margin under the logged actions.
    scores: Vec<f32>,
    cuts: Vec<f32>,
    margins: Vec<f32>,
}

impl Sample {
    /// The pairs a batch takes from this sample, with their weights in the
    /// list's sum of Q: every shown pair, and up to `unshown` of the others
    /// drawn at random, each standing for its share of all of them.
    fn pairs(&self, unshown: usize, rng: &mut StdRng) -> Vec<(usize, f32)> {
        let mut out: Vec<(usize, f32)> = self.shown.iter().map(|&p| (p, 1.0)).collect();
        let n = unshown.min(self.unshown.len());
        if n > 0 {
            let w = self.unshown.len() as f32 / n as f32;
            out.extend(rand::seq::index::sample(rng, self.unshown.len(), n).into_iter().map(|i| (self.unshown[i], w)));
        }
        out
    }
}

/// Reward of one response split into group A (long view, watch time, click) and B (interactions).
fn group_rewards(r: &Response, sim: &Simulator) -> [f32; 2] {
    let w = &sim.config.reward;
    let a = w.signals[0] * r.signals[0] as f32 + w.signals[1] * r.signals[1] as f32 + w.play_s * r.play_s;
    let b = (2..7).map(|s| w.signals[s] * r.signals[s] as f32).sum();
    [a, b]
}

/// The state vectors a ranker with this schema computes for a transition:
/// one per candidate (enhanced) or one for the request (user-level).
fn pair_states(sim: &Simulator, schema: &Schema, t: &Transition) -> Vec<Vec<f32>> {
    let norm = |v: f32, i: usize| (v - schema.mean[i]) * schema.inv_std[i];
    let mut shared: Vec<f32> = sim.user_row(t.user as usize).iter().enumerate().map(|(i, &v)| norm(v, schema.user.start + i)).collect();
    shared.extend(t.context.iter().enumerate().map(|(i, &v)| norm(v, schema.context.start + i)));
    match schema.kind {
        PolicyKind::Enhanced => t
            .candidates
            .iter()
            .enumerate()
            .map(|(p, &item)| {
                let mut s = shared.clone();
                s.extend(sim.item_row(item as usize).iter().enumerate().map(|(i, &v)| norm(v, schema.item.start + i)));
                s.extend(t.scores[p * K..(p + 1) * K].iter().enumerate().map(|(i, &v)| norm(v, schema.score.start + i)));
                s
            })
            .collect(),
        _ => {
            let n = t.candidates.len() as f64;
            let mut s = shared;
            let mut st = [0.0f64; A];
            for row in t.scores.chunks_exact(K) {
                for (o, &v) in row.iter().enumerate() {
                    st[o] += v as f64;
                    st[K + o] += (v as f64).powi(2);
                }
            }
            for o in 0..K {
                let m = st[o] / n;
                st[K + o] = (st[K + o] / n - m * m).max(0.0).sqrt();
                st[o] = m;
            }
            s.extend(st.iter().enumerate().map(|(i, &v)| norm(v as f32, schema.request.start + i)));
            vec![s]
        }
    }
}

/// Mean and std of MTL scores (enhanced) or of per-request score statistics (user-level).
fn score_stats(kind: PolicyKind, log: &[Transition]) -> Vec<(f32, f32)> {
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

fn rows(v: &[&Vec<f32>]) -> Array2<f32> {
    let w = v.first().map_or(0, |r| r.len());
    Array2::from_shape_vec((v.len(), w), v.iter().flat_map(|r| r.iter().copied()).collect()).expect("rows have equal width")
}

fn concat(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
    ndarray::concatenate(ndarray::Axis(1), &[a.view(), b.view()]).expect("same row count")
}

/// Distance outside the box `[c − e, c + e]`, per dimension.
fn excess(a: f32, c: f32, e: f32) -> f32 {
    ((a - c).abs() - e).max(0.0)
}

/// Subtracts from each row of `grad` the `weight`ed mean of the rows with
/// the same `owner` (list), so only how a list's items differ drives the actor.
fn centre_per_list(grad: &mut Array2<f32>, owner: &[usize], weight: &[f32], lists: usize) {
    let mut mean = Array2::<f32>::zeros((lists, grad.ncols()));
    let mut count = vec![0f32; lists];
    for (r, &l) in owner.iter().enumerate() {
        mean.row_mut(l).scaled_add(weight[r], &grad.row(r));
        count[l] += weight[r];
    }
    for (r, &l) in owner.iter().enumerate() {
        grad.row_mut(r).scaled_add(-1.0 / count[l], &mean.row(l));
    }
}

/// Fused score at a normalised action, with its gradient in that action
/// written to `grad`: the margin critic's chain rule runs through it.
fn fuse_with_grad(space: &ActionSpace, scores: &[f32], norm: &[f32], grad: &mut [f32]) -> f32 {
    let mut real = [0.0f32; A];
    space.to_real(norm, &mut real);
    for k in 0..K {
        let half = |d: usize| if norm[d].abs() < 1.0 { 0.5 * (space.hi[d] - space.lo[d]) } else { 0.0 };
        let x = scores[k].max(0.0) + real[K + k].max(MIN_BIAS);
        grad[k] = x.ln() * half(k);
        grad[K + k] = if real[K + k] > MIN_BIAS { real[k] / x * half(K + k) } else { 0.0 };
    }
    fuse(scores, &real)
}

/// The fused score each candidate must beat to be in the top `shown` set:
/// a shown item faces the best of the rest, the others the lowest shown.
/// Infinite when there is nobody to face.
fn cut_offs(fused: &[f32], shown: &[usize]) -> Vec<f32> {
    let mut is_shown = vec![false; fused.len()];
    shown.iter().for_each(|&p| is_shown[p] = true);
    let lowest_shown = shown.iter().map(|&p| fused[p]).fold(f32::INFINITY, f32::min);
    let best_rest = (0..fused.len()).filter(|&p| !is_shown[p]).map(|p| fused[p]).fold(f32::NEG_INFINITY, f32::max);
    (0..fused.len()).map(|p| if is_shown[p] { best_rest } else { lowest_shown }).collect()
}

/// The margin as the critics see it: squashed, so one item far from the
/// cut-off does not dominate, and finite when the cut-off is not.
fn margin_feature(margin: f32, scale: f32) -> f32 {
    if margin.is_finite() { (margin / scale).tanh() } else { margin.signum() }
}

/// `x` with one more column, `extra`, when it is not empty.
fn with_column(x: Array2<f32>, extra: &[f32]) -> Array2<f32> {
    if extra.is_empty() {
        return x;
    }
    concat(&x, &Array2::from_shape_vec((extra.len(), 1), extra.to_vec()).expect("one value per row"))
}

/// Every candidate's fused score under its own action (`candidates × 2k`).
fn fused_scores(space: &ActionSpace, actions: &[f32], scores: &[f32]) -> Vec<f32> {
    let mut real = [0.0f32; A];
    actions
        .chunks_exact(A)
        .zip(scores.chunks_exact(K))
        .map(|(a, sc)| {
            space.to_real(a, &mut real);
            fuse(sc, &real)
        })
        .collect()
}

/// Logged margins of one transition: every candidate's fused score under
/// its logged action, minus its cut-off.
fn logged_margins(space: &ActionSpace, t: &Transition) -> (Vec<f32>, Vec<f32>) {
    let fused = fused_scores(space, &t.actions, &t.scores);
    let shown: Vec<usize> = t.shown.iter().map(|&p| p as usize).collect();
    let cuts = cut_offs(&fused, &shown);
    let margins = fused.iter().zip(&cuts).map(|(f, c)| f - c).collect();
    (cuts, margins)
}

/// Margin features of `pairs` of a next list under the target actor: every
/// candidate acts as the target actor says, which sets the cut-offs.
fn target_margins(actor_t: &Mlp, space: &ActionSpace, x: &Sample, pairs: &[(usize, f32)], scale: f32) -> Vec<f32> {
    let actions = actor_t.predict(&rows(&x.states.iter().collect::<Vec<_>>()));
    let fused = fused_scores(space, actions.as_slice().expect("a fresh matrix is contiguous"), &x.scores);
    let mut order = Vec::new();
    top_k(&fused, x.shown.len(), &mut order);
    let cuts = cut_offs(&fused, &order.iter().map(|&p| p as usize).collect::<Vec<_>>());
    pairs.iter().map(|&(p, _)| margin_feature(fused[p] - cuts[p], scale)).collect()
}

/// The actor moved `alpha` of the way from the baseline, in pre-tanh terms:
/// its last layer's output becomes `alpha·(W h + b) + (1 − alpha)·atanh(baseline)`.
/// `alpha = 0` is the baseline for every item; the blob format is unchanged.
fn shrunk(actor: &Mlp, alpha: f32, baseline: &[f32]) -> Mlp {
    let mut net = actor.clone();
    net.w.last_mut().expect("actor has layers").mapv_inplace(|w| alpha * w);
    for (b, a) in net.b.last_mut().expect("actor has layers").iter_mut().zip(baseline) {
        *b = alpha * *b + (1.0 - alpha) * a.clamp(-0.995, 0.995).atanh();
    }
    net
}

/// Mean and 95% CI of the per-session difference `candidate − base`; both
/// ran on the same sessions and random streams, so the pairing removes most
/// of the between-session spread.
fn paired_lift(base: &[f64], candidate: &[f64]) -> (f64, f64) {
    mean_ci(candidate.iter().zip(base).map(|(c, b)| c - b))
}

/// What a training run produced.
pub struct Trained {
    pub ranker: Ranker,
    pub bytes: Vec<u8>,
    pub returns: Vec<(f64, f64)>,
    pub pair_updates_per_s: f64,
}

/// What the rollout gate keeps: the best candidate so far, and where it came
/// from (restart and round; none for the baseline) and how far it moved.
struct Kept {
    ret: f64,
    actor: Mlp,
    at: Option<(usize, usize)>,
    shrink: f32,
}

/// UnifiedRL (`kind = UserLevel`) or EnhancedRL (`kind = Enhanced`):
/// progressive rounds of collect-then-train from the static baseline.
pub fn train_rl(sim: &Simulator, kind: PolicyKind, baseline: &[f32], cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<Trained, String> {
    let algo = if kind == PolicyKind::Enhanced { "enhanced" } else { "user" };
    if cfg.rounds == 0 {
        return Err("no training rounds: set rounds ≥ 1".into());
    }
    if cfg.restarts == 0 {
        return Err("no restarts: set restarts ≥ 1".into());
    }
    if let Some(a) = cfg.gate_shrink.iter().find(|&&a| !(a > 0.0 && a < 1.0)) {
        return Err(format!("gate_shrink: {a} is not a fraction in (0, 1)"));
    }
    let mut behaviour = static_ranker(sim, baseline, cfg, serde_json::Value::Null)?;
    // Normalisation of score inputs, from round 0's data.
    let mut first = Vec::new();
    {
        let mut explore = Explore::new(&mut behaviour, cfg.explore, cfg.seed);
        for s in 0..cfg.sessions_per_round.min(500) {
            run_session(sim, &mut explore, s % sim.n_users(), cfg.seed + 99, 0, Some(&mut first)).map_err(|e| e.to_string())?;
        }
    }
    let stats = score_stats(kind, &first);
    let probe = meta(sim, kind, &stats, cfg.actor_hidden.clone(), baseline.to_vec(), cfg, serde_json::Value::Null);
    let schema = Schema::new(kind, probe.objectives.clone(), probe.features.clone()).map_err(|e| e.to_string())?;
    let in_dim = schema.input_width();
    let shared = if kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
    let (lo, hi) = action_ranges();
    let space = ActionSpace { lo, hi };
    let margin = cfg.critic_margin && kind == PolicyKind::Enhanced;
    // The tanh's scale: the mean distance to the cut-off in round 0's data.
    let margin_scale = if margin {
        let m: Vec<f32> = first.iter().flat_map(|t| logged_margins(&space, t).1).filter(|m| m.is_finite()).collect();
        (m.iter().map(|x| x.abs()).sum::<f32>() / m.len().max(1) as f32).max(1e-3)
    } else {
        1.0
    };

    let mut returns = Vec::new();
    let (mut pair_updates, mut train_secs) = (0usize, 0f64);
    let export = |actor: &Mlp, summary: serde_json::Value| -> Result<(Ranker, Vec<u8>), String> {
        let m = meta(sim, kind, &stats, cfg.actor_hidden.clone(), baseline.to_vec(), cfg, summary);
        let w = PolicyWeights::Actor(actor.to_actor(shared));
        let bytes = Blob::to_bytes(&m, &w).map_err(|e| e.to_string())?;
        Ok((Ranker::from_bytes(&bytes).map_err(|e| e.to_string())?, bytes))
    };
    // Like a production rollout gated by an A/B test, the run keeps the round
    // whose policy evaluated best on the trainer's own evaluation sessions,
    // among those whose paired lift over the baseline is clearly positive,
    // and the baseline itself (every item at the baseline action: zero output
    // weights) if none is.
    let session_returns = |r: &mut Ranker| -> Result<Vec<f64>, String> { Ok(evaluate(sim, r, cfg.eval_sessions, cfg.seed + 5000).map_err(|e| e.to_string())?.iter().map(|s| s.ret).collect()) };
    let base_rets = session_returns(&mut behaviour)?;
    let base_ret = mean_ci(base_rets.iter().copied()).0;
    let mut best: Option<Kept> = None;
    metrics.push(serde_json::json!({"algo": algo, "charts/baseline_return": base_ret}));
    progress(&format!("{algo} baseline: return {base_ret:.3}"));
    if margin {
        metrics.push(serde_json::json!({"algo": algo, "margin_scale": margin_scale}));
    }
    // Each restart trains from its own initialisation and batch stream on
    // its own rounds; the gate chooses among all of them.
    for restart in 0..cfg.restarts {
        let mut rng = StdRng::seed_from_u64((cfg.seed + 1000 * restart as u64) ^ 0xE5);
        let tag = if cfg.restarts > 1 { format!(" restart {restart}") } else { String::new() };
        let mut actor = Mlp::new(&[vec![in_dim], cfg.actor_hidden.clone(), vec![A]].concat(), Head::Tanh, &mut rng);
        // Start the actor at the baseline: its output bias is atanh(baseline).
        for (b, a) in actor.b.last_mut().expect("actor has layers").iter_mut().zip(baseline) {
            *b = a.clamp(-0.995, 0.995).atanh();
        }
        let mut actor_t = actor.clone();
        let mut actor_opt = Adam::new(&actor, cfg.actor_lr, cfg.clip);
        let critic_widths = [vec![in_dim + A + margin as usize], cfg.critic_hidden.clone(), vec![1]].concat();
        let mut critics: Vec<Vec<Mlp>> = (0..2).map(|_| (0..cfg.ensemble).map(|_| Mlp::new(&critic_widths, Head::Linear, &mut rng)).collect()).collect();
        let mut critics_t = critics.clone();
        let mut critic_opt: Vec<Vec<Adam>> = critics.iter().map(|g| g.iter().map(|c| Adam::new(c, cfg.critic_lr, cfg.clip)).collect()).collect();

        let mut current = export(&actor, serde_json::Value::Null)?.0;
        let mut use_static = true;
        let best = best.get_or_insert_with(|| Kept { ret: base_ret, actor: shrunk(&actor, 0.0, baseline), at: None, shrink: 0.0 });
        for round in 0..cfg.rounds {
            // Collect with the last policy plus exploration noise.
            let mut log = Vec::new();
            {
                let policy = if use_static { &mut behaviour } else { &mut current };
                let mut explore = Explore::new(policy, cfg.explore, cfg.seed + 31 * round as u64);
                explore.per_item = cfg.explore_per_item && kind == PolicyKind::Enhanced;
                for s in 0..cfg.sessions_per_round {
                    run_session(sim, &mut explore, s % sim.n_users(), cfg.seed + 1 + round as u64, (s / sim.n_users()) as u64, Some(&mut log)).map_err(|e| e.to_string())?;
                }
            }
            let centre_net = if use_static { None } else { Some(actor.clone()) };
            let samples: Vec<Sample> = log
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let states = pair_states(sim, &schema, t);
                    let actions: Vec<Vec<f32>> = if kind == PolicyKind::Enhanced { t.actions.chunks_exact(A).map(|a| a.to_vec()).collect() } else { vec![t.actions[..A].to_vec()] };
                    let (shown, unshown) = if kind == PolicyKind::Enhanced {
                        let shown: Vec<usize> = t.shown.iter().map(|&p| p as usize).collect();
                        let unshown = (0..states.len()).filter(|p| !shown.contains(p)).collect();
                        (shown, unshown)
                    } else {
                        (vec![0], vec![])
                    };
                    let centers = match &centre_net {
                        None => vec![baseline.to_vec(); states.len()],
                        Some(net) => net.predict(&rows(&states.iter().collect::<Vec<_>>())).rows().into_iter().map(|r| r.to_vec()).collect(),
                    };
                    let mut rewards = [0.0f32; 2];
                    for r in &t.responses {
                        let g = group_rewards(r, sim);
                        rewards[0] += g[0];
                        rewards[1] += g[1];
                    }
                    let (cuts, margins) = if margin { logged_margins(&space, t) } else { (vec![], vec![]) };
                    let scores = if margin { t.scores.clone() } else { vec![] };
                    Sample { states, actions, centers, shown, unshown, rewards, next: (!t.done).then_some(i + 1), scores, cuts, margins }
                })
                .collect();
            progress(&format!("{algo}{tag} round {round}: {} transitions collected", samples.len()));

            let t0 = std::time::Instant::now();
            for update in 0..cfg.updates_per_round {
                let batch: Vec<usize> = (0..cfg.batch).map(|_| rng.random_range(0..samples.len())).collect();
                // Current pairs, grouped by transition, with their weights in the list's sum.
                let (mut owner, mut weight) = (Vec::new(), Vec::new());
                let (mut st, mut ac, mut ce) = (Vec::new(), Vec::new(), Vec::new());
                let (mut feat, mut cut, mut sc) = (Vec::new(), Vec::new(), Vec::new());
                for (bi, &i) in batch.iter().enumerate() {
                    for (p, w) in samples[i].pairs(cfg.critic_unshown, &mut rng) {
                        owner.push(bi);
                        weight.push(w);
                        st.push(&samples[i].states[p]);
                        ac.push(&samples[i].actions[p]);
                        ce.push(&samples[i].centers[p]);
                        if margin {
                            feat.push(margin_feature(samples[i].margins[p], margin_scale));
                            cut.push(samples[i].cuts[p]);
                            sc.push(&samples[i].scores[p * K..(p + 1) * K]);
                        }
                    }
                }
                let (s_cur, a_cur, c_cur) = (rows(&st), rows(&ac), rows(&ce));
                // Next pairs under the target actor, weighted by φ.
                let (mut nst, mut nce, mut nowner, mut nweight) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let mut next_feat = Vec::new();
                for (bi, &i) in batch.iter().enumerate() {
                    if let Some(n) = samples[i].next {
                        let pairs = samples[n].pairs(cfg.critic_unshown, &mut rng);
                        if margin {
                            next_feat.extend(target_margins(&actor_t, &space, &samples[n], &pairs, margin_scale));
                        }
                        for (p, w) in pairs {
                            nowner.push(bi);
                            nweight.push(w);
                            nst.push(&samples[n].states[p]);
                            nce.push(&samples[n].centers[p]);
                        }
                    }
                }
                let mut next_value = vec![vec![vec![0.0f32; batch.len()]; cfg.ensemble]; 2];
                if !nst.is_empty() {
                    let s_next = rows(&nst);
                    let a_next = actor_t.predict(&s_next);
                    let c_next = rows(&nce);
                    let phi: Vec<f32> = (0..a_next.nrows())
                        .map(|r| {
                            let d: f32 = (0..A).map(|k| excess(a_next[[r, k]], c_next[[r, k]], cfg.explore).powi(2)).sum::<f32>().sqrt();
                            (-cfg.kappa * d).exp()
                        })
                        .collect();
                    let x_next = with_column(concat(&s_next, &a_next), &next_feat);
                    for g in 0..2 {
                        for m in 0..cfg.ensemble {
                            let q = critics_t[g][m].predict(&x_next);
                            for (r, &bi) in nowner.iter().enumerate() {
                                next_value[g][m][bi] += nweight[r] * phi[r] * q[[r, 0]];
                            }
                        }
                    }
                }
                // Critic step: Σ_j Q(s_tj, a_tj) ← Σ_j r_tj + γ(1 − done) Σ_j' φ Q'(s', μ'(s')).
                let x_cur = with_column(concat(&s_cur, &a_cur), &feat);
                let mut critic_loss = 0.0f32;
                for g in 0..2 {
                    for m in 0..cfg.ensemble {
                        let tape = critics[g][m].forward(&x_cur);
                        let q = Mlp::out(&tape);
                        let mut pred = vec![0.0f32; batch.len()];
                        for (r, &bi) in owner.iter().enumerate() {
                            pred[bi] += weight[r] * q[[r, 0]];
                        }
                        let err: Vec<f32> = batch
                            .iter()
                            .enumerate()
                            .map(|(bi, &i)| {
                                let done = samples[i].next.is_none();
                                let target = samples[i].rewards[g] + if done { 0.0 } else { cfg.gamma * next_value[g][m][bi] };
                                pred[bi] - target
                            })
                            .collect();
                        critic_loss += err.iter().map(|e| e * e).sum::<f32>() / batch.len() as f32;
                        let grad = Array2::from_shape_fn((owner.len(), 1), |(r, _)| 2.0 * weight[r] * err[owner[r]] / batch.len() as f32);
                        let (grads, _) = critics[g][m].backward(&tape, &grad);
                        critic_opt[g][m].step(&mut critics[g][m], &grads);
                    }
                }
                pair_updates += owner.len();
                if round == 0 && update < cfg.critic_warmup {
                    for g in 0..2 {
                        for m in 0..cfg.ensemble {
                            critics_t[g][m].soft_update(&critics[g][m], cfg.tau);
                        }
                    }
                    continue;
                }
                // Actor step: maximise Σ_g w_g (mean_m Q − λ std_m Q) − η d(μ(s)).
                let atape = actor.forward(&s_cur);
                let a_new = Mlp::out(&atape).clone();
                let p = owner.len();
                // Margin critic: each pair's margin at its new action, the
                // others held at their logged ones, and d feature / d action.
                let (mut feat_new, mut dfeat) = (Vec::new(), Vec::new());
                if margin {
                    for r in 0..p {
                        let mut g = [0.0f32; A];
                        let m = fuse_with_grad(&space, sc[r], &a_new.row(r).to_vec(), &mut g) - cut[r];
                        let f = margin_feature(m, margin_scale);
                        let d = if m.is_finite() { (1.0 - f * f) / margin_scale } else { 0.0 };
                        feat_new.push(f);
                        dfeat.push(g.map(|x| x * d));
                    }
                }
                let x_new = with_column(concat(&s_cur, &a_new), &feat_new);
                let mut grad_a = Array2::<f32>::zeros((p, A));
                let mut objective = 0.0f32;
                for g in 0..2 {
                    let tapes: Vec<_> = critics[g].iter().map(|c| c.forward(&x_new)).collect();
                    let qs: Vec<Array2<f32>> = tapes.iter().map(|t| Mlp::out(t).clone()).collect();
                    let mm = cfg.ensemble as f32;
                    for m in 0..cfg.ensemble {
                        let dq = Array2::from_shape_fn((p, 1), |(r, _)| {
                            let mean = qs.iter().map(|q| q[[r, 0]]).sum::<f32>() / mm;
                            let std = (qs.iter().map(|q| (q[[r, 0]] - mean).powi(2)).sum::<f32>() / mm).sqrt();
                            let dstd = if std > 1e-6 { (qs[m][[r, 0]] - mean) / (mm * std) } else { 0.0 };
                            if m == 0 {
                                objective += cfg.group_weights[g] * (mean - cfg.lambda * std) / p as f32;
                            }
                            -cfg.group_weights[g] * (1.0 / mm - cfg.lambda * dstd) / p as f32
                        });
                        let (_, gx) = critics[g][m].backward(&tapes[m], &dq);
                        grad_a += &gx.slice(s![.., in_dim..in_dim + A]);
                        for (r, d) in dfeat.iter().enumerate() {
                            let dq_dfeat = gx[[r, in_dim + A]];
                            for k in 0..A {
                                grad_a[[r, k]] += dq_dfeat * d[k];
                            }
                        }
                    }
                }
                if cfg.list_centred_actor && kind == PolicyKind::Enhanced {
                    centre_per_list(&mut grad_a, &owner, &weight, batch.len());
                }
                let mut penalty = 0.0f32;
                for r in 0..p {
                    for k in 0..A {
                        let d = a_new[[r, k]] - c_cur[[r, k]];
                        let e = excess(a_new[[r, k]], c_cur[[r, k]], cfg.explore);
                        if e > 0.0 {
                            penalty += cfg.eta * ((cfg.kappa * e).exp() - 1.0) / p as f32;
                            grad_a[[r, k]] += cfg.eta * cfg.kappa * (cfg.kappa * e).exp() * d.signum() / p as f32;
                        }
                    }
                }
                let (agrads, _) = actor.backward(&atape, &grad_a);
                actor_opt.step(&mut actor, &agrads);
                actor_t.soft_update(&actor, cfg.tau);
                for g in 0..2 {
                    for m in 0..cfg.ensemble {
                        let (c, ct) = (&critics[g][m], &mut critics_t[g][m]);
                        ct.soft_update(c, cfg.tau);
                    }
                }
                if update % 50 == 0 || update + 1 == cfg.updates_per_round {
                    metrics.push(serde_json::json!({"algo": algo, "restart": restart, "round": round, "update": update, "losses/critic": critic_loss / (2 * cfg.ensemble) as f32, "losses/actor_objective": objective, "losses/box_penalty": penalty}));
                }
            }
            train_secs += t0.elapsed().as_secs_f64();
            // The critics' mean action gradient at the baseline action over this
            // round's pairs, to set beside `mtfuse probe`'s finite differences.
            {
                let st: Vec<&Vec<f32>> = samples.iter().take(2000).flat_map(|x| x.shown.iter().map(|&p| &x.states[p])).collect();
                let mg: Vec<f32> = if margin { samples.iter().take(2000).flat_map(|x| x.shown.iter().map(|&p| margin_feature(x.margins[p], margin_scale))).collect() } else { vec![] };
                let x = with_column(concat(&rows(&st), &Array2::from_shape_fn((st.len(), A), |(_, k)| baseline[k])), &mg);
                let mut dq = vec![0f32; A];
                for (g, group) in critics.iter().enumerate() {
                    let weight = Array2::from_elem((x.nrows(), 1), cfg.group_weights[g] / (x.nrows() * cfg.ensemble) as f32);
                    for critic in group {
                        let (_, gx) = critic.backward(&critic.forward(&x), &weight);
                        for (k, d) in dq.iter_mut().enumerate() {
                            *d += gx.column(in_dim + k).sum();
                        }
                    }
                }
                metrics.push(serde_json::json!({"algo": algo, "restart": restart, "round": round, "charts/critic_dq_da_at_baseline": dq}));
            }
            current = export(&actor, serde_json::Value::Null)?.0;
            use_static = false;
            let rets = session_returns(&mut current)?;
            let (ret, ci) = mean_ci(rets.iter().copied());
            returns.push((ret, ci));
            let (lift, lift_ci) = paired_lift(&base_rets, &rets);
            if lift - lift_ci > 0.0 && ret > best.ret {
                *best = Kept { ret, actor: actor.clone(), at: Some((restart, round)), shrink: 1.0 };
            }
            metrics.push(serde_json::json!({"algo": algo, "restart": restart, "round": round, "charts/return": ret, "charts/return_ci95": ci, "charts/lift_over_baseline": lift, "charts/lift_ci95": lift_ci}));
            progress(&format!("{algo}{tag} round {round}: return {ret:.3} ± {ci:.3}, {lift:+.3} ± {lift_ci:.3} over the baseline"));
            // The gate also tries the round's policy moved only part of the way
            // from the baseline, for a critic that has the direction right but
            // not the distance.
            for &alpha in &cfg.gate_shrink {
                let net = shrunk(&actor, alpha, baseline);
                let rets = session_returns(&mut export(&net, serde_json::Value::Null)?.0)?;
                let ret = mean_ci(rets.iter().copied()).0;
                let (lift, lift_ci) = paired_lift(&base_rets, &rets);
                if lift - lift_ci > 0.0 && ret > best.ret {
                    *best = Kept { ret, actor: net, at: Some((restart, round)), shrink: alpha };
                }
                metrics.push(serde_json::json!({"algo": algo, "restart": restart, "round": round, "shrink": alpha, "charts/shrunk_return": ret, "charts/shrunk_lift_over_baseline": lift}));
                progress(&format!("{algo}{tag} round {round} shrunk to {alpha}: return {ret:.3}, {lift:+.3} ± {lift_ci:.3} over the baseline"));
            }
        }
    }
    let rate = pair_updates as f64 / train_secs.max(1e-9);
    let Kept { actor: best_actor, at: kept, shrink: kept_shrink, .. } = best.ok_or("no training rounds: set rounds ≥ 1")?;
    let best_round = kept.map(|(_, r)| r);
    let tag = match kept {
        Some((r, _)) if cfg.restarts > 1 => format!(" of restart {r}"),
        _ => String::new(),
    };
    progress(&match best_round {
        Some(r) if kept_shrink < 1.0 => format!("{algo}: keeping round {r}{tag} shrunk to {kept_shrink}"),
        Some(r) => format!("{algo}: keeping round {r}{tag}"),
        None => format!("{algo}: no round beat the baseline ({base_ret:.3}) by more than its paired 95% CI; keeping the baseline"),
    });
    let summary = serde_json::json!({"algo": algo, "round_returns": returns, "kept_round": best_round, "kept_restart": kept.map(|(r, _)| r), "kept_shrink": kept_shrink, "pair_updates_per_s": rate});
    let (ranker, bytes) = export(&best_actor, summary)?;
    Ok(Trained { ranker, bytes, returns, pair_updates_per_s: rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Simulator {
        Simulator::from_bytes(include_bytes!("../../models/simulator.safetensors")).unwrap()
    }

    fn tiny() -> TrainConfig {
        TrainConfig {
            rounds: 1,
            sessions_per_round: 40,
            updates_per_round: 30,
            critic_warmup: 10,
            batch: 8,
            actor_hidden: vec![8],
            critic_hidden: vec![8],
            ensemble: 2,
            es_iterations: 2,
            es_population: 4,
            es_elite: 2,
            es_sessions: 20,
            eval_sessions: 20,
            restarts: 1,
            ..Default::default()
        }
    }

    /// The margin critic's chain rule: the fused score's gradient in the
    /// normalised action against central differences, for powers and biases,
    /// and flat outside the box, where the action is clamped.
    #[test]
    fn fused_score_gradient_matches_finite_differences() {
        let (lo, hi) = action_ranges();
        let space = ActionSpace { lo, hi };
        let scores = [0.3f32, 0.05, 0.0, 0.01, 0.2, 0.7, 0.002];
        let mut rng = StdRng::seed_from_u64(4);
        for _ in 0..20 {
            let mut a: Vec<f32> = (0..A).map(|_| rng.random_range(-0.9..0.9)).collect();
            a[A - 1] = -1.2; // clamped to the box's edge
            let mut g = [0.0f32; A];
            let f = fuse_with_grad(&space, &scores, &a, &mut g);
            let mut real = [0.0f32; A];
            space.to_real(&a, &mut real);
            assert_eq!(f, fuse(&scores, &real));
            for d in 0..A {
                let h = 1e-3;
                let mut at = |v: f32| {
                    let mut b = a.clone();
                    b[d] = v;
                    space.to_real(&b, &mut real);
                    fuse(&scores, &real) as f64
                };
                let numeric = (at(a[d] + h) - at(a[d] - h)) / (2.0 * h as f64);
                assert!((numeric - g[d] as f64).abs() < 2e-2 * (1.0 + numeric.abs()), "dimension {d}: {} vs {numeric}", g[d]);
            }
            assert_eq!(g[A - 1], 0.0);
        }
    }

    /// A shown item's margin is how far it could fall and stay shown; an
    /// unshown item's, how far it is from getting in. Positive exactly for
    /// the shown ones.
    #[test]
    fn cut_offs_face_each_item_with_the_score_it_must_beat() {
        let fused = [0.5f32, 2.0, -1.0, 1.0, 0.0];
        let cuts = cut_offs(&fused, &[1, 3]);
        assert_eq!(cuts, vec![1.0, 0.5, 1.0, 0.5, 1.0]);
        let margins: Vec<f32> = fused.iter().zip(&cuts).map(|(f, c)| f - c).collect();
        assert_eq!(margins, vec![-0.5, 1.5, -2.0, 0.5, -1.0]);
        // Everyone shown: nothing to fall behind, so the margin feature saturates.
        let all = cut_offs(&fused, &[0, 1, 2, 3, 4]);
        assert!(all.iter().all(|c| *c == f32::NEG_INFINITY));
        assert_eq!(margin_feature(fused[2] - all[2], 0.3), 1.0);
        assert!((margin_feature(0.3, 0.3) - 1.0f32.tanh()).abs() < 1e-6);
    }

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
            let split = actor.shared_inputs;
            for (p, s) in states.iter().enumerate() {
                let mut out = Vec::new();
                actor.forward(&s[..split], &s[split..], 1, &mut Default::default(), &mut out);
                for (a, b) in out.iter().zip(&log[0].actions[p * A..(p + 1) * A]) {
                    assert!((a - b).abs() < 1e-5, "{kind:?} pair {p}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn training_is_deterministic_under_a_seed() {
        let sim = sim();
        // Unshown pairs and the shrink gate draw from the seeded streams too.
        let cfg = TrainConfig { critic_unshown: 4, critic_margin: true, explore_per_item: true, gate_shrink: vec![0.5], ..tiny() };
        let a = train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &cfg, &mut Vec::new(), &|_| {}).unwrap();
        let b = train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &cfg, &mut Vec::new(), &|_| {}).unwrap();
        // The summary holds a timing; compare the weights.
        assert_eq!(a.ranker.blob().weights, b.ranker.blob().weights);
        let c = train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &TrainConfig { seed: 2, ..cfg }, &mut Vec::new(), &|_| {}).unwrap();
        assert_ne!(a.ranker.blob().weights, c.ranker.blob().weights);
    }

    /// 300 sessions and 300 updates from a neutral start (every action at
    /// the middle of its range) are enough for EnhancedRL to rank better than
    /// that start, measured on 2,000 fresh sessions with shared random streams.
    /// The 400 evaluation sessions let the rollout gate see the gain.
    #[test]
    fn a_few_hundred_updates_beat_the_starting_policy() {
        let sim = sim();
        let start = [0.0f32; A];
        let cfg = TrainConfig { rounds: 1, sessions_per_round: 300, updates_per_round: 300, critic_warmup: 100, batch: 32, actor_hidden: vec![32], critic_hidden: vec![32], ensemble: 4, eval_sessions: 400, restarts: 1, ..Default::default() };
        let mut learned = train_rl(&sim, PolicyKind::Enhanced, &start, &cfg, &mut Vec::new(), &|_| {}).unwrap().ranker;
        let mut before = static_ranker(&sim, &start, &cfg, serde_json::Value::Null).unwrap();
        let ret = |p: &mut Ranker| mean_ci(evaluate(&sim, p, 2000, 77).unwrap().iter().map(|s| s.ret));
        let (a, b) = (ret(&mut before), ret(&mut learned));
        eprintln!("start {:.3} ± {:.3}, learned {:.3} ± {:.3}", a.0, a.1, b.0, b.1);
        assert!(b.0 - b.1 > a.0 + a.1, "learned {b:?} vs start {a:?} (mean, 95% CI)");
    }

    /// A run whose rounds all lose to the baseline ships the baseline: every
    /// item gets the baseline action. Here the baseline is the shipped static
    /// action and the actor's learning rate is absurd.
    #[test]
    fn a_run_that_never_beats_the_baseline_keeps_it() {
        let sim = sim();
        let shipped = Ranker::from_bytes(include_bytes!("../../models/static.safetensors")).unwrap();
        let start = shipped.blob().meta.baseline_action.clone();
        let cfg = TrainConfig { actor_lr: 1.0, clip: 1e6, eval_sessions: 300, ..tiny() };
        let mut metrics = Vec::new();
        let mut trained = train_rl(&sim, PolicyKind::Enhanced, &start, &cfg, &mut metrics, &|_| {}).unwrap();
        let base = metrics.iter().find_map(|m| m["charts/baseline_return"].as_f64()).unwrap();
        assert!(trained.returns.iter().all(|r| r.0 <= base), "a round beat the baseline: {:?} vs {base}", trained.returns);
        assert!(trained.ranker.blob().meta.summary["kept_round"].is_null());
        let mut log = Vec::new();
        run_session(&sim, &mut trained.ranker, 0, 1, 0, Some(&mut log)).unwrap();
        // The baseline actor outputs tanh(atanh(clamp(a, ±0.995))).
        for t in &log {
            for (a, b) in t.actions.iter().zip(start.iter().cycle()) {
                assert!((a - b.clamp(-0.995, 0.995)).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn centring_zeroes_each_lists_mean_and_keeps_differences() {
        let mut g = Array2::from_shape_fn((5, 3), |(r, k)| (r * 3 + k) as f32 * 0.5 - 1.0);
        let before = g.clone();
        let owner = [0, 0, 1, 1, 1];
        centre_per_list(&mut g, &owner, &[1.0; 5], 2);
        for list in [0..2, 2..5] {
            for k in 0..3 {
                assert!(g.slice(s![list.clone(), k]).sum().abs() < 1e-5);
            }
        }
        for (r, q) in [(0, 1), (2, 4), (3, 4)] {
            for k in 0..3 {
                assert!(((g[[r, k]] - g[[q, k]]) - (before[[r, k]] - before[[q, k]])).abs() < 1e-5);
            }
        }
        // A single-pair list has nothing to reorder against.
        let mut one = Array2::from_elem((1, 3), 2.0f32);
        centre_per_list(&mut one, &[0], &[3.0], 1);
        assert!(one.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_batch_takes_every_shown_pair_and_weights_the_unshown_ones() {
        let sample = Sample { states: vec![vec![0.0]; 10], actions: vec![], centers: vec![], shown: vec![7, 2, 4], unshown: vec![0, 1, 3, 5, 6, 8, 9], rewards: [0.0; 2], next: None, scores: vec![], cuts: vec![], margins: vec![] };
        let mut rng = StdRng::seed_from_u64(3);
        let pairs = sample.pairs(2, &mut rng);
        assert_eq!(&pairs[..3], &[(7, 1.0), (2, 1.0), (4, 1.0)]);
        assert_eq!(pairs.len(), 5);
        for &(p, w) in &pairs[3..] {
            assert!(sample.unshown.contains(&p));
            assert_eq!(w, 3.5, "2 drawn stand for 7 unshown");
        }
        assert_ne!(pairs[3].0, pairs[4].0);
        // Asking for more than there are takes each once; 0 takes none.
        let all = sample.pairs(50, &mut rng);
        assert_eq!(all.len(), 10);
        assert!(all[3..].iter().all(|&(_, w)| w == 1.0));
        assert_eq!(sample.pairs(0, &mut rng).len(), 3);
    }

    #[test]
    fn shrinking_moves_the_actor_toward_the_baseline_in_pre_tanh_terms() {
        let mut rng = StdRng::seed_from_u64(5);
        let actor = Mlp::new(&[4, 8, A], Head::Tanh, &mut rng);
        let baseline: Vec<f32> = (0..A).map(|k| k as f32 / A as f32 - 0.5).collect();
        let x = Array2::from_shape_fn((6, 4), |(r, c)| (r as f32 - 2.5) * 0.7 + c as f32 * 0.3);
        let full = actor.predict(&x);
        assert_eq!(shrunk(&actor, 1.0, &baseline).predict(&x), full);
        let none = shrunk(&actor, 0.0, &baseline).predict(&x);
        assert!(none.rows().into_iter().all(|r| r.iter().zip(&baseline).all(|(a, b)| (a - b).abs() < 1e-5)));
        let half = shrunk(&actor, 0.5, &baseline).predict(&x);
        for ((h, f), k) in half.iter().zip(full.iter()).zip((0..A).cycle()) {
            let want = (0.5 * f.atanh() + 0.5 * baseline[k].atanh()).tanh();
            assert!((h - want).abs() < 1e-4, "{h} vs {want}");
        }
    }

    /// Restart 0 is the single run; later restarts add rounds from other
    /// initialisations for the gate to choose among.
    #[test]
    fn restarts_extend_the_single_run() {
        let sim = sim();
        let one = train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &tiny(), &mut Vec::new(), &|_| {}).unwrap();
        let cfg = TrainConfig { restarts: 2, ..tiny() };
        let two = train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &cfg, &mut Vec::new(), &|_| {}).unwrap();
        assert_eq!(one.returns.len(), cfg.rounds);
        assert_eq!(two.returns.len(), 2 * cfg.rounds);
        assert_eq!(two.returns[..cfg.rounds], one.returns[..]);
        assert_ne!(two.returns[cfg.rounds..], one.returns[..], "restart 1 trained like restart 0");
        let kept = &two.ranker.blob().meta.summary["kept_restart"];
        assert!(kept.is_null() || kept.as_u64().is_some_and(|r| r < 2), "{kept}");
    }

    #[test]
    fn configs_the_trainer_cannot_run_are_refused_before_training() {
        let sim = sim();
        for (cfg, want) in [
            (TrainConfig { rounds: 0, ..tiny() }, "set rounds ≥ 1"),
            (TrainConfig { restarts: 0, ..tiny() }, "set restarts ≥ 1"),
            (TrainConfig { gate_shrink: vec![0.5, 1.5], ..tiny() }, "gate_shrink: 1.5 is not a fraction in (0, 1)"),
            (TrainConfig { gate_shrink: vec![f32::NAN], ..tiny() }, "gate_shrink: NaN is not a fraction"),
        ] {
            let err = train_rl(&sim, PolicyKind::Enhanced, &[0.0; A], &cfg, &mut Vec::new(), &|_| {}).err().expect("refused");
            assert!(err.contains(want), "{err}");
        }
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
    fn static_search_beats_a_random_ranking() {
        let sim = sim();
        // Enough sessions per candidate that the search is not ranking noise.
        let cfg = TrainConfig { es_iterations: 4, es_population: 8, es_sessions: 150, ..tiny() };
        let mut metrics = Vec::new();
        let (action, ret) = train_static(&sim, &cfg, &mut metrics, &|_| {}).unwrap();
        assert_eq!(action.len(), A);
        assert!(action.iter().all(|a| (-1.0..=1.0).contains(a)));
        assert_eq!(metrics.len(), cfg.es_iterations);
        let random = mean_ci(evaluate(&sim, &mut crate::sim::env::RandomPolicy::new(1), cfg.es_sessions, cfg.seed + 7777).unwrap().iter().map(|s| s.ret)).0;
        assert!(ret > random, "static {ret} vs random {random}");
    }

    #[test]
    fn exploration_stays_in_the_box() {
        let sim = sim();
        let base = [0.2f32; A];
        let mut r = static_ranker(&sim, &base, &tiny(), serde_json::Value::Null).unwrap();
        let mut explore = Explore::new(&mut r, 0.15, 4);
        let mut log = Vec::new();
        run_session(&sim, &mut explore, 0, 1, 0, Some(&mut log)).unwrap();
        let actions: Vec<f32> = log.iter().flat_map(|t| t.actions.iter().copied()).collect();
        assert!(!actions.is_empty());
        assert!(actions.iter().all(|a| (a - 0.2).abs() <= 0.15 + 1e-6));
        assert!(actions.iter().any(|a| (a - 0.2).abs() > 0.05), "no exploration happened");
    }

    #[test]
    fn exploration_per_item_gives_each_shown_item_its_own_action() {
        let sim = sim();
        let base = [0.2f32; A];
        let mut r = static_ranker(&sim, &base, &tiny(), serde_json::Value::Null).unwrap();
        let mut explore = Explore::new(&mut r, 0.15, 4);
        explore.per_item = true;
        let mut log = Vec::new();
        run_session(&sim, &mut explore, 0, 1, 0, Some(&mut log)).unwrap();
        let all: Vec<&[f32]> = log[0].actions.chunks_exact(A).collect();
        assert_eq!(all.len(), log[0].candidates.len());
        let rows: Vec<&[f32]> = log[0].shown.iter().map(|&p| all[p as usize]).collect();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().flat_map(|r| r.iter()).all(|a| (a - 0.2).abs() <= 0.15 + 1e-6));
        assert!(rows.windows(2).all(|w| w[0] != w[1]), "shown items share an action");
    }

    #[test]
    fn each_round_logs_the_critics_action_gradient() {
        let sim = sim();
        let cfg = TrainConfig { rounds: 2, ..tiny() };
        let mut metrics = Vec::new();
        train_rl(&sim, PolicyKind::Enhanced, &[0.1; A], &cfg, &mut metrics, &|_| {}).unwrap();
        let grads: Vec<&Vec<serde_json::Value>> = metrics.iter().filter_map(|m| m["charts/critic_dq_da_at_baseline"].as_array()).collect();
        assert_eq!(grads.len(), 2);
        for g in grads {
            assert_eq!(g.len(), A);
            assert!(g.iter().all(|v| v.as_f64().is_some_and(f64::is_finite)));
            assert!(g.iter().any(|v| v.as_f64() != Some(0.0)));
        }
    }
}
