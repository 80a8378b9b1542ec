//! Fits the simulator on the KuaiRand log: features from the training days,
//! the response model (the truth), the weaker MTL model, and a report of
//! both on the held-out days.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::schema::{Feature, FeatureGroup};
use crate::sim::data::{weekday, Impression, Log, CLICK, LIKE, LONG_VIEW, SIGNALS};
use crate::error::RequestError;
use crate::sim::config::SimConfig;
use crate::sim::policy::RandomPolicy;
use crate::sim::session::run_session;
use crate::stats::auc;
use crate::sim::model::{context_features, sigmoid, Head, PlayModel, SignalModel, Simulator, CONTEXT_FEATURES, ITEM_FEATURES, USER_FEATURES, X_WIDTH};

/// The `biased` variant's MTL logit shifts (the default until 2026-12-07):
/// click up with duration, long view down with it, and so on. A simulator
/// fitted with them differs from the calibrated one only in
/// `Simulator::mtl.miscalibration`, so tests set it on the committed one.
pub const BIASED_MTL_MISCALIBRATION: [[f32; ITEM_FEATURES.len()]; 2] = [[0.5, 0.0, -0.2, 0.0, 0.0], [-0.5, 0.0, 0.0, -0.2, 0.0]];

/// Fit settings.
#[derive(Clone, Debug, Serialize)]
pub struct FitConfig {
    /// First date (yyyymmdd) of the held-out days; earlier days train.
    pub split_date: u32,
    /// Latent factor size of the response model's id terms.
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// L2 on the id biases and factors, which see few rows each.
    pub id_l2: f32,
    /// Share of training rows the MTL model sees.
    pub mtl_subset: f32,
    /// MTL miscalibration: logit shift of click (row 0) and long view (row 1)
    /// per unit of each normalised item feature, in `ITEM_FEATURES` order.
    /// None by default: a deliberate bias along features the enhanced state
    /// sees would hand EnhancedRL a gain (models/robustness.md, "biased").
    pub mtl_miscalibration: [[f32; ITEM_FEATURES.len()]; 2],
    pub seed: u64,
    /// The truth's click and long-view heads also learn per-user weights on
    /// the item features (the `interactions` variant); the MTL model does not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interactions: bool,
    /// L2 on those per-user weights (five per user, so they overfit easily).
    #[serde(skip_serializing_if = "is_default_interaction_l2")]
    pub interaction_l2: f32,
    /// Which users the log rows were restricted to before fitting.
    #[serde(skip_serializing_if = "is_all_users")]
    pub users: crate::sim::data::UserSplit,
}

fn is_all_users(u: &crate::sim::data::UserSplit) -> bool {
    *u == crate::sim::data::UserSplit::All
}

/// Chosen by held-out log-loss on the KuaiRand days (0.03, 0.3, 1, 3, 10 tried; 3 best).
const DEFAULT_INTERACTION_L2: f32 = 3.0;

fn is_default_interaction_l2(l2: &f32) -> bool {
    *l2 == DEFAULT_INTERACTION_L2
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig { split_date: 20220505, factors: 4, epochs: 12, learning_rate: 0.05, l2: 1e-4, id_l2: 0.03, mtl_subset: 0.3, mtl_miscalibration: [[0.0; ITEM_FEATURES.len()]; 2], seed: 7, interactions: false, interaction_l2: DEFAULT_INTERACTION_L2, users: crate::sim::data::UserSplit::All }
    }
}

/// Held-out quality of one signal under one model.
#[derive(Clone, Debug, Serialize)]
pub struct SignalReport {
    pub signal: &'static str,
    pub positives_train: usize,
    pub positives_test: usize,
    pub auc_truth: Option<f64>,
    pub auc_mtl: Option<f64>,
    pub logloss_truth: f64,
    pub logloss_mtl: f64,
    pub logloss_base_rate: f64,
    /// How the truth models this signal.
    pub modelled_as: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    pub rows_train: usize,
    pub rows_test: usize,
    pub rows_skipped: usize,
    pub users: usize,
    pub items: usize,
    pub split_date: u32,
    pub signals: Vec<SignalReport>,
    pub threshold: f32,
    pub play: PlayModel,
}

