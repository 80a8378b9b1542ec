//! The fitted simulator: users, items, the response model (the world's
//! truth) and the MTL model (what rankers see), stored as safetensors.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::blob::DEFAULT_OBJECTIVES;
use crate::error::BlobError;
use crate::ranker::{ItemId, RankItem, RankRequest};
use crate::schema::{Feature, FeatureGroup};
use crate::sim::config::{RewardWeights, SimConfig};

pub const USER_FEATURES: [&str; 5] = ["user_activity", "user_click_rate", "user_long_view_rate", "user_like_rate", "user_play_ratio"];
pub const ITEM_FEATURES: [&str; 5] = ["item_log_duration", "item_duration_known", "item_click_rate", "item_long_view_rate", "item_log_exposures"];
pub const CONTEXT_FEATURES: [&str; 4] = ["hour_sin", "hour_cos", "tab_main", "weekend"];
/// Width of a head's dense input: normalised user, item and context features.
pub const X_WIDTH: usize = 14;

/// Context features for an hour (0–23), tab and weekday (0 = Monday).
pub fn context_features(hour: u8, tab: u8, weekday: u8) -> [f32; 4] {
    let a = hour as f32 / 24.0 * std::f32::consts::TAU;
    [a.sin(), a.cos(), (tab == 1) as u8 as f32, (weekday >= 5) as u8 as f32]
}

/// A logistic head: `σ(b + w·x + ub[u] + ib[i] + ⟨P[u], Q[i]⟩)`. Id terms
/// are empty for heads that see features only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub b: f32,
    pub w: Vec<f32>,
    #[serde(skip)]
    pub user_bias: Vec<f32>,
    #[serde(skip)]
    pub item_bias: Vec<f32>,
    pub dim: usize,
    #[serde(skip)]
    pub user_factors: Vec<f32>,
    #[serde(skip)]
    pub item_factors: Vec<f32>,
    /// Per-user weights on the normalised item features (`users × 5`): how
    /// much each user likes long videos, say. Empty except in a simulator
    /// fitted with `interactions`.
    #[serde(skip)]
    pub user_item: Vec<f32>,
}

impl Head {
    pub fn logit(&self, x: &[f32], user: usize, item: Option<usize>) -> f32 {
        let mut z = self.b;
        for (w, x) in self.w.iter().zip(x) {
            z += w * x;
        }
        if let Some(ub) = self.user_bias.get(user) {
            z += ub;
        }
        if let Some(wu) = self.user_item.get(user * ITEM_FEATURES.len()..(user + 1) * ITEM_FEATURES.len()) {
            z += wu.iter().zip(&x[USER_FEATURES.len()..]).map(|(w, x)| w * x).sum::<f32>();
        }
        if let Some(i) = item {
            if let Some(ib) = self.item_bias.get(i) {
                z += ib;
            }
            if self.dim > 0 && !self.user_factors.is_empty() && !self.item_factors.is_empty() {
                let p = &self.user_factors[user * self.dim..(user + 1) * self.dim];
                let q = &self.item_factors[i * self.dim..(i + 1) * self.dim];
                z += p.iter().zip(q).map(|(a, b)| a * b).sum::<f32>();
            }
        }
        z
    }

    pub fn prob(&self, x: &[f32], user: usize, item: Option<usize>) -> f32 {
        sigmoid(self.logit(x, user, item))
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Probabilities of every signal for one user-item-context, from three heads
/// (click; long view given click; like given click) and conditional base
/// rates for the rest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalModel {
    pub click: Head,
    pub long_view_given_click: Head,
    pub like_given_click: Head,
    /// `P(signal | click)` and `P(signal | no click)` for every signal, from
    /// the training days; used for long view and like without a click, and
    /// for follow, comment, forward and hate, which are too rare to model.
    pub given_click: [f32; 7],
    pub given_no_click: [f32; 7],
    /// Added to the click (row 0) and long-view (row 1) logits per unit of
    /// each normalised item feature: the MTL model's deliberate,
    /// item-dependent miscalibration (all 0 for the truth).
    pub miscalibration: [[f32; ITEM_FEATURES.len()]; 2],
}

impl SignalModel {
    /// `P(click)`, `P(lv | click)`, `P(like | click)`.
    pub fn heads(&self, x: &[f32], user: usize, item: Option<usize>) -> [f32; 3] {
        let z_item = &x[USER_FEATURES.len()..USER_FEATURES.len() + ITEM_FEATURES.len()];
        let shift = |row: &[f32]| row.iter().zip(z_item).map(|(w, z)| w * z).sum::<f32>();
        [
            sigmoid(self.click.logit(x, user, item) + shift(&self.miscalibration[0])),
            sigmoid(self.long_view_given_click.logit(x, user, item) + shift(&self.miscalibration[1])),
            self.like_given_click.prob(x, user, item),
        ]
    }

