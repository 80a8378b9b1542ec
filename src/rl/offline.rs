//! Training from session logs alone: features, scores, actions and
//! responses all come from the log, and the blob's feature schema is the
//! log's. One call is one round of the paper's progressive scheme; the next
//! round is the next log, collected by the blob this one writes.

use crate::fusion::ActionSpace;
use rand::Rng;

use crate::logs::{stream_logs, LogSchema, LoggedRequest, SessionLog};
use crate::rl::actor::ActorLearner;
use crate::rl::batch::LoggedList;
use crate::rl::critic::CriticEnsemble;
use crate::rl::export::{BlobSpec, Metrics, A, K};
use crate::rl::margin::{margins_under, mean_abs_margin};
use crate::rl::progressive::Trained;
use crate::rl::state::request_states;
use crate::rl::update::Learner;
use crate::rl::{TrainConfig, TrainError};
use crate::rng::{stream, Purpose};
use crate::schema::{Feature, FeatureGroup, PolicyKind, Schema};
use crate::stats::request_score_stats;

/// UnifiedRL (`UserLevel`) or EnhancedRL (`Enhanced`) from a log held in memory.
pub fn train_from_log(log: &SessionLog, kind: PolicyKind, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<Trained, TrainError> {
    let mut stats = LogStats::new(&log.schema, kind);
    for q in &log.requests {
        stats.add(q);
    }
    let setup = Setup::new(&log.schema, kind, cfg, &stats)?;
    let lists = lists_from_log(&setup.schema, &log.schema, &log.requests, setup.margin_space());
    let files: Vec<String> = log.files.iter().map(|f| f.display().to_string()).collect();
    train_on_lists(&setup, lists, files, log.rows, metrics, progress)
}

/// The log's requests as EnhancedRL's lists (a state per candidate, no
/// margins), normalised by the log's own statistics, with the state width:
/// what fitted-Q evaluation learns on.
pub(crate) fn pair_lists(log: &SessionLog, cfg: &TrainConfig) -> Result<(Vec<LoggedList>, usize), TrainError> {
    let mut stats = LogStats::new(&log.schema, PolicyKind::Enhanced);
    for q in &log.requests {
        stats.add(q);
    }
    let setup = Setup::new(&log.schema, PolicyKind::Enhanced, cfg, &stats)?;
    Ok((lists_from_log(&setup.schema, &log.schema, &log.requests, None), setup.schema.input_width()))
}

/// The same from the files `pattern` matches, in two streaming passes: the
/// first validates the log and gathers its statistics, the second keeps at
/// most `cfg.log_sessions` sessions, drawn uniformly by reservoir sampling.
/// Memory is bounded by that sample, whatever the log's size.
pub fn train_from_log_files(pattern: &str, kind: PolicyKind, cfg: &TrainConfig, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<Trained, TrainError> {
    let mut stats: Option<LogStats> = None;
    let summary = stream_logs(pattern, &mut |q| {
        stats.get_or_insert_with(|| LogStats::empty(kind)).add(&q);
        Ok(())
    })?;
    let mut stats = stats.expect("a valid log has a request");
    stats.name(&summary.schema);
    let setup = Setup::new(&summary.schema, kind, cfg, &stats)?;
    progress(&format!("{}: {} requests, {} rows in {} file(s); sampling up to {} sessions", setup.algo, summary.requests, summary.rows, summary.files.len(), cfg.log_sessions));
    let mut rng = stream(cfg.seed, Purpose::LogReservoir, 0, 0);
    let (mut kept, mut seen, mut session) = (Vec::<Vec<LoggedList>>::new(), 0usize, Vec::new());
    stream_logs(pattern, &mut |q| {
        // The rollout gate's sessions are the OPE gate's: held out from training.
        if cfg.gate && crate::ope::held_out(&q.session) {
            return Ok(());
        }
        let done = q.done;
        session.push(q);
        if done {
            let lists = lists_from_log(&setup.schema, &summary.schema, &session, setup.margin_space());
            session.clear();
            if kept.len() < cfg.log_sessions {
                kept.push(lists);
            } else if let Some(slot) = kept.get_mut(rng.random_range(0..=seen)) {
                *slot = lists;
            }
            seen += 1;
        }
        Ok(())
    })?;
    let mut lists = Vec::new();
    for mut s in kept {
        let offset = lists.len();
        s.iter_mut().for_each(|l| l.next = l.next.map(|n| n + offset));
        lists.extend(s);
    }
    let files = summary.files.iter().map(|f| f.display().to_string()).collect();
    train_on_lists(&setup, lists, files, summary.rows, metrics, progress)
}

/// What training fixes from the log's statistics before it sees a batch.
pub(crate) struct Setup<'a> {
    cfg: &'a TrainConfig,
    kind: PolicyKind,
    algo: &'static str,
    pub(crate) spec: BlobSpec<'a>,
    schema: Schema,
    space: ActionSpace,
    baseline: Vec<f32>,
}

impl<'a> Setup<'a> {
    pub(crate) fn new(ls: &LogSchema, kind: PolicyKind, cfg: &'a TrainConfig, stats: &LogStats) -> Result<Setup<'a>, TrainError> {
        cfg.validate()?;
        if ls.k() != K {
            return Err(TrainError::LogObjectives { got: ls.k(), want: K });
        }
        if let (PolicyKind::UserLevel, Some((session, request))) = (kind, &stats.per_item) {
            return Err(TrainError::InvalidConfig { field: "kind", problem: format!("user-level training needs one action per request, but session \"{session}\" request {request} explored per item") });
        }
        let baseline = stats.mean_base();
        let spec = BlobSpec { features: stats.features(), kind, stats: stats.inputs(), hidden: cfg.actor_hidden.clone(), baseline: baseline.clone(), cfg };
        let meta = spec.meta(serde_json::Value::Null);
        let schema = Schema::new(kind, meta.objectives, meta.features)?;
        let space = ActionSpace { lo: ls.action_low.clone(), hi: ls.action_high.clone() };
        let algo = if kind == PolicyKind::Enhanced { "enhanced" } else { "user" };
        Ok(Setup { cfg, kind, algo, spec, schema, space, baseline })
    }

    fn margin_space(&self) -> Option<&ActionSpace> {
        (self.cfg.critic_margin && self.kind == PolicyKind::Enhanced).then_some(&self.space)
    }
}

/// One round of critic and actor updates on the lists; exports the actor.
fn train_on_lists(setup: &Setup, lists: Vec<LoggedList>, files: Vec<String>, rows: usize, metrics: &mut Metrics, progress: &dyn Fn(&str)) -> Result<Trained, TrainError> {
    let (cfg, kind, algo, schema) = (setup.cfg, setup.kind, setup.algo, &setup.schema);
    let scale = setup.margin_space().map(|_| mean_abs_margin(lists.iter().flat_map(|l| l.margins.iter().copied())));
    progress(&format!("{algo}: training on {} requests", lists.len()));
    let mut rng = stream(cfg.seed, Purpose::Restart, 0, 0);
    let mut actor = ActorLearner::new(schema.input_width(), &setup.baseline, cfg, &mut rng);
    let widths = [vec![schema.input_width() + A + scale.is_some() as usize], cfg.critic_hidden.clone(), vec![1]].concat();
    let mut critics = CriticEnsemble::new(&widths, schema.input_width(), cfg, &mut rng);
    let learner = Learner { cfg, kind, space: &setup.space, margin: scale };
    let (mut pairs, t0) = (0usize, std::time::Instant::now());
    for update in 0..cfg.updates_per_round {
        let (n, losses) = learner.update(&lists, &mut actor, &mut critics, update < cfg.critic_warmup, &mut rng);
        pairs += n;
        if let Some((critic, objective, penalty)) = losses.filter(|_| update % 50 == 0 || update + 1 == cfg.updates_per_round) {
            metrics.push(serde_json::json!({"algo": algo, "source": "log", "round": 0, "update": update, "losses/critic": critic / (2 * cfg.ensemble) as f32, "losses/actor_objective": objective, "losses/box_penalty": penalty}));
        }
    }
    let rate = pairs as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    metrics.push(serde_json::json!({"algo": algo, "source": "log", "round": 0, "charts/critic_dq_da_at_baseline": learner.dq_da_at(&critics, &lists, &setup.baseline)}));
    let shared = if kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
    let summary = serde_json::json!({"algo": algo, "source": "log", "log_files": files, "requests": lists.len(), "rows": rows, "pair_updates_per_s": rate});
    let (ranker, bytes) = setup.spec.actor(&actor.net, shared, summary)?;
    Ok(Trained { ranker, bytes, returns: vec![], pair_updates_per_s: rate })
}

/// Mean and population std by Welford's update, stable in one pass.
#[derive(Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    fn get(&self, floor: f32) -> (f32, f32) {
        (self.mean as f32, ((self.m2 / self.n.max(1.0)).sqrt() as f32).max(floor))
    }
}