impl FitReport {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "train rows {} (before {}), held-out rows {}, skipped rows {}; {} users, {} items in the pool\n\n",
            self.rows_train, self.split_date, self.rows_test, self.rows_skipped, self.users, self.items
        );
        s += "| signal | positives train / test | AUC response model | AUC MTL model | log-loss response / MTL / base rate | modelled as |\n|---|---:|---:|---:|---:|---|\n";
        let f = |a: Option<f64>| a.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        for r in &self.signals {
            s += &format!(
                "| {} | {} / {} | {} | {} | {:.4} / {:.4} / {:.4} | {} |\n",
                r.signal, r.positives_train, r.positives_test, f(r.auc_truth), f(r.auc_mtl), r.logloss_truth, r.logloss_mtl, r.logloss_base_rate, r.modelled_as
            );
        }
        let p = &self.play;
        s += &format!(
            "\nmean play time (training days): no click {:.1} s, click without long view {:.1} s, long view {:.1} / {:.1} / {:.1} s for videos under 15 s / 15-60 s / longer\n",
            p.no_click_s, p.click_only_s, p.long_view_s[0], p.long_view_s[1], p.long_view_s[2]
        );
        s
    }
}

fn shrunk(pos: f64, n: f64, global: f64, alpha: f64) -> f32 {
    ((pos + alpha * global) / (n + alpha)) as f32
}

fn logloss(p: &[f32], y: &[u8]) -> f64 {
    let n = p.len().max(1) as f64;
    p.iter().zip(y).map(|(&p, &y)| {
        let p = (p as f64).clamp(1e-6, 1.0 - 1e-6);
        if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
    }).sum::<f64>() / n
}

struct Sample {
    x: [f32; X_WIDTH],
    user: usize,
    item: Option<usize>,
    y: f32,
}

struct HeadSpec {
    user_ids: bool,
    /// Per-user weights on the item features.
    user_item: bool,
    item_ids: bool,
    dim: usize,
    /// Inputs the head may use; others keep weight 0.
    mask: [bool; X_WIDTH],
}

/// Logistic regression with optional id biases and factors, by SGD.
fn fit_head(samples: &[Sample], users: usize, items: usize, spec: &HeadSpec, cfg: &FitConfig, rng: &mut StdRng) -> Head {
    let base = samples.iter().map(|s| s.y as f64).sum::<f64>() / samples.len().max(1) as f64;
    let base = base.clamp(1e-4, 1.0 - 1e-4);
    let mut h = Head { b: (base / (1.0 - base)).ln() as f32, w: vec![0.0; X_WIDTH], dim: spec.dim, ..Default::default() };
    if spec.user_ids {
        h.user_bias = vec![0.0; users];
    }
    if spec.item_ids {
        h.item_bias = vec![0.0; items];
    }
    if spec.user_item {
        h.user_item = vec![0.0; users * ITEM_FEATURES.len()];
    }
    if spec.dim > 0 {
        h.user_factors = (0..users * spec.dim).map(|_| rng.random_range(-0.05..0.05)).collect();
        h.item_factors = (0..items * spec.dim).map(|_| rng.random_range(-0.05..0.05)).collect();
    }
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let id_l2 = cfg.id_l2;
    for epoch in 0..cfg.epochs {
        order.shuffle(rng);
        let lr = cfg.learning_rate / (1.0 + epoch as f32 * 0.3);
        for &n in &order {
            let s = &samples[n];
            let g = sigmoid(h.logit(&s.x, s.user, s.item)) - s.y;
            h.b -= lr * g;
            for j in 0..X_WIDTH {
                if spec.mask[j] {
                    h.w[j] -= lr * (g * s.x[j] + cfg.l2 * h.w[j]);
                }
            }
            if let Some(ub) = h.user_bias.get_mut(s.user) {
                *ub -= lr * (g + id_l2 * *ub);
            }
            let f = ITEM_FEATURES.len();
            if let Some(wu) = h.user_item.get_mut(s.user * f..(s.user + 1) * f) {
                for (w, x) in wu.iter_mut().zip(&s.x[USER_FEATURES.len()..]) {
                    *w -= lr * (g * x + cfg.interaction_l2 * *w);
                }
            }
            if let Some(i) = s.item {
                if let Some(ib) = h.item_bias.get_mut(i) {
                    *ib -= lr * (g + id_l2 * *ib);
                }
                if spec.dim > 0 {
                    let d = spec.dim;
                    for f in 0..d {
                        let (p, q) = (h.user_factors[s.user * d + f], h.item_factors[i * d + f]);
                        h.user_factors[s.user * d + f] -= lr * (g * q + id_l2 * p);
                        h.item_factors[i * d + f] -= lr * (g * p + id_l2 * q);
                    }
                }
            }
        }
    }
    h
}

