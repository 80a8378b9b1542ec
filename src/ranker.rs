//! Ranking: request validation, state assembly, actor, fusion, top-k.
//!
//! Two entry points share one pipeline. The columnar one takes flat `f32`
//! buffers in schema order and is what hot paths use; the object one takes
//! features and scores by name, checks them against the schema, fills the
//! columns, and calls the columnar one.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::blob::{Blob, PolicyWeights};
use crate::error::{BlobError, RequestError, RequestErrorKind};
use crate::exploration::{explore_actions, ExploreRecord, ExploreSpec, ExploredRanking};
use crate::fusion::{fuse, top_k};
use crate::json::Json;
use crate::read;
use rand::rngs::StdRng;
use rand::SeedableRng;
use crate::nn::ActorScratch;
use crate::quant::{Precision, QuantActor, QuantActorScratch};
use crate::schema::{FeatureGroup, PolicyKind, Schema};

/// Upper bound on candidates per request; keeps scratch memory bounded.
pub const MAX_ITEMS: usize = 100_000;

/// The error for more than [`MAX_ITEMS`] candidates, checked before any per-item work.
pub(crate) fn check_item_count(field: &str, n: usize) -> Result<(), RequestError> {
    if n > MAX_ITEMS {
        return Err(RequestError::new(RequestErrorKind::TooMany, field, format!("{n} candidates exceed the limit of {MAX_ITEMS}")));
    }
    Ok(())
}

/// A finite input that normalises to infinity (1e38 over a std of 1e-6),
/// which would make the actor's output NaN.
fn overflow(field: &str, at: String, f: &crate::schema::Feature, x: f32) -> RequestError {
    let problem = format!("{at}\"{}\" is {x}, too far outside the blob's normalisation (mean {}, std {})", f.name, f.mean, f.std);
    RequestError::new(RequestErrorKind::NotFinite, field, problem)
}

fn cols_value(cols: &Columns, field: &str, i: usize) -> f32 {
    if field == "user" { cols.user[i] } else { cols.context[i - cols.user.len()] }
}

/// One request in flat buffers, in the blob schema's feature order.
#[derive(Clone, Copy, Debug)]
pub struct Columns<'a> {
    /// Raw user features, one per schema user feature.
    pub user: &'a [f32],
    /// Raw context features.
    pub context: &'a [f32],
    /// Raw item features, `n × item_features`, row-major.
    pub items: &'a [f32],
    /// MTL scores, `n × objectives`, row-major.
    pub scores: &'a [f32],
}

/// An item id as the caller sent it, returned unchanged.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ItemId {
    Int(i64),
    Num(f64),
    Str(String),
}

/// Rejects a repeated id, naming both places: results are returned by id,
/// so two candidates with one id could not be told apart.
pub fn check_unique_ids<'a>(ids: impl Iterator<Item = &'a ItemId>) -> Result<(), RequestError> {
    #[derive(Hash, PartialEq, Eq)]
    enum Key<'k> {
        Int(i64),
        Num(u64),
        Str(&'k str),
    }
    let mut seen = std::collections::HashMap::new();
    for (j, id) in ids.enumerate() {
        let key = match id {
            ItemId::Int(i) => Key::Int(*i),
            ItemId::Num(x) => Key::Num(x.to_bits()),
            ItemId::Str(s) => Key::Str(s),
        };
        if let Some(first) = seen.insert(key, j) {
            return Err(RequestError::new(RequestErrorKind::Duplicate, format!("items[{j}].id"), format!("{id} repeats items[{first}].id; ids must be unique")));
        }
    }
    Ok(())
}

/// Integral numbers below 2^53 in magnitude are ids that JSON round-trips exactly.
const MAX_SAFE_INT: f64 = 9_007_199_254_740_992.0;

impl ItemId {
    /// Reads an id; the error says what JSON wants, not which variant failed.
    pub fn from_json(v: &Json, path: &str) -> Result<ItemId, RequestError> {
        match v {
            Json::Num(x) if x.fract() == 0.0 && x.abs() < MAX_SAFE_INT => Ok(ItemId::Int(*x as i64)),
            Json::Num(x) => Ok(ItemId::Num(*x)),
            Json::Str(s) => Ok(ItemId::Str(s.clone())),
            v => Err(read::wrong_type(path, v, "a string or a number")),
        }
    }
}

/// As JSON: a number or a quoted string.
impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ItemId::Int(i) => write!(f, "{i}"),
            ItemId::Num(x) => write!(f, "{}", Json::Num(*x)),
            ItemId::Str(s) => write!(f, "{}", Json::Str(s.clone())),
        }
    }
}

