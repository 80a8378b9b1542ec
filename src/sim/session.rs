//! Sessions: candidates, a policy's ranking, sampled responses, rewards, and
//! KuaiSim's temper leave model.
//!
//! Random streams are keyed by purpose and by (user, session), so every
//! policy sees the same users, contexts and candidate draws, and a given seed
//! and policy replay the same session exactly.

use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::RequestError;
use crate::ranker::Columns;
use crate::rng::{stream, Purpose};
use crate::sim::model::{context_features, Response, Simulator};
use crate::sim::policy::{Decision, Policy};

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
    /// An exploring policy's actions before its noise (`candidates × 2k`;
    /// empty when it does not explore).
    #[serde(default)]
    pub base: Vec<f32>,
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

/// Runs session `session` of simulator user `user` under `policy`.
/// Appends its transitions to `log` when given.
pub fn run_session<P: Policy + ?Sized>(sim: &Simulator, policy: &mut P, user: usize, seed: u64, session: u64, mut log: Option<&mut Vec<Transition>>) -> Result<SessionStats, RequestError> {
    let cfg = &sim.config;
    let context = draw_context(sim, &mut stream(seed, Purpose::SessionContext, user as u64, session));
    let mut cand_rng = stream(seed, Purpose::SessionCandidates, user as u64, session);
    let mut resp_rng = stream(seed, Purpose::SessionResponses, user as u64, session);
    let mut req = Request { user: sim.user_row(user).to_vec(), ..Default::default() };
    let mut stats = SessionStats::default();
    let mut temper = sim.temper(user);
    for t in 0..cfg.max_requests {
        req.candidates.clear();
        req.candidates.extend(rand::seq::index::sample(&mut cand_rng, sim.n_items(), cfg.candidates).into_iter().map(|i| i as u32));
        req.items.clear();
        for &i in &req.candidates {
            req.items.extend_from_slice(sim.item_row(i as usize));
        }
        sim.mtl_scores(user, &req.candidates, &context, &mut req.scores);
        let cols = Columns { user: &req.user, context: &context, items: &req.items, scores: &req.scores };
        req.decision.base.clear();
        policy.decide(&cols, cfg.shown, &mut req.decision)?;
        let (responses, rewards) = respond_to_list(sim, user, &context, &req, &mut resp_rng, &mut stats);
        let list_reward: f32 = rewards.iter().sum();
        stats.ret += (cfg.gamma as f64).powi(t as i32) * list_reward as f64;
        stats.reward += list_reward as f64;
        stats.depth += 1;
        // KuaiSim's leave model: every request costs temper, a disappointing one more.
        temper -= cfg.request_cost;
        if list_reward < cfg.threshold {
            temper -= cfg.disappoint_cost;
        }
        let done = temper <= 0.0 || t + 1 == cfg.max_requests;
        if let Some(log) = log.as_deref_mut() {
            let actions = (0..req.candidates.len()).filter_map(|p| req.decision.action(p, 2 * K)).flatten().copied().collect();
            let (candidates, scores, shown, base) = (req.candidates.clone(), req.scores.clone(), req.decision.order.clone(), req.decision.base.clone());
            log.push(Transition { user: user as u32, t: t as u32, context, candidates, scores, shown, actions, base, responses, rewards, done });
        }
        if done {
            break;
        }
    }
    Ok(stats)
}

/// Objectives per candidate.
const K: usize = 7;

/// A session's context: an hour drawn from the log's hour distribution, the
/// main tab 99% of the time, and a weekday.
fn draw_context(sim: &Simulator, rng: &mut StdRng) -> [f32; 4] {
    let total: f32 = sim.hour_weights.iter().sum();
    let mut r = rng.random::<f32>() * total;
    let mut hour = 23u8;
    for (i, w) in sim.hour_weights.iter().enumerate() {
        if r < *w {
            hour = i as u8;
            break;
        }
        r -= w;
    }
    let tab = if rng.random::<f32>() < 0.99 { 1 } else { 11 };
    context_features(hour, tab, rng.random_range(0..7))
}

/// The user's responses to the shown list, top down, and each pair's reward;
/// adds them to `stats`. An item the user does not look at (position `p`
/// is seen with probability `attention^p`) draws no response.
fn respond_to_list(sim: &Simulator, user: usize, context: &[f32; 4], req: &Request, rng: &mut StdRng, stats: &mut SessionStats) -> (Vec<Response>, Vec<f32>) {
    let cfg = &sim.config;
    let mut responses = Vec::with_capacity(cfg.shown);
    let mut rewards = Vec::with_capacity(cfg.shown);
    for (rank, &pos) in req.decision.order.iter().enumerate() {
        let item = req.candidates[pos as usize] as usize;
        // Both draws happen whatever the outcome, so every policy sees the same random stream.
        let looked = rng.random::<f32>() < cfg.attention.powi(rank as i32);
        let r = sim.respond(user, item, context, rng);
        let r = if looked { r } else { Response::default() };
        stats.clicks += r.signals[0] as u32;
        stats.long_views += r.signals[1] as u32;
        stats.interactions += r.signals[2..6].iter().map(|&s| s as u32).sum::<u32>();
        stats.hates += r.signals[6] as u32;
        stats.play_s += r.play_s as f64;
        rewards.push(r.reward(&cfg.reward));
        responses.push(r);
    }
    (responses, rewards)
}

/// Runs sessions `0..sessions` under `policy`, users round-robin, and returns
/// their stats. Every caller with the same `seed` sees the same sessions.
pub fn run_sessions(sim: &Simulator, policy: &mut dyn Policy, sessions: usize, seed: u64) -> Result<Vec<SessionStats>, RequestError> {
    (0..sessions).map(|s| run_session(sim, policy, s % sim.n_users(), seed, (s / sim.n_users()) as u64, None)).collect()
}
