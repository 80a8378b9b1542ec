//! Sessions: candidates, a policy's ranking, sampled responses, rewards, and
//! KuaiSim's temper leave model.
//!
//! Random streams are split by purpose and seeded from (seed, user, session),
//! so every policy sees the same users, contexts and candidate draws, and a
//! given seed and policy replay the same session exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::RequestError;
use crate::policy::{Decision, Policy};
use std::collections::BTreeMap;

use crate::blob::DEFAULT_OBJECTIVES;
use crate::ranker::{Columns, ItemId, RankItem, RankRequest};
use crate::schema::FeatureGroup;
use crate::sim::model::{context_features, Simulator, ITEM_FEATURES, X_WIDTH};

/// Reward weights `w_i` for `r_tj = Σ_i w_i v_tij`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardWeights {
    /// One weight per signal: click, long_view, like, follow, comment, forward, hate.
    pub signals: [f32; 7],
    /// Weight per second of play time.
    pub play_s: f32,
}

impl Default for RewardWeights {
    fn default() -> Self {
        RewardWeights { signals: [0.0, 1.0, 2.0, 4.0, 2.0, 3.0, -5.0], play_s: 0.01 }
    }
}

/// Session parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Candidates drawn per request.
    pub candidates: usize,
    /// Items shown per request.
    pub shown: usize,
    /// Requests after which the session ends regardless of temper.
    pub max_requests: usize,
    /// Temper of the least active user; the most active get `temper_base + temper_span`.
    pub temper_base: f32,
    pub temper_span: f32,
    /// Temper lost by every request.
    pub request_cost: f32,
    /// Extra temper lost when a list's reward is below `threshold`.
    pub disappoint_cost: f32,
    /// List reward below which a list disappoints.
    pub threshold: f32,
    /// Discount γ of the session return.
    pub gamma: f32,
    pub reward: RewardWeights,
    /// The user looks at the item at list position `p` (0-based) with
    /// probability `attention^p`, as a feed is read top down; an item not
    /// looked at draws no response. 1 means every shown item is seen.
    #[serde(default = "full_attention")]
    pub attention: f32,
}

fn full_attention() -> f32 {
    1.0
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            candidates: 50,
            shown: 6,
            max_requests: 20,
            temper_base: 3.0,
            temper_span: 6.0,
            request_cost: 1.0,
            disappoint_cost: 2.0,
            threshold: 1.0,
            gamma: 0.9,
            reward: RewardWeights::default(),
            attention: 0.8,
        }
    }
}

/// Outcome of one shown pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// 0/1 per signal.
    pub signals: [u8; 7],
    pub play_s: f32,
}

impl Response {
    pub fn reward(&self, w: &RewardWeights) -> f32 {
        self.signals.iter().zip(&w.signals).map(|(&s, &w)| s as f32 * w).sum::<f32>() + self.play_s * w.play_s
    }
}

/// One logged request, in the shape offline RL needs. The next request of
/// the same session is the next transition (`done` marks the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Simulator user index.
    pub user: u32,
    pub t: u32,
    /// Raw context features.
    pub context: [f32; 4],
    /// Item-pool indices of all candidates.
    pub candidates: Vec<u32>,
    /// MTL scores of all candidates, `candidates × 7`.
    pub scores: Vec<f32>,
    /// Positions in `candidates` of the shown items, best first.
    pub shown: Vec<u32>,
    /// Normalised action of every candidate, `candidates × 2k` in candidate
    /// order (empty for policies without actions): a trainer needs the
    /// actions of the items that were not shown as well.
    pub actions: Vec<f32>,
    pub responses: Vec<Response>,
    /// Per-pair rewards under the simulator's weights.
    pub rewards: Vec<f32>,
    pub done: bool,
}

/// Totals of one session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// `Σ_t γ^t r_t`.
    pub ret: f64,
    /// `Σ_t r_t`.
    pub reward: f64,
    /// Requests served.
    pub depth: u32,
    pub clicks: u32,
    pub long_views: u32,
    /// Likes, follows, comments and forwards.
    pub interactions: u32,
    pub hates: u32,
    pub play_s: f64,
}

/// Per-session scratch: candidate features and scores in schema order.
#[derive(Default)]
struct Request {
    user: Vec<f32>,
    items: Vec<f32>,
    scores: Vec<f32>,
    candidates: Vec<u32>,
    decision: Decision,
}