/// Per-user and per-item aggregates over the training rows.
#[derive(Default, Clone)]
struct Agg {
    n: f64,
    signals: [f64; 7],
    ratio_sum: f64,
    ratio_n: f64,
}

impl Agg {
    fn remove(&mut self, r: &Impression) {
        self.n -= 1.0;
        for s in 0..7 {
            self.signals[s] -= r.signals[s] as f64;
        }
        if r.duration_ms > 0 {
            self.ratio_sum -= (r.play_ms as f64 / r.duration_ms as f64).min(2.0);
            self.ratio_n -= 1.0;
        }
    }

    fn add(&mut self, r: &Impression) {
        self.n += 1.0;
        for s in 0..7 {
            self.signals[s] += r.signals[s] as f64;
        }
        if r.duration_ms > 0 {
            self.ratio_sum += (r.play_ms as f64 / r.duration_ms as f64).min(2.0);
            self.ratio_n += 1.0;
        }
    }
}

/// Why a simulator could not be fitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    #[error("split at {split_date} leaves {train} training and {test} held-out rows; both must be non-empty")]
    EmptySplit { split_date: u32, train: usize, test: usize },
    #[error("the training days hold {items} items; sessions draw {candidates} candidates and show {shown}")]
    TooFewItems { items: usize, candidates: usize, shown: usize },
    /// Calibrating the disappointment threshold ran sessions, and one failed.
    #[error("a calibration session failed")]
    Session(#[source] RequestError),
}