impl RankRequest {
    /// Parses a request from JSON text, naming the path of the first bad
    /// field: `items[2].scores.click: is a string ("x"), expected a number`.
    pub fn from_json_text(text: &str) -> Result<RankRequest, RequestError> {
        RankRequest::from_json(&read::parse(text, "request")?)
    }

    pub fn from_json(v: &Json) -> Result<RankRequest, RequestError> {
        read::object(v, "", &["user", "context", "items", "topK", "withActions"])?;
        let top_k = match read::optional(v, "topK") {
            None => None,
            Some(Json::Num(x)) if x.fract() == 0.0 && x.abs() < MAX_SAFE_INT => Some(*x as i64),
            Some(t) => return Err(read::wrong_type("topK", t, "an integer from 1 to the number of items")),
        };
        Ok(RankRequest {
            user: read::number_map_or_empty(v, "", "user")?,
            context: read::number_map_or_empty(v, "", "context")?,
            items: read::array_of(read::required(v, "", "items")?, "items", RankItem::from_json)?,
            top_k,
            with_actions: read::optional(v, "withActions").map_or(Ok(false), |b| read::boolean(b, "withActions"))?,
        })
    }
}

impl RankItem {
    pub fn from_json(v: &Json, path: &str) -> Result<RankItem, RequestError> {
        read::object(v, path, &["id", "scores", "features"])?;
        Ok(RankItem {
            id: ItemId::from_json(read::required(v, path, "id")?, &read::join(path, "id"))?,
            scores: read::number_map(read::required(v, path, "scores")?, &read::join(path, "scores"))?,
            features: read::number_map_or_empty(v, path, "features")?,
        })
    }
}

/// A rank request with features and scores by name.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankRequest {
    pub user: BTreeMap<String, Option<f64>>,
    pub context: BTreeMap<String, Option<f64>>,
    pub items: Vec<RankItem>,
    /// How many items to return; all when absent.
    pub top_k: Option<i64>,
    /// Include each returned item's real action (powers and biases).
    pub with_actions: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RankItem {
    pub id: ItemId,
    pub scores: BTreeMap<String, Option<f64>>,
    pub features: BTreeMap<String, Option<f64>>,
}

/// A fusion action in real units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Action {
    pub powers: Vec<f32>,
    pub biases: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedItem {
    pub id: ItemId,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

/// The result of a columnar rank, borrowed from the ranker's buffers.
#[derive(Debug)]
pub struct Ranking<'a> {
    /// Indices into the request's items, best first.
    pub order: &'a [u32],
    /// Fused score of each item in `order`.
    pub scores: &'a [f32],
    /// The policy's normalised actions, `n × 2k` when `per_item`, else `2k`.
    pub norm_actions: &'a [f32],
    /// Whether actions differ per item (enhanced) or are shared (static, user-level).
    pub per_item: bool,
    /// The behaviour actions when the ranking explored (`rank_columns_explored`).
    pub explored: Option<Explored<'a>>,
    /// Real actions the items were fused with, per item when `actions_per_item`.
    actions: &'a [f32],
    actions_per_item: bool,
    width: usize,
}

/// The normalised actions an exploring ranking fused with: the policy's
/// action plus noise, `n × 2k` when `per_item`, else one shared row.
#[derive(Debug)]
pub struct Explored<'a> {
    pub taken: &'a [f32],
    pub per_item: bool,
}

impl Ranking<'_> {
    /// The ranked items as returned to callers, with ids looked up by request index.
    pub fn to_items(&self, id: impl Fn(usize) -> ItemId, with_actions: bool) -> Vec<RankedItem> {
        let k = self.width / 2;
        self.order
            .iter()
            .zip(self.scores)
            .map(|(&j, &score)| RankedItem {
                id: id(j as usize),
                score,
                action: with_actions.then(|| {
                    let a = self.action(j as usize);
                    Action { powers: a[..k].to_vec(), biases: a[k..].to_vec() }
                }),
            })
            .collect()
    }

    /// Real action `(p_1..p_k, b_1..b_k)` used for request item `item`.
    pub fn action(&self, item: usize) -> &[f32] {
        let at = if self.actions_per_item { item * self.width } else { 0 };
        &self.actions[at..at + self.width]
    }
}

/// Buffers the object API lays named values into, in schema order.
#[derive(Default, Debug)]
struct NamedInputs {
    user: Vec<f32>,
    context: Vec<f32>,
    items: Vec<f32>,
    scores: Vec<f32>,
}