    /// Marginal probability of each of the 7 signals.
    pub fn marginals(&self, x: &[f32], user: usize, item: Option<usize>, out: &mut [f32]) {
        let [pc, plv, plike] = self.heads(x, user, item);
        for (s, o) in out.iter_mut().enumerate().take(7) {
            let given = match s {
                1 => plv,
                2 => plike,
                _ => self.given_click[s],
            };
            *o = if s == 0 { pc } else { pc * given + (1.0 - pc) * self.given_no_click[s] };
        }
    }
}

/// Play time in seconds by outcome, from the log. Without a long view, people
/// watch a few seconds whatever the video's length; with one, time grows
/// with length, so it is kept per duration bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlayModel {
    pub no_click_s: f32,
    pub click_only_s: f32,
    /// Mean play seconds of long views for videos under 15 s, 15–60 s, and longer.
    pub long_view_s: [f32; 3],
    /// Duration assumed where the log has 0 (unknown), seconds.
    pub default_duration_s: f32,
}

impl PlayModel {
    pub fn bucket(duration_s: f32) -> usize {
        if duration_s < 15.0 {
            0
        } else if duration_s < 60.0 {
            1
        } else {
            2
        }
    }
}

/// Everything the environment needs, with no raw log rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulator {
    /// Feature names and normalisation: user, item and context groups.
    pub features: Vec<Feature>,
    /// Original KuaiRand ids of the simulated users and of the item pool.
    #[serde(skip)]
    pub user_ids: Vec<u32>,
    #[serde(skip)]
    pub item_ids: Vec<u32>,
    /// Raw (unnormalised) features, row-major.
    #[serde(skip)]
    pub user_features: Vec<f32>,
    #[serde(skip)]
    pub item_features: Vec<f32>,
    /// The MTL model's view of the items: rates from its training subset.
    #[serde(skip)]
    pub mtl_item_features: Vec<f32>,
    #[serde(skip)]
    pub item_duration_s: Vec<f32>,
    /// Per-user temper budget scale in [0, 1] (activity percentile).
    #[serde(skip)]
    pub user_temper: Vec<f32>,
    /// Hour-of-day distribution of requests in the training days.
    pub hour_weights: [f32; 24],
    pub truth: SignalModel,
    pub mtl: SignalModel,
    pub play: PlayModel,
    pub config: SimConfig,
    /// The fit report, kept for provenance.
    #[serde(default)]
    pub report: serde_json::Value,
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

const FORMAT: &str = "mtfuse-sim";

impl Simulator {
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    pub fn user_row(&self, u: usize) -> &[f32] {
        &self.user_features[u * USER_FEATURES.len()..(u + 1) * USER_FEATURES.len()]
    }

    pub fn item_row(&self, i: usize) -> &[f32] {
        &self.item_features[i * ITEM_FEATURES.len()..(i + 1) * ITEM_FEATURES.len()]
    }

    /// Schema features of one group, for policies' blobs.
    pub fn group(&self, g: FeatureGroup) -> impl Iterator<Item = &Feature> {
        self.features.iter().filter(move |f| f.group == g)
    }