/// A log's statistics, gathered in one pass: feature normalisation (per
/// request for user and context, per candidate for items), the score or
/// request-statistic normalisation, and the behaviour's mean base action.
pub(crate) struct LogStats {
    kind: PolicyKind,
    user: Vec<Moments>,
    context: Vec<Moments>,
    item: Vec<Moments>,
    inputs: Vec<Moments>,
    base: Vec<Moments>,
    names: [Vec<String>; 3],
    /// The first request that explored per item, if any.
    per_item: Option<(String, u32)>,
}

impl LogStats {
    pub(crate) fn empty(kind: PolicyKind) -> LogStats {
        let inputs = vec![Moments::default(); if kind == PolicyKind::Enhanced { K } else { A }];
        LogStats { kind, user: vec![], context: vec![], item: vec![], inputs, base: vec![Moments::default(); A], names: Default::default(), per_item: None }
    }

    fn new(ls: &LogSchema, kind: PolicyKind) -> LogStats {
        let mut s = LogStats::empty(kind);
        s.name(ls);
        s
    }

    pub(crate) fn name(&mut self, ls: &LogSchema) {
        self.names = [ls.user.clone(), ls.context.clone(), ls.item.clone()];
    }

    pub(crate) fn add(&mut self, q: &LoggedRequest) {
        let grow = |m: &mut Vec<Moments>, n: usize| m.resize(m.len().max(n), Moments::default());
        grow(&mut self.user, q.user.len());
        grow(&mut self.context, q.context.len());
        let fi = q.items.len() / q.candidates(K).max(1);
        grow(&mut self.item, fi);
        q.user.iter().zip(&mut self.user).for_each(|(&x, m)| m.add(x as f64));
        q.context.iter().zip(&mut self.context).for_each(|(&x, m)| m.add(x as f64));
        for row in q.items.chunks_exact(fi.max(1)) {
            row.iter().zip(&mut self.item).for_each(|(&x, m)| m.add(x as f64));
        }
        if self.kind == PolicyKind::Enhanced {
            for row in q.scores.chunks_exact(K) {
                row.iter().zip(&mut self.inputs).for_each(|(&x, m)| m.add(x as f64));
            }
        } else {
            request_score_stats(&q.scores, K).iter().zip(&mut self.inputs).for_each(|(&x, m)| m.add(x));
        }
        q.base[..A].iter().zip(&mut self.base).for_each(|(&x, m)| m.add(x as f64));
        if q.explore_per_item && self.per_item.is_none() {
            self.per_item = Some((q.session.clone(), q.request));
        }
    }

    fn features(&self) -> Vec<Feature> {
        let mut out = Vec::new();
        for (names, moments, group) in [(&self.names[0], &self.user, FeatureGroup::User), (&self.names[1], &self.context, FeatureGroup::Context), (&self.names[2], &self.item, FeatureGroup::Item)] {
            for (name, m) in names.iter().zip(moments) {
                let (mean, std) = m.get(1e-3);
                out.push(Feature { name: name.clone(), group, mean, std });
            }
        }
        out
    }

    fn inputs(&self) -> Vec<(f32, f32)> {
        self.inputs.iter().map(|m| m.get(1e-4)).collect()
    }

    pub(crate) fn mean_base(&self) -> Vec<f32> {
        self.base.iter().map(|m| m.mean as f32).collect()
    }
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
            let (cuts, margins) = margin.map_or((vec![], vec![]), |space| margins_under(space, &q.actions, &q.scores, &shown));
            let scores = if margin.is_some() { q.scores.clone() } else { vec![] };
            LoggedList { states, actions: rows(&q.actions), centres: rows(&q.base), shown, unshown, rewards, next: (!q.done).then_some(i + 1), scores, cuts, margins }
        })
        .collect()
}