#[derive(Default, Debug)]
struct Scratch {
    shared: Vec<f32>,
    rows: Vec<f32>,
    actor: ActorScratch,
    quant: QuantActorScratch,
    norm_actions: Vec<f32>,
    taken: Vec<f32>,
    actions: Vec<f32>,
    fused: Vec<f32>,
    order: Vec<u32>,
    ranked_scores: Vec<f32>,
}

/// A loaded policy plus the buffers it ranks with.
#[derive(Debug)]
pub struct Ranker {
    blob: Blob,
    /// `crc32:` and the CRC-32 of the bytes the blob was loaded from: the
    /// behaviour policy's id in logs.
    behaviour: String,
    scratch: Scratch,
    inputs: NamedInputs,
    /// The actor in 16-bit integers, when that precision was chosen.
    quant: Option<QuantActor>,
}

impl Ranker {
    pub fn from_bytes(bytes: &[u8]) -> Result<Ranker, BlobError> {
        let mut r = Ranker::from_blob(Blob::from_bytes(bytes)?);
        r.behaviour = format!("crc32:{:08x}", crate::blob::crc32(bytes));
        Ok(r)
    }

    /// A ranker of a blob built in memory; its behaviour id is `unsaved`.
    pub fn from_blob(blob: Blob) -> Ranker {
        Ranker { blob, behaviour: "unsaved".into(), scratch: Scratch::default(), inputs: NamedInputs::default(), quant: None }
    }

    /// Runs the actor in f32 (the default) or in 16-bit integers, which the
    /// simd128 build computes with fewer instructions. A static policy has no
    /// actor and ranks the same either way.
    pub fn set_precision(&mut self, p: Precision) {
        self.quant = match (&self.blob.weights, p) {
            (PolicyWeights::Actor(actor), Precision::Int16) => Some(QuantActor::new(actor)),
            _ => None,
        };
    }

    pub fn precision(&self) -> Precision {
        if self.quant.is_some() { Precision::Int16 } else { Precision::F32 }
    }

    /// The id logs record for this policy: `crc32:` and its blob's CRC-32.
    pub fn behaviour(&self) -> &str {
        &self.behaviour
    }

    pub fn blob(&self) -> &Blob {
        &self.blob
    }

    pub fn schema(&self) -> &Schema {
        &self.blob.schema
    }

    pub fn kind(&self) -> PolicyKind {
        self.blob.meta.kind
    }