    /// Normalised head input `[user, item, context]`.
    pub fn head_input(&self, user: usize, item_raw: &[f32], context_raw: &[f32], x: &mut [f32; X_WIDTH]) {
        let raw = self.user_row(user).iter().chain(item_raw).chain(context_raw);
        for ((slot, v), f) in x.iter_mut().zip(raw).zip(&self.features) {
            *slot = (v - f.mean) / f.std;
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn tensors(&self) -> Vec<(String, &Vec<f32>)> {
        let mut t: Vec<(String, &Vec<f32>)> = vec![
            ("user_features".into(), &self.user_features),
            ("item_features".into(), &self.item_features),
            ("mtl_item_features".into(), &self.mtl_item_features),
            ("item_duration_s".into(), &self.item_duration_s),
            ("user_temper".into(), &self.user_temper),
        ];
        for (m, model) in [("truth", &self.truth), ("mtl", &self.mtl)] {
            for (h, head) in [("click", &model.click), ("long_view", &model.long_view_given_click), ("like", &model.like_given_click)] {
                t.push((format!("{m}.{h}.user_bias"), &head.user_bias));
                t.push((format!("{m}.{h}.item_bias"), &head.item_bias));
                t.push((format!("{m}.{h}.user_factors"), &head.user_factors));
                t.push((format!("{m}.{h}.item_factors"), &head.item_factors));
                // Only interaction simulators have them, so other files keep their bytes.
                if !head.user_item.is_empty() {
                    t.push((format!("{m}.{h}.user_item"), &head.user_item));
                }
            }
        }
        t
    }

    /// Serialises as safetensors: arrays as F32 tensors (ids as F32 too, exact
    /// below 2^24), the rest as JSON metadata.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_bytes(&self) -> Vec<u8> {
        let ids = |v: &[u32]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (uids, iids) = (ids(&self.user_ids), ids(&self.item_ids));
        let mut named: Vec<(String, &Vec<f32>)> = self.tensors();
        named.push(("user_ids".into(), &uids));
        named.push(("item_ids".into(), &iids));
        let named = named.into_iter().map(|(n, v)| (n, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
        let json = serde_json::to_string(self).expect("simulator serialises");
        let named: Vec<(String, Vec<usize>, Vec<u8>)> = named;
        let checksum = crate::blob::content_checksum(&json, named.iter().map(|(n, _, b)| (n.as_str(), b.as_slice())));
        crate::blob::write_safetensors(named, &[("format", FORMAT.to_string()), ("simulator", json), ("checksum", checksum)])
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Simulator, BlobError> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| BlobError::NotSafetensors(e.to_string()))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| BlobError::NotSafetensors(e.to_string()))?;
        let md: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
        if md.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(BlobError::MissingMetadata("format"));
        }
        let expected = md.get("checksum").ok_or(BlobError::MissingMetadata("checksum"))?;
        let json = md.get("simulator").ok_or(BlobError::MissingMetadata("simulator"))?;
        verify_checksum(&st, expected, json)?;
        let mut sim: Simulator = serde_json::from_str(json).map_err(|e| BlobError::BadMetadata(e.to_string()))?;
        let read = |name: &str| -> Result<Vec<f32>, BlobError> {
            let v = st.tensor(name).map_err(|_| BlobError::MissingTensor(name.into()))?;
            if v.dtype() != safetensors::Dtype::F32 {
                return Err(BlobError::WrongDtype { name: name.into(), got: format!("{:?}", v.dtype()) });
            }
            let data: Vec<f32> = v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if let Some(index) = data.iter().position(|x| !x.is_finite()) {
                return Err(BlobError::NonFinite { name: name.into(), index });
            }
            Ok(data)
        };
        sim.user_ids = read("user_ids")?.into_iter().map(|x| x as u32).collect();
        sim.item_ids = read("item_ids")?.into_iter().map(|x| x as u32).collect();
        sim.user_features = read("user_features")?;
        sim.item_features = read("item_features")?;
        sim.mtl_item_features = read("mtl_item_features")?;
        sim.item_duration_s = read("item_duration_s")?;
        sim.user_temper = read("user_temper")?;
        for m in ["truth", "mtl"] {
            for h in ["click", "long_view", "like"] {
                let parts = [read(&format!("{m}.{h}.user_bias"))?, read(&format!("{m}.{h}.item_bias"))?, read(&format!("{m}.{h}.user_factors"))?, read(&format!("{m}.{h}.item_factors"))?];
                let model = if m == "truth" { &mut sim.truth } else { &mut sim.mtl };
                let head = match h {
                    "click" => &mut model.click,
                    "long_view" => &mut model.long_view_given_click,
                    _ => &mut model.like_given_click,
                };
                let [ub, ib, uf, itf] = parts;
                (head.user_bias, head.item_bias, head.user_factors, head.item_factors) = (ub, ib, uf, itf);
                let name = format!("{m}.{h}.user_item");
                if st.tensor(&name).is_ok() {
                    head.user_item = read(&name)?;
                }
            }
        }
        sim.check()?;
        Ok(sim)
    }