fn stream(seed: u64, user: usize, session: u64, purpose: u64) -> StdRng {
    // SplitMix-style mixing so nearby seeds give unrelated streams.
    let mut z = seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ session.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ purpose.wrapping_mul(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

impl Simulator {
    /// Draws the sampled response of `user` to pool item `item`.
    pub fn respond(&self, user: usize, item: usize, context: &[f32], rng: &mut StdRng) -> Response {
        let mut x = [0.0; X_WIDTH];
        self.head_input(user, self.item_row(item), context, &mut x);
        let [pc, plv, plike] = self.truth.heads(&x, user, Some(item));
        let click = rng.random::<f32>() < pc;
        let mut signals = [0u8; 7];
        signals[0] = click as u8;
        for s in 1..7 {
            let p = match (s, click) {
                (1, true) => plv,
                (2, true) => plike,
                (_, true) => self.truth.given_click[s],
                (_, false) => self.truth.given_no_click[s],
            };
            signals[s] = (rng.random::<f32>() < p) as u8;
        }
        let mean_s = if signals[1] == 1 {
            self.play.long_view_s[crate::sim::model::PlayModel::bucket(self.item_duration_s[item])]
        } else if click {
            self.play.click_only_s
        } else {
            self.play.no_click_s
        };
        let play_s = (mean_s * rng.random_range(0.5..1.5)).min(self.item_duration_s[item].max(1.0));
        Response { signals, play_s }
    }

    /// MTL scores (7 marginals) of every candidate, into `out`.
    pub fn mtl_scores(&self, user: usize, candidates: &[u32], context: &[f32], out: &mut Vec<f32>) {
        out.clear();
        let mut x = [0.0; X_WIDTH];
        let mut m = [0.0; 7];
        for &i in candidates {
            let at = i as usize * ITEM_FEATURES.len();
            self.head_input(user, &self.mtl_item_features[at..at + ITEM_FEATURES.len()], context, &mut x);
            // The MTL model has no item ids and sees item rates from its own subset.
            self.mtl.marginals(&x, user, None, &mut m);
            out.extend_from_slice(&m);
        }
    }

    /// A rank request as a client would send it: user `user`'s features,
    /// the context of `hour`, `tab` and `weekday`, and `n` candidates drawn
    /// with `seed`, each with its features and MTL scores by name. Demos,
    /// fixtures and benchmarks use it to get realistic requests.
    pub fn draw_request(&self, user: usize, hour: u8, tab: u8, weekday: u8, n: usize, seed: u64) -> RankRequest {
        let named = |group: FeatureGroup, values: &[f32]| -> BTreeMap<String, Option<f64>> {
            self.group(group).zip(values).map(|(f, &v)| (f.name.clone(), Some(v as f64))).collect()
        };
        let context = context_features(hour, tab, weekday);
        let mut rng = StdRng::seed_from_u64(seed);
        let candidates: Vec<u32> = rand::seq::index::sample(&mut rng, self.n_items(), n.clamp(1, self.n_items())).into_iter().map(|i| i as u32).collect();
        let mut scores = Vec::new();
        self.mtl_scores(user, &candidates, &context, &mut scores);
        let items = candidates
            .iter()
            .zip(scores.chunks_exact(DEFAULT_OBJECTIVES.len()))
            .map(|(&i, s)| RankItem {
                id: ItemId::Int(self.item_ids[i as usize] as i64),
                scores: DEFAULT_OBJECTIVES.iter().zip(s).map(|(o, &v)| (o.to_string(), Some(v as f64))).collect(),
                features: named(FeatureGroup::Item, self.item_row(i as usize)),
            })
            .collect();
        RankRequest { user: named(FeatureGroup::User, self.user_row(user)), context: named(FeatureGroup::Context, &context), items, top_k: None, with_actions: false }
    }

    /// Temper budget of a user at the start of a session.
    pub fn temper(&self, user: usize) -> f32 {
        self.config.temper_base + self.config.temper_span * self.user_temper[user]
    }
}

/// Runs session `session` of simulator user `user` under `policy`.
/// Appends its transitions to `log` when given.
pub fn run_session<P: Policy + ?Sized>(sim: &Simulator, policy: &mut P, user: usize, seed: u64, session: u64, mut log: Option<&mut Vec<Transition>>) -> Result<SessionStats, RequestError> {
    let cfg = &sim.config;
    let mut ctx_rng = stream(seed, user, session, 1);
    let mut cand_rng = stream(seed, user, session, 2);
    let mut resp_rng = stream(seed, user, session, 3);

    let hour = {
        let total: f32 = sim.hour_weights.iter().sum();
        let mut r = ctx_rng.random::<f32>() * total;
        let mut h = 23u8;
        for (i, w) in sim.hour_weights.iter().enumerate() {
            if r < *w {
                h = i as u8;
                break;
            }
            r -= w;
        }
        h
    };
    let tab = if ctx_rng.random::<f32>() < 0.99 { 1 } else { 11 };
    let context = context_features(hour, tab, ctx_rng.random_range(0..7));

    let mut req = Request { user: sim.user_row(user).to_vec(), ..Default::default() };
    let mut stats = SessionStats::default();
    let mut temper = sim.temper(user);
    let k = 7;
    for t in 0..cfg.max_requests {
        req.candidates.clear();
        req.candidates.extend(rand::seq::index::sample(&mut cand_rng, sim.n_items(), cfg.candidates).into_iter().map(|i| i as u32));
        req.items.clear();
        for &i in &req.candidates {
            req.items.extend_from_slice(sim.item_row(i as usize));
        }
        sim.mtl_scores(user, &req.candidates, &context, &mut req.scores);
        let cols = Columns { user: &req.user, context: &context, items: &req.items, scores: &req.scores };
        policy.decide(&cols, cfg.shown, &mut req.decision)?;

        let mut list_reward = 0.0;
        let mut responses = Vec::with_capacity(cfg.shown);
        let mut rewards = Vec::with_capacity(cfg.shown);
        for (rank, &pos) in req.decision.order.iter().enumerate() {
            let item = req.candidates[pos as usize] as usize;
            // Both draws happen whatever the outcome, so every policy sees the same random stream.
            let looked = resp_rng.random::<f32>() < cfg.attention.powi(rank as i32);
            let r = sim.respond(user, item, &context, &mut resp_rng);
            let r = if looked { r } else { Response::default() };
            let rw = r.reward(&cfg.reward);
            list_reward += rw;
            stats.clicks += r.signals[0] as u32;
            stats.long_views += r.signals[1] as u32;
            stats.interactions += r.signals[2..6].iter().map(|&s| s as u32).sum::<u32>();
            stats.hates += r.signals[6] as u32;
            stats.play_s += r.play_s as f64;
            responses.push(r);
            rewards.push(rw);
        }
        stats.ret += (cfg.gamma as f64).powi(t as i32) * list_reward as f64;
        stats.reward += list_reward as f64;
        stats.depth += 1;
        temper -= cfg.request_cost;
        if list_reward < cfg.threshold {
            temper -= cfg.disappoint_cost;
        }
        let done = temper <= 0.0 || t + 1 == cfg.max_requests;
        if let Some(log) = log.as_deref_mut() {
            let width = 2 * k;
            let actions = (0..req.candidates.len()).filter_map(|p| req.decision.action(p, width)).flatten().copied().collect();
            log.push(Transition {
                user: user as u32,
                t: t as u32,
                context,
                candidates: req.candidates.clone(),
                scores: req.scores.clone(),
                shown: req.decision.order.clone(),
                actions,
                responses,
                rewards,
                done,
            });
        }
        if done {
            break;
        }
    }
    Ok(stats)
}

/// Shows `l` candidates in random order: the floor any ranker must beat.
pub struct RandomPolicy {
    rng: StdRng,
}

impl RandomPolicy {
    pub fn new(seed: u64) -> RandomPolicy {
        RandomPolicy { rng: StdRng::seed_from_u64(seed) }
    }
}

impl Policy for RandomPolicy {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let n = cols.scores.len() / 7;
        out.order.clear();
        out.order.extend(rand::seq::index::sample(&mut self.rng, n, top.min(n)).into_iter().map(|i| i as u32));
        out.actions.clear();
        Ok(())
    }
}

/// Sorts by one MTL score: the simplest static ranker.
pub struct SortByScore {
    pub objective: usize,
}

impl Policy for SortByScore {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let col: Vec<f32> = cols.scores.chunks_exact(7).map(|s| s[self.objective]).collect();
        crate::fusion::top_k(&col, top, &mut out.order);
        out.actions.clear();
        Ok(())
    }
}