    /// Checks a columnar request's lengths and values; returns the item count.
    fn check_columns(&self, cols: &Columns) -> Result<usize, RequestError> {
        let s = &self.blob.schema;
        let k = s.k();
        if cols.scores.is_empty() {
            return Err(RequestError::new(RequestErrorKind::Empty, "scores", "no candidates: the list is empty"));
        }
        if cols.scores.len() % k != 0 {
            return Err(RequestError::new(RequestErrorKind::Length, "scores", format!("length {} is not a multiple of {k} objectives", cols.scores.len())));
        }
        let n = cols.scores.len() / k;
        check_item_count("scores", n)?;
        for (field, got, want) in [("user", cols.user.len(), s.user.len()), ("context", cols.context.len(), s.context.len())] {
            if got != want {
                return Err(RequestError::new(RequestErrorKind::Length, field, format!("length {got}, the schema has {want} {field} features")));
            }
        }
        let fi = s.item.len();
        if n.checked_mul(fi) != Some(cols.items.len()) {
            let want = n.checked_mul(fi).map_or("more than this platform can address".to_string(), |w| w.to_string());
            return Err(RequestError::new(RequestErrorKind::Length, "itemFeatures", format!("length {}, expected {n} items × {fi} item features = {want}", cols.items.len())));
        }
        let bad = |field: &str, group: FeatureGroup, v: &[f32], width: usize| -> Result<(), RequestError> {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                let name = s.names(group).nth(i % width.max(1)).unwrap_or("?");
                let at = if width > 0 && v.len() > width { format!("item {} ", i / width) } else { String::new() };
                return Err(RequestError::new(RequestErrorKind::NotFinite, field, format!("{at}\"{name}\" is {}, expected a finite number", v[i])));
            }
            Ok(())
        };
        bad("user", FeatureGroup::User, cols.user, s.user.len())?;
        bad("context", FeatureGroup::Context, cols.context, s.context.len())?;
        bad("itemFeatures", FeatureGroup::Item, cols.items, fi)?;
        if let Some(i) = cols.scores.iter().position(|x| !x.is_finite()) {
            return Err(RequestError::new(RequestErrorKind::NotFinite, "scores", format!("item {} \"{}\" is {}, expected a finite number", i / k, s.objectives[i % k], cols.scores[i])));
        }
        Ok(n)
    }

    /// Ranks a columnar request and returns the best `top` items.
    pub fn rank_columns(&mut self, cols: &Columns, top: usize) -> Result<Ranking<'_>, RequestError> {
        let n = self.check_top(cols, top)?;
        let per_item = self.compute_actions(cols, n)?;
        self.fuse_and_sort(cols, n, top, per_item)?;
        Ok(self.ranking(per_item, None))
    }

    /// Ranks with exploration: the policy's normalised action plus noise
    /// drawn from `rng` (see [`crate::exploration`]), which the result
    /// reports beside the policy's own action so the caller can log both.
    pub fn rank_columns_explored(&mut self, cols: &Columns, top: usize, spec: ExploreSpec, rng: &mut StdRng) -> Result<Ranking<'_>, RequestError> {
        let n = self.check_top(cols, top)?;
        let per_item = self.compute_actions(cols, n)?;
        let width = 2 * self.blob.schema.k();
        let sc = &mut self.scratch;
        let taken_per_item = explore_actions(&sc.norm_actions, per_item, n, width, spec, rng, &mut sc.taken);
        let rows = if taken_per_item { n } else { 1 };
        sc.actions.resize(rows * width, 0.0);
        for r in 0..rows {
            self.blob.actions.to_real(&sc.taken[r * width..(r + 1) * width], &mut sc.actions[r * width..(r + 1) * width]);
        }
        self.fuse_and_sort(cols, n, top, taken_per_item)?;
        Ok(self.ranking(per_item, Some(taken_per_item)))
    }

    fn check_top(&self, cols: &Columns, top: usize) -> Result<usize, RequestError> {
        let n = self.check_columns(cols)?;
        if top == 0 || top > n {
            return Err(RequestError::new(RequestErrorKind::OutOfRange, "topK", format!("{top} is out of range 1..={n}")));
        }
        Ok(n)
    }

    /// Fuses every item with `scratch.actions` and keeps the best `top`.
    /// Finite inputs can still overflow (a feature at 1e38 normalises to
    /// infinity): such a score is an error, never a silently wrong order.
    fn fuse_and_sort(&mut self, cols: &Columns, n: usize, top: usize, per_item: bool) -> Result<(), RequestError> {
        let k = self.blob.schema.k();
        let sc = &mut self.scratch;
        sc.fused.clear();
        for j in 0..n {
            let a = if per_item { &sc.actions[j * 2 * k..(j + 1) * 2 * k] } else { &sc.actions[..2 * k] };
            sc.fused.push(fuse(&cols.scores[j * k..(j + 1) * k], a));
        }
        if let Some(j) = sc.fused.iter().position(|f| !f.is_finite()) {
            let problem = format!("item {j}'s fused score is {}: its inputs are too far outside the blob's normalisation", sc.fused[j]);
            return Err(RequestError::new(RequestErrorKind::NotFinite, "items", problem));
        }
        top_k(&sc.fused, top, &mut sc.order);
        sc.ranked_scores.clear();
        sc.ranked_scores.extend(sc.order.iter().map(|&j| sc.fused[j as usize]));
        Ok(())
    }

    fn ranking(&self, per_item: bool, taken_per_item: Option<bool>) -> Ranking<'_> {
        let sc = &self.scratch;
        let explored = taken_per_item.map(|p| Explored { taken: &sc.taken, per_item: p });
        let actions_per_item = taken_per_item.unwrap_or(per_item);
        Ranking { order: &sc.order, scores: &sc.ranked_scores, norm_actions: &sc.norm_actions, per_item, explored, actions: &sc.actions, actions_per_item, width: 2 * self.blob.schema.k() }
    }

    /// Runs the policy on validated columns, leaving real actions in
    /// `scratch.actions`. Returns whether they are per item (else one shared),
    /// or an error for an input that normalises to infinity.
    fn compute_actions(&mut self, cols: &Columns, n: usize) -> Result<bool, RequestError> {
        let s = &self.blob.schema;
        let k = s.k();
        let sc = &mut self.scratch;
        let norm = |x: f32, i: usize| (x - s.mean[i]) * s.inv_std[i];
        sc.shared.clear();
        sc.shared.extend(cols.user.iter().enumerate().map(|(i, &x)| norm(x, s.user.start + i)));
        sc.shared.extend(cols.context.iter().enumerate().map(|(i, &x)| norm(x, s.context.start + i)));
        if let Some(i) = sc.shared.iter().position(|z| !z.is_finite()) {
            let (field, at) = if i < s.user.len() { ("user", s.user.start + i) } else { ("context", s.context.start + i - s.user.len()) };
            return Err(overflow(field, String::new(), &s.features[at], cols_value(cols, field, i)));
        }
        let per_item = match &self.blob.weights {
            PolicyWeights::Static(a) => {
                sc.norm_actions.clear();
                sc.norm_actions.extend_from_slice(a);
                false
            }
            PolicyWeights::Actor(actor) if s.kind == PolicyKind::UserLevel => {
                // Input: user, context, then mean and std of each objective's scores.
                let mut input = std::mem::take(&mut sc.rows);
                input.clear();
                input.extend_from_slice(&sc.shared);
                let stats = crate::stats::request_score_stats(cols.scores, k);
                input.extend(stats.iter().enumerate().map(|(i, &v)| norm(v as f32, s.request.start + i)));
                if let Some(i) = input[sc.shared.len()..].iter().position(|z| !z.is_finite()) {
                    return Err(overflow("scores", "the request's ".into(), &s.features[s.request.start + i], stats[i] as f32));
                }
                match &self.quant {
                    Some(q) => q.forward(actor, &[], &input, 1, &mut sc.quant, &mut sc.norm_actions),
                    None => actor.forward(&[], &input, 1, &mut sc.actor, &mut sc.norm_actions),
                }
                sc.rows = input;
                false
            }
            PolicyWeights::Actor(actor) => {
                // Per-item rows: item features then scores, normalised.
                let fi = s.item.len();
                sc.rows.clear();
                sc.rows.reserve(n * (fi + k));
                for j in 0..n {
                    let feats = &cols.items[j * fi..(j + 1) * fi];
                    sc.rows.extend(feats.iter().enumerate().map(|(i, &x)| norm(x, s.item.start + i)));
                    let sj = &cols.scores[j * k..(j + 1) * k];
                    sc.rows.extend(sj.iter().enumerate().map(|(i, &x)| norm(x, s.score.start + i)));
                }
                if let Some(at) = sc.rows.iter().position(|z| !z.is_finite()) {
                    let (j, c) = (at / (fi + k), at % (fi + k));
                    let (field, x, f) = if c < fi { ("itemFeatures", cols.items[j * fi + c], s.item.start + c) } else { ("scores", cols.scores[j * k + c - fi], s.score.start + c - fi) };
                    return Err(overflow(field, format!("item {j} "), &s.features[f], x));
                }
                match &self.quant {
                    Some(q) => q.forward(actor, &sc.shared, &sc.rows, n, &mut sc.quant, &mut sc.norm_actions),
                    None => actor.forward(&sc.shared, &sc.rows, n, &mut sc.actor, &mut sc.norm_actions),
                }
                true
            }
        };
        let rows = if per_item { n } else { 1 };
        sc.actions.resize(rows * 2 * k, 0.0);
        for r in 0..rows {
            self.blob.actions.to_real(&sc.norm_actions[r * 2 * k..(r + 1) * 2 * k], &mut sc.actions[r * 2 * k..(r + 1) * 2 * k]);
        }
        Ok(per_item)
    }

    /// Ranks a request whose features and scores are given by name.
    pub fn rank(&mut self, req: &RankRequest) -> Result<Vec<RankedItem>, RequestError> {
        Ok(self.rank_named(req, None)?.0)
    }

    /// Ranks a request by name with exploration, and returns the log record too.
    pub fn rank_explored(&mut self, req: &RankRequest, spec: ExploreSpec, seed: u64) -> Result<ExploredRanking, RequestError> {
        let (items, record) = self.rank_named(req, Some((spec, seed)))?;
        Ok(ExploredRanking { items, record: record.expect("explored") })
    }

    fn rank_named(&mut self, req: &RankRequest, explore: Option<(ExploreSpec, u64)>) -> Result<(Vec<RankedItem>, Option<ExploreRecord>), RequestError> {
        let n = req.items.len();
        if n == 0 {
            return Err(RequestError::new(RequestErrorKind::Empty, "items", "no candidates: the list is empty"));
        }
        check_item_count("items", n)?;
        let top = match req.top_k {
            None => n,
            // Compared as i64: `as usize` first would wrap on wasm32.
            Some(t) if t >= 1 && t <= n as i64 => t as usize,
            Some(t) => return Err(RequestError::new(RequestErrorKind::OutOfRange, "topK", format!("{t} is out of range 1..={n}"))),
        };
        check_unique_ids(req.items.iter().map(|i| &i.id))?;
        // The named values are laid out in reusable buffers, then ranked
        // through the columnar path; the buffers are put back either way.
        let mut inp = std::mem::take(&mut self.inputs);
        let result = fill_request(req, &self.blob.schema, &mut inp).and_then(|()| {
            let cols = Columns { user: &inp.user, context: &inp.context, items: &inp.items, scores: &inp.scores };
            let id = |j: usize| req.items[j].id.clone();
            match explore {
                None => Ok((self.rank_columns(&cols, top)?.to_items(id, req.with_actions), None)),
                Some((spec, seed)) => {
                    let behaviour = self.behaviour.clone();
                    let r = self.rank_columns_explored(&cols, top, spec, &mut StdRng::seed_from_u64(seed))?;
                    Ok((r.to_items(id, req.with_actions), Some(ExploreRecord::of(&r, n, spec, seed, &behaviour))))
                }
            }
        });
        self.inputs = inp;
        result
    }
}