    /// Shape checks, so a corrupt file fails at load instead of panicking later.
    fn check(&self) -> Result<(), BlobError> {
        let (u, i) = (self.n_users(), self.n_items());
        let bad = |what: &str, got: usize, want: usize| Err(BlobError::ShapeMismatch { name: what.into(), got: vec![got], want: vec![want] });
        if self.features.len() != X_WIDTH {
            return bad("features", self.features.len(), X_WIDTH);
        }
        for (name, got, want) in [
            ("user_features", self.user_features.len(), u * USER_FEATURES.len()),
            ("item_features", self.item_features.len(), i * ITEM_FEATURES.len()),
            ("mtl_item_features", self.mtl_item_features.len(), i * ITEM_FEATURES.len()),
            ("item_duration_s", self.item_duration_s.len(), i),
            ("user_temper", self.user_temper.len(), u),
        ] {
            if got != want {
                return bad(name, got, want);
            }
        }
        for model in [&self.truth, &self.mtl] {
            for head in [&model.click, &model.long_view_given_click, &model.like_given_click] {
                if head.w.len() != X_WIDTH {
                    return bad("head.w", head.w.len(), X_WIDTH);
                }
                for (name, got, want) in [
                    ("user_bias", head.user_bias.len(), u),
                    ("item_bias", head.item_bias.len(), i),
                    ("user_factors", head.user_factors.len(), u * head.dim),
                    ("item_factors", head.item_factors.len(), i * head.dim),
                    ("user_item", head.user_item.len(), u * ITEM_FEATURES.len()),
                ] {
                    if got != 0 && got != want {
                        return bad(name, got, want);
                    }
                }
            }
        }
        if u == 0 || i < self.config.candidates {
            return Err(BlobError::BadMetadata(format!("simulator has {u} users and {i} items; needs users and at least {} items", self.config.candidates)));
        }
        Ok(())
    }
}

/// The fitted model's behaviour: responses, MTL scores, requests, temper.
impl Simulator {
    /// Draws the sampled response of `user` to pool item `item`.
    pub fn respond(&self, user: usize, item: usize, context: &[f32], rng: &mut StdRng) -> Response {
        let mut x = [0.0; X_WIDTH];
        self.head_input(user, self.item_row(item), context, &mut x);
        let [pc, plv, plike] = self.truth.heads(&x, user, Some(item));
        let click = rng.random::<f32>() < pc;
        let mut signals = [0u8; 7];
        signals[0] = click as u8;
        for (s, signal) in signals.iter_mut().enumerate().skip(1) {
            let p = match (s, click) {
                (1, true) => plv,
                (2, true) => plike,
                (_, true) => self.truth.given_click[s],
                (_, false) => self.truth.given_no_click[s],
            };
            *signal = (rng.random::<f32>() < p) as u8;
        }
        let mean_s = if signals[1] == 1 {
            self.play.long_view_s[PlayModel::bucket(self.item_duration_s[item])]
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

/// Checks a parsed file's `checksum` against its content.
fn verify_checksum(st: &safetensors::SafeTensors, expected: &str, meta_json: &str) -> Result<(), BlobError> {
    let views = st.tensors();
    let actual = crate::blob::content_checksum(meta_json, views.iter().map(|(n, v)| (n.as_str(), v.data())));
    if actual != expected {
        return Err(BlobError::BadChecksum { expected: expected.to_string(), actual });
    }
    Ok(())
}