/// Sorts by the response model's expected reward computed from user, item
/// and context features alone (no item ids, no latent factors). It reads the
/// simulator's truth, so it is a yardstick, not a servable policy: roughly
/// how far a ranker that sees the enhanced state could go.
pub struct FeatureOracle<'a> {
    pub sim: &'a Simulator,
    /// The session's user: the truth's user bias needs the index.
    pub user: usize,
    value: Vec<f32>,
}

impl<'a> FeatureOracle<'a> {
    pub fn new(sim: &'a Simulator, user: usize) -> FeatureOracle<'a> {
        FeatureOracle { sim, user, value: Vec::new() }
    }
}

impl Policy for FeatureOracle<'_> {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        use crate::sim::model::PlayModel;
        let (w, play) = (&self.sim.config.reward, &self.sim.play);
        let mut x = [0.0; X_WIDTH];
        let mut m = [0.0; 7];
        self.value.clear();
        for row in cols.items.chunks_exact(ITEM_FEATURES.len()) {
            self.sim.head_input(self.user, row, cols.context, &mut x);
            let [pc, plv, _] = self.sim.truth.heads(&x, self.user, None);
            self.sim.truth.marginals(&x, self.user, None, &mut m);
            // Row 0 is ln(1 + duration in seconds).
            let lv_s = play.long_view_s[PlayModel::bucket(row[0].exp() - 1.0)];
            let play_s = pc * (plv * lv_s + (1.0 - plv) * play.click_only_s) + (1.0 - pc) * play.no_click_s;
            self.value.push(m.iter().zip(&w.signals).map(|(p, w)| p * w).sum::<f32>() + w.play_s * play_s);
        }
        crate::fusion::top_k(&self.value, top, &mut out.order);
        out.actions.clear();
        Ok(())
    }
}

/// Mean and 95% normal-approximation half-width.
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