/// Lays a named request's values out in schema order.
fn fill_request(req: &RankRequest, s: &Schema, inp: &mut NamedInputs) -> Result<(), RequestError> {
    inp.user.clear();
    inp.context.clear();
    fill_named(&req.user, s, FeatureGroup::User, "user", &mut inp.user)?;
    fill_named(&req.context, s, FeatureGroup::Context, "context", &mut inp.context)?;
    inp.items.clear();
    inp.scores.clear();
    for (j, item) in req.items.iter().enumerate() {
        fill_named(&item.features, s, FeatureGroup::Item, &format!("items[{j}].features"), &mut inp.items)?;
        fill_scores(&item.scores, s, &format!("items[{j}].scores"), &mut inp.scores)?;
    }
    Ok(())
}

fn finite(v: Option<f64>, field: impl Fn() -> String) -> Result<f32, RequestError> {
    match v {
        None => Err(RequestError::new(RequestErrorKind::NotFinite, field(), "is null, expected a finite number")),
        Some(x) if !x.is_finite() || !(x as f32).is_finite() => Err(RequestError::new(RequestErrorKind::NotFinite, field(), format!("is {x}, expected a finite number"))),
        Some(x) => Ok(x as f32),
    }
}

/// Appends `values` in schema order for one group, rejecting unknown and
/// missing names.
pub(crate) fn fill_named(values: &BTreeMap<String, Option<f64>>, s: &Schema, group: FeatureGroup, field: &str, out: &mut Vec<f32>) -> Result<(), RequestError> {
    for name in values.keys() {
        if !s.names(group).any(|n| n == name) {
            let known: Vec<&str> = s.names(group).collect();
            return Err(RequestError::new(RequestErrorKind::Unknown, format!("{field}.{name}"), format!("unknown {} feature (the schema has: {})", group_word(group), list(&known))));
        }
    }
    for name in s.names(group) {
        match values.get(name) {
            None => return Err(RequestError::new(RequestErrorKind::Missing, format!("{field}.{name}"), format!("missing {} feature", group_word(group)))),
            Some(v) => out.push(finite(*v, || format!("{field}.{name}"))?),
        }
    }
    Ok(())
}

pub(crate) fn fill_scores(values: &BTreeMap<String, Option<f64>>, s: &Schema, field: &str, out: &mut Vec<f32>) -> Result<(), RequestError> {
    for name in values.keys() {
        if !s.objectives.contains(name) {
            return Err(RequestError::new(RequestErrorKind::Unknown, format!("{field}.{name}"), format!("unknown objective (objectives: {})", list(&s.objectives))));
        }
    }
    for name in &s.objectives {
        match values.get(name) {
            None => return Err(RequestError::new(RequestErrorKind::Missing, format!("{field}.{name}"), "missing score")),
            Some(v) => out.push(finite(*v, || format!("{field}.{name}"))?),
        }
    }
    Ok(())
}

fn group_word(g: FeatureGroup) -> &'static str {
    match g {
        FeatureGroup::User => "user",
        FeatureGroup::Context => "context",
        FeatureGroup::Item => "item",
        FeatureGroup::Score => "score",
        FeatureGroup::Request => "request",
    }
}

fn list<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(", ")
}