/// Fits everything and returns the simulator and its report.
pub fn fit(log: &Log, cfg: &FitConfig, sim_cfg: SimConfig) -> Result<(Simulator, FitReport), FitError> {
    let (train, test): (Vec<&Impression>, Vec<&Impression>) = log.rows.iter().partition(|r| r.date < cfg.split_date);
    if train.is_empty() || test.is_empty() {
        return Err(FitError::EmptySplit { split_date: cfg.split_date, train: train.len(), test: test.len() });
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let days = TrainingDays::new(train, cfg);
    let (nu, ni) = (days.user_ids.len(), days.item_ids.len());
    if ni < sim_cfg.candidates || sim_cfg.shown > sim_cfg.candidates {
        return Err(FitError::TooFewItems { items: ni, candidates: sim_cfg.candidates, shown: sim_cfg.shown });
    }
    let features = days.normalisation();
    let samples = Samples { days: &days, features: &features, split_date: cfg.split_date };
    let (truth, mtl) = fit_models(&days, &samples, cfg, &mut rng);
    let signals = held_out_report(&days, &samples, &test, &truth, &mtl);
    let item_rows = |aggs: &[Agg]| -> Vec<f32> { days.item_ids.iter().zip(aggs).flat_map(|(&v, a)| days.item_row(v, Some(a))).collect() };
    let mut sim = Simulator {
        features,
        user_features: days.per_user.iter().flat_map(|a| days.user_row(a)).collect(),
        item_features: item_rows(&days.per_item),
        // The MTL model's item features are its subset's aggregates: noisier
        // than the full-log item features policies see.
        mtl_item_features: item_rows(&days.per_item_mtl),
        item_duration_s: days.item_ids.iter().map(|v| days.duration_s.get(v).copied().unwrap_or(days.median_duration)).collect(),
        user_temper: days.user_temper(),
        user_ids: days.user_ids.clone(),
        item_ids: days.item_ids.clone(),
        hour_weights: days.hours,
        truth,
        mtl,
        play: days.play_model(),
        config: sim_cfg,
        report: serde_json::Value::Null,
    };
    sim.config.threshold = median_random_list_reward(&sim, cfg.seed)?;
    let report = FitReport {
        rows_train: days.rows.len(),
        rows_test: test.len(),
        rows_skipped: log.skipped,
        users: nu,
        items: ni,
        split_date: cfg.split_date,
        signals,
        threshold: sim.config.threshold,
        play: sim.play.clone(),
    };
    sim.report = serde_json::json!({"fit": report, "config": cfg});
    Ok((sim, report))
}

/// The training days: the users and items seen in them, and aggregates over
/// their rows. Features come from these only, never from held-out days.
struct TrainingDays<'a> {
    rows: Vec<&'a Impression>,
    user_index: HashMap<u32, usize>,
    item_index: HashMap<u32, usize>,
    user_ids: Vec<u32>,
    item_ids: Vec<u32>,
    global: Agg,
    per_user: Vec<Agg>,
    per_item: Vec<Agg>,
    /// Which rows the MTL model trains on, and its per-item aggregates.
    in_subset: Vec<bool>,
    per_item_mtl: Vec<Agg>,
    hours: [f32; 24],
    /// Item durations (constant per video), where the log knows them.
    duration_s: HashMap<u32, f32>,
    median_duration: f32,
}

impl<'a> TrainingDays<'a> {
    fn new(rows: Vec<&'a Impression>, cfg: &FitConfig) -> TrainingDays<'a> {
        let mut user_index: HashMap<u32, usize> = HashMap::new();
        let mut item_index: HashMap<u32, usize> = HashMap::new();
        let (mut user_ids, mut item_ids) = (Vec::new(), Vec::new());
        for r in &rows {
            user_index.entry(r.user).or_insert_with(|| { user_ids.push(r.user); user_ids.len() - 1 });
            item_index.entry(r.item).or_insert_with(|| { item_ids.push(r.item); item_ids.len() - 1 });
        }
        let mut global = Agg::default();
        let mut per_user = vec![Agg::default(); user_ids.len()];
        let mut per_item = vec![Agg::default(); item_ids.len()];
        let mut hours = [0f32; 24];
        let mut duration_s: HashMap<u32, f32> = HashMap::new();
        for r in &rows {
            global.add(r);
            per_user[user_index[&r.user]].add(r);
            per_item[item_index[&r.item]].add(r);
            hours[r.hour as usize] += 1.0;
            if r.duration_ms > 0 {
                duration_s.insert(r.item, r.duration_ms as f32 / 1000.0);
            }
        }
        let mut known: Vec<f32> = duration_s.values().copied().collect();
        known.sort_by(f32::total_cmp);
        let median_duration = known.get(known.len() / 2).copied().unwrap_or(30.0);
        let mut subset_rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed);
        let in_subset: Vec<bool> = rows.iter().map(|_| subset_rng.random::<f32>() < cfg.mtl_subset).collect();
        let mut per_item_mtl = vec![Agg::default(); item_ids.len()];
        for (r, _) in rows.iter().zip(&in_subset).filter(|(_, s)| **s) {
            per_item_mtl[item_index[&r.item]].add(r);
        }
        TrainingDays { rows, user_index, item_index, user_ids, item_ids, global, per_user, per_item, in_subset, per_item_mtl, hours, duration_s, median_duration }
    }

    fn rate(&self, s: usize) -> f64 {
        self.global.signals[s] / self.global.n
    }

