//! Training from session logs alone: features, scores, actions and
//! responses all come from the log, and the blob's feature schema is the
//! log's. One call is one round of the paper's progressive scheme; the next
//! round is the next log, collected by the blob this one writes.

use crate::fusion::ActionSpace;
use crate::logs::{LogSchema, LoggedRequest, SessionLog};
use crate::rl::actor::ActorLearner;
use crate::rl::batch::LoggedList;
use crate::rl::critic::CriticEnsemble;
use crate::rl::export::{BlobSpec, Metrics, A, K};
use crate::rl::margin::{cut_offs, fused_scores};
use crate::rl::progressive::Trained;
use crate::rl::state::request_states;
use crate::rl::update::Learner;
use crate::rl::{TrainConfig, TrainError};
use crate::rng::{stream, Purpose};
use crate::schema::{Feature, FeatureGroup, PolicyKind, Schema};
use crate::stats::request_score_stats;

/// UnifiedRL (`UserLevel`) or EnhancedRL (`Enhanced`) from a validated log.
pub fn train_from_log(log: &SessionLog, kind: PolicyKind, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<Trained, TrainError> {
    cfg.validate()?;
    let ls = &log.schema;
    if ls.k() != K {
        return Err(TrainError::LogObjectives { got: ls.k(), want: K });
    }
    if kind == PolicyKind::UserLevel {
        if let Some(q) = log.requests.iter().find(|q| q.explore_per_item) {
            return Err(TrainError::InvalidConfig { field: "kind", problem: format!("user-level training needs one action per request, but session \"{}\" request {} explored per item", q.session, q.request) });
        }
    }
    let algo = if kind == PolicyKind::Enhanced { "enhanced" } else { "user" };
    let stats = input_stats(kind, &log.requests);
    let baseline = mean_base_action(&log.requests);
    let spec = BlobSpec { features: log_features(ls, &log.requests), kind, stats, hidden: cfg.actor_hidden.clone(), baseline: baseline.clone(), cfg };
    let meta = spec.meta(serde_json::Value::Null);
    let schema = Schema::new(kind, meta.objectives, meta.features)?;
    let space = ActionSpace { lo: ls.action_low.clone(), hi: ls.action_high.clone() };
    let margin = (cfg.critic_margin && kind == PolicyKind::Enhanced).then_some(&space);
    let lists = lists_from_log(&schema, ls, &log.requests, margin);
    let scale = margin.map(|_| {
        let m: Vec<f32> = lists.iter().flat_map(|l| l.margins.iter().copied()).filter(|m| m.is_finite()).collect();
        (m.iter().map(|x| x.abs()).sum::<f32>() / m.len().max(1) as f32).max(1e-3)
    });
    progress(&format!("{algo}: {} requests, {} rows from {} file(s)", lists.len(), log.rows, log.files.len()));

    let mut rng = stream(cfg.seed, Purpose::Restart, 0, 0);
    let mut actor = ActorLearner::new(schema.input_width(), &baseline, cfg, &mut rng);
    let widths = [vec![schema.input_width() + A + scale.is_some() as usize], cfg.critic_hidden.clone(), vec![1]].concat();
    let mut critics = CriticEnsemble::new(&widths, schema.input_width(), cfg, &mut rng);
    let learner = Learner { cfg, kind, space: &space, margin: scale };
    let (mut pairs, t0) = (0usize, std::time::Instant::now());
    for update in 0..cfg.updates_per_round {
        let (n, losses) = learner.update(&lists, &mut actor, &mut critics, update < cfg.critic_warmup, &mut rng);
        pairs += n;
        if let Some((critic, objective, penalty)) = losses.filter(|_| update % 50 == 0 || update + 1 == cfg.updates_per_round) {
            metrics.push(serde_json::json!({"algo": algo, "source": "log", "round": 0, "update": update, "losses/critic": critic / (2 * cfg.ensemble) as f32, "losses/actor_objective": objective, "losses/box_penalty": penalty}));
        }
    }
    let rate = pairs as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    metrics.push(serde_json::json!({"algo": algo, "source": "log", "round": 0, "charts/critic_dq_da_at_baseline": learner.dq_da_at(&critics, &lists, &baseline)}));
    let shared = if kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
    let files: Vec<String> = log.files.iter().map(|f| f.display().to_string()).collect();
    let summary = serde_json::json!({"algo": algo, "source": "log", "log_files": files, "requests": lists.len(), "rows": log.rows, "pair_updates_per_s": rate});
    let (ranker, bytes) = spec.actor(&actor.net, shared, summary)?;
    Ok(Trained { ranker, bytes, returns: vec![], pair_updates_per_s: rate })
}

/// The log's user, context and item features, normalised by their mean
/// and std over the log (per request for user and context, per candidate for items).
fn log_features(ls: &LogSchema, requests: &[LoggedRequest]) -> Vec<Feature> {
    let fi = ls.item.len();
    let moments = |values: &mut dyn Iterator<Item = f32>| -> (f32, f32) {
        let v: Vec<f64> = values.map(|x| x as f64).collect();
        let n = v.len().max(1) as f64;
        let m = v.iter().sum::<f64>() / n;
        let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
        (m as f32, (s as f32).max(1e-3))
    };
    let mut out = Vec::new();
    for (j, name) in ls.user.iter().enumerate() {
        let (mean, std) = moments(&mut requests.iter().map(|q| q.user[j]));
        out.push(Feature { name: name.clone(), group: FeatureGroup::User, mean, std });
    }
    for (j, name) in ls.context.iter().enumerate() {
        let (mean, std) = moments(&mut requests.iter().map(|q| q.context[j]));
        out.push(Feature { name: name.clone(), group: FeatureGroup::Context, mean, std });
    }
    for (j, name) in ls.item.iter().enumerate() {
        let (mean, std) = moments(&mut requests.iter().flat_map(|q| q.items.iter().skip(j).step_by(fi.max(1)).copied()));
        out.push(Feature { name: name.clone(), group: FeatureGroup::Item, mean, std });
    }
    out
}

/// Normalisation of the MTL scores (enhanced) or of each request's score
/// means and stds (user-level), over the log.
fn input_stats(kind: PolicyKind, requests: &[LoggedRequest]) -> Vec<(f32, f32)> {
    let cols: Vec<Vec<f64>> = if kind == PolicyKind::Enhanced {
        (0..K).map(|o| requests.iter().flat_map(|q| q.scores.iter().skip(o).step_by(K).map(|&v| v as f64)).collect()).collect()
    } else {
        let per_request: Vec<Vec<f64>> = requests.iter().map(|q| request_score_stats(&q.scores, K)).collect();
        (0..A).map(|d| per_request.iter().map(|s| s[d]).collect()).collect()
    };
    cols.iter()
        .map(|c| {
            let n = c.len().max(1) as f64;
            let m = c.iter().sum::<f64>() / n;
            let s = (c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
            (m as f32, (s as f32).max(1e-4))
        })
        .collect()
}

/// The behaviour's mean action before noise: where the actor starts.
fn mean_base_action(requests: &[LoggedRequest]) -> Vec<f32> {
    let mut sum = [0f64; A];
    for q in requests {
        for (s, &b) in sum.iter_mut().zip(&q.base[..A]) {
            *s += b as f64;
        }
    }
    sum.iter().map(|s| (s / requests.len().max(1) as f64) as f32).collect()
}

/// Logged requests as the learner's lists: normalised states, the logged
/// actions, the behaviour's actions before noise as box centres, and the
/// reward of the shown items split by critic group.
pub fn lists_from_log(schema: &Schema, ls: &LogSchema, requests: &[LoggedRequest], margin: Option<&ActionSpace>) -> Vec<LoggedList> {
    let enhanced = schema.kind == PolicyKind::Enhanced;
    requests
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let states = request_states(schema, &q.user, &q.context, &q.items, &q.scores);
            let rows = |v: &[f32]| -> Vec<Vec<f32>> { if enhanced { v.chunks_exact(A).map(<[f32]>::to_vec).collect() } else { vec![v[..A].to_vec()] } };
            let (shown, unshown) = if enhanced {
                let shown: Vec<usize> = q.shown.iter().map(|&p| p as usize).collect();
                let unshown = (0..states.len()).filter(|p| !shown.contains(p)).collect();
                (shown, unshown)
            } else {
                (vec![0], vec![])
            };
            let mut rewards = [0f32; 2];
            for (p, sig) in q.signals.chunks_exact(K).enumerate() {
                let g = ls.group_rewards(sig, q.play_s[p]);
                rewards[0] += g[0];
                rewards[1] += g[1];
            }
            let (cuts, margins) = match margin {
                Some(space) => {
                    let fused = fused_scores(space, &q.actions, &q.scores);
                    let cuts = cut_offs(&fused, &shown);
                    let margins = fused.iter().zip(&cuts).map(|(f, c)| f - c).collect();
                    (cuts, margins)
                }
                None => (vec![], vec![]),
            };
            let scores = if margin.is_some() { q.scores.clone() } else { vec![] };
            LoggedList { states, actions: rows(&q.actions), centres: rows(&q.base), shown, unshown, rewards, next: (!q.done).then_some(i + 1), scores, cuts, margins }
        })
        .collect()
}