    fn user_row(&self, a: &Agg) -> [f32; 5] {
        let global_ratio = self.global.ratio_sum / self.global.ratio_n.max(1.0);
        [
            (1.0 + a.n).ln() as f32,
            shrunk(a.signals[CLICK], a.n, self.rate(CLICK), 20.0),
            shrunk(a.signals[LONG_VIEW], a.n, self.rate(LONG_VIEW), 20.0),
            shrunk(a.signals[LIKE], a.n, self.rate(LIKE), 50.0),
            shrunk(a.ratio_sum, a.ratio_n, global_ratio, 20.0),
        ]
    }

    fn item_row(&self, video: u32, a: Option<&Agg>) -> [f32; 5] {
        let empty = Agg::default();
        let a = a.unwrap_or(&empty);
        let d = self.duration_s.get(&video).copied();
        [
            (1.0 + d.unwrap_or(self.median_duration)).ln(),
            d.is_some() as u8 as f32,
            shrunk(a.signals[CLICK], a.n, self.rate(CLICK), 10.0),
            shrunk(a.signals[LONG_VIEW], a.n, self.rate(LONG_VIEW), 10.0),
            (1.0 + a.n).ln() as f32,
        ]
    }

    /// A row's raw features with item aggregates `items`. A training row's
    /// own label must not leak into its features, or the heads learn to
    /// trust engagement rates that held-out rows cannot have: training rows
    /// (`leave_out`) see leave-one-out aggregates.
    fn raw_row(&self, items: &[Agg], r: &Impression, leave_out: bool) -> Option<[f32; X_WIDTH]> {
        let u = *self.user_index.get(&r.user)?;
        let mut ua = self.per_user[u].clone();
        let mut ia = self.item_index.get(&r.item).map(|&i| items[i].clone());
        if leave_out {
            ua.remove(r);
            if let Some(a) = ia.as_mut() {
                a.remove(r);
            }
        }
        let mut x = [0.0; X_WIDTH];
        x[..5].copy_from_slice(&self.user_row(&ua));
        x[5..10].copy_from_slice(&self.item_row(r.item, ia.as_ref()));
        x[10..].copy_from_slice(&context_features(r.hour, r.tab, weekday(r.date)));
        Some(x)
    }

    /// Feature names and normalisation, from the training rows' features.
    fn normalisation(&self) -> Vec<Feature> {
        let raw: Vec<[f32; X_WIDTH]> = self.rows.iter().filter_map(|r| self.raw_row(&self.per_item, r, true)).collect();
        let names = USER_FEATURES.iter().map(|n| (*n, FeatureGroup::User)).chain(ITEM_FEATURES.iter().map(|n| (*n, FeatureGroup::Item))).chain(CONTEXT_FEATURES.iter().map(|n| (*n, FeatureGroup::Context)));
        names
            .enumerate()
            .map(|(j, (name, group))| {
                let n = raw.len() as f64;
                let mean = raw.iter().map(|x| x[j] as f64).sum::<f64>() / n;
                let var = raw.iter().map(|x| (x[j] as f64 - mean).powi(2)).sum::<f64>() / n;
                Feature { name: name.to_string(), group, mean: mean as f32, std: (var.sqrt() as f32).max(1e-3) }
            })
            .collect()
    }

    /// Temper scale per user: the activity percentile.
    fn user_temper(&self) -> Vec<f32> {
        let nu = self.user_ids.len();
        let mut by_activity: Vec<usize> = (0..nu).collect();
        by_activity.sort_by(|&a, &b| self.per_user[a].n.total_cmp(&self.per_user[b].n));
        let mut temper = vec![0.0; nu];
        for (rank, &u) in by_activity.iter().enumerate() {
            temper[u] = rank as f32 / (nu.max(2) - 1) as f32;
        }
        temper
    }

    fn play_model(&self) -> PlayModel {
        let mean_play = |pred: &dyn Fn(&Impression) -> bool| -> f32 {
            let v: Vec<f64> = self.rows.iter().filter(|r| pred(r)).map(|r| r.play_ms as f64 / 1000.0).collect();
            (v.iter().sum::<f64>() / v.len().max(1) as f64) as f32
        };
        let lv_bucket = |b: usize| mean_play(&|r| r.signals[LONG_VIEW] == 1 && r.duration_ms > 0 && PlayModel::bucket(r.duration_ms as f32 / 1000.0) == b);
        PlayModel {
            no_click_s: mean_play(&|r| r.signals[CLICK] == 0),
            click_only_s: mean_play(&|r| r.signals[CLICK] == 1 && r.signals[LONG_VIEW] == 0),
            long_view_s: [lv_bucket(0), lv_bucket(1), lv_bucket(2)],
            default_duration_s: self.median_duration,
        }
    }
}

/// Log rows as head samples, normalised.
struct Samples<'a> {
    days: &'a TrainingDays<'a>,
    features: &'a [Feature],
    split_date: u32,
}

impl Samples<'_> {
    fn normalise(&self, raw: [f32; X_WIDTH]) -> [f32; X_WIDTH] {
        let mut x = raw;
        for j in 0..X_WIDTH {
            x[j] = (raw[j] - self.features[j].mean) / self.features[j].std;
        }
        x
    }

    /// As the truth sees a row: full-log item aggregates and the item id.
    fn truth(&self, r: &Impression, y: f32) -> Option<Sample> {
        let x = self.normalise(self.days.raw_row(&self.days.per_item, r, r.date < self.split_date)?);
        Some(Sample { x, user: *self.days.user_index.get(&r.user)?, item: self.days.item_index.get(&r.item).copied(), y })
    }

    /// As the MTL model sees a row: its subset's item aggregates, no item
    /// id. Its training rows are all in the subset, so they leave themselves out.
    fn mtl(&self, r: &Impression, y: f32) -> Option<Sample> {
        let x = self.normalise(self.days.raw_row(&self.days.per_item_mtl, r, r.date < self.split_date)?);
        Some(Sample { x, user: *self.days.user_index.get(&r.user)?, item: None, y })
    }
}

/// The response model (the truth) and the weaker MTL model.
fn fit_models(days: &TrainingDays, samples: &Samples, cfg: &FitConfig, rng: &mut StdRng) -> (SignalModel, SignalModel) {
    let (nu, ni) = (days.user_ids.len(), days.item_ids.len());
    let all = [true; X_WIDTH];
    let mut head = |rows: &[&Impression], label: usize, mtl: bool, spec: HeadSpec| {
        let data: Vec<Sample> = rows.iter().filter_map(|r| if mtl { samples.mtl(r, r.signals[label] as f32) } else { samples.truth(r, r.signals[label] as f32) }).collect();
        fit_head(&data, nu, ni, &spec, cfg, rng)
    };
    let train = &days.rows;
    let clicks: Vec<&Impression> = train.iter().copied().filter(|r| r.signals[CLICK] == 1).collect();
    let truth_click = head(train, CLICK, false, HeadSpec { user_ids: true, user_item: cfg.interactions, item_ids: true, dim: cfg.factors, mask: all });
    let truth_lv = head(&clicks, LONG_VIEW, false, HeadSpec { user_ids: true, user_item: cfg.interactions, item_ids: true, dim: cfg.factors, mask: all });
    let truth_like = head(&clicks, LIKE, false, HeadSpec { user_ids: true, user_item: false, item_ids: false, dim: 0, mask: all });
    // The MTL model: no item ids, a subset of rows, the subset's item rates.
    let subset: Vec<&Impression> = train.iter().zip(&days.in_subset).filter(|(_, s)| **s).map(|(r, _)| *r).collect();
    let sub_clicks: Vec<&Impression> = subset.iter().copied().filter(|r| r.signals[CLICK] == 1).collect();
    let mtl_click = head(&subset, CLICK, true, HeadSpec { user_ids: true, user_item: false, item_ids: false, dim: 0, mask: all });
    let mtl_lv = head(&sub_clicks, LONG_VIEW, true, HeadSpec { user_ids: true, user_item: false, item_ids: false, dim: 0, mask: all });
    let mtl_like = head(&sub_clicks, LIKE, true, HeadSpec { user_ids: false, user_item: false, item_ids: false, dim: 0, mask: all });
    let (mut given_click, mut given_no_click) = ([0f32; 7], [0f32; 7]);
    let n_click = clicks.len().max(1) as f32;
    let n_no = (train.len() - clicks.len()).max(1) as f32;
    for s in 0..7 {
        let pos_c = clicks.iter().filter(|r| r.signals[s] == 1).count() as f32;
        let pos_all = train.iter().filter(|r| r.signals[s] == 1).count() as f32;
        given_click[s] = pos_c / n_click;
        given_no_click[s] = (pos_all - pos_c) / n_no;
    }
    let truth = SignalModel { click: truth_click, long_view_given_click: truth_lv, like_given_click: truth_like, given_click, given_no_click, miscalibration: [[0.0; ITEM_FEATURES.len()]; 2] };
    let mtl = SignalModel { click: mtl_click, long_view_given_click: mtl_lv, like_given_click: mtl_like, given_click, given_no_click, miscalibration: cfg.mtl_miscalibration };
    (truth, mtl)
}

/// Each signal's AUC and log-loss on the held-out days, truth against MTL.
fn held_out_report(days: &TrainingDays, samples: &Samples, test: &[&Impression], truth: &SignalModel, mtl: &SignalModel) -> Vec<SignalReport> {
    let test_rows: Vec<(&Impression, Sample, Sample)> = test.iter().filter_map(|r| Some((*r, samples.truth(r, 0.0)?, samples.mtl(r, 0.0)?))).collect();
    let mut m = [0.0f32; 7];
    let (mut pt, mut pm) = (vec![Vec::new(); 7], vec![Vec::new(); 7]);
    for (_, s, sm) in &test_rows {
        truth.marginals(&s.x, s.user, s.item, &mut m);
        (0..7).for_each(|k| pt[k].push(m[k]));
        mtl.marginals(&sm.x, sm.user, None, &mut m);
        (0..7).for_each(|k| pm[k].push(m[k]));
    }
    (0..7)
        .map(|k| {
            let y: Vec<u8> = test_rows.iter().map(|(r, _, _)| r.signals[k]).collect();
            let base = vec![(days.rate(k) as f32).max(1e-6); y.len()];
            SignalReport {
                signal: SIGNALS[k],
                positives_train: days.rows.iter().filter(|r| r.signals[k] == 1).count(),
                positives_test: y.iter().filter(|&&v| v == 1).count(),
                auc_truth: auc(&pt[k], &y),
                auc_mtl: auc(&pm[k], &y),
                logloss_truth: logloss(&pt[k], &y),
                logloss_mtl: logloss(&pm[k], &y),
                logloss_base_rate: logloss(&base, &y),
                modelled_as: match k {
                    0 => "features + user/item bias + factors",
                    1 => "P(click) × P(lv given click), features + ids",
                    2 => "P(click) × P(like given click), features + user bias",
                    _ => "too rare to model: base rate given click / no click",
                },
            }
        })
        .collect()
}

/// The disappointment threshold: the median list reward of random lists, so
/// a random ranker disappoints about half the time.
fn median_random_list_reward(sim: &Simulator, seed: u64) -> Result<f32, FitError> {
    let mut sim = sim.clone();
    sim.config.threshold = f32::NEG_INFINITY;
    let mut log_rows = Vec::new();
    let mut random = RandomPolicy::new(seed);
    for u in 0..sim.n_users().min(400) {
        run_session(&sim, &mut random, u, seed, 0, Some(&mut log_rows)).map_err(FitError::Session)?;
    }
    let mut list_rewards: Vec<f32> = log_rows.iter().map(|t| t.rewards.iter().sum()).collect();
    list_rewards.sort_by(f32::total_cmp);
    Ok(list_rewards[list_rewards.len() / 2].max(1e-3))
}
