//! The feature schema: which named inputs a policy reads, in which order,
//! and how each is normalised. It travels inside the blob so that a client
//! can send features by name and the core can check them.

use serde::{Deserialize, Serialize};

use crate::error::BlobError;

/// Where a network input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureGroup {
    /// Sent once per request, describing the user.
    User,
    /// Sent once per request: hour, tab, weekday…
    Context,
    /// Sent per candidate.
    Item,
    /// A candidate's MTL score for one objective (enhanced state).
    Score,
    /// Mean or std of one objective's scores over the request's candidates
    /// (user-level state), computed by the core.
    Request,
}

/// One named input with its normalisation `(x − mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub group: FeatureGroup,
    pub mean: f32,
    pub std: f32,
}

/// Policy family. It decides the network's input layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// One global action.
    Static,
    /// One action per request from user, context and request statistics.
    UserLevel,
    /// One action per candidate from the enhanced state.
    Enhanced,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Static => "static",
            PolicyKind::UserLevel => "user-level",
            PolicyKind::Enhanced => "enhanced",
        }
    }

    /// The groups a blob of this kind lists, in order. Static and user-level
    /// policies ignore item features but may list them, so that one request
    /// shape serves every kind.
    pub fn groups(self) -> &'static [FeatureGroup] {
        use FeatureGroup::*;
        match self {
            PolicyKind::Static => &[User, Context, Item],
            PolicyKind::UserLevel => &[User, Context, Item, Request],
            PolicyKind::Enhanced => &[User, Context, Item, Score],
        }
    }
}

/// Name of the request-statistics input for objective `obj`.
pub fn request_stat_name(stat: &str, obj: &str) -> String {
    format!("{stat}:{obj}")
}

/// The smallest feature std a blob may carry: normalising divides by it, and
/// a std near 0 (say 1e-45) would turn every input into ±inf and every score
/// into NaN.
pub const MIN_STD: f32 = 1e-6;

/// The features of one blob, split by group, with precomputed `1/std`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub kind: PolicyKind,
    pub objectives: Vec<String>,
    pub features: Vec<Feature>,
    pub user: std::ops::Range<usize>,
    pub context: std::ops::Range<usize>,
    pub item: std::ops::Range<usize>,
    pub score: std::ops::Range<usize>,
    pub request: std::ops::Range<usize>,
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
}

impl Schema {
    /// Checks order, names and normalisation, and indexes the groups.
    pub fn new(kind: PolicyKind, objectives: Vec<String>, features: Vec<Feature>) -> Result<Schema, BlobError> {
        let bad = |m: String| Err(BlobError::SchemaMismatch(m));
        if objectives.is_empty() {
            return bad("no objectives".into());
        }
        for (i, o) in objectives.iter().enumerate() {
            if o.is_empty() || objectives[..i].contains(o) {
                return bad(format!("objective {i} (\"{o}\") is empty or repeated"));
            }
        }
        let order = kind.groups();
        let mut last = 0;
        for (i, f) in features.iter().enumerate() {
            let Some(pos) = order.iter().position(|g| *g == f.group) else {
                return bad(format!("feature \"{}\" has group {:?}, which a {} policy does not read", f.name, f.group, kind.as_str()));
            };
            if pos < last {
                return bad(format!("feature \"{}\" ({:?}) comes after a later group; features must be ordered {:?}", f.name, f.group, order));
            }
            last = pos;
            if f.name.is_empty() || features[..i].iter().any(|g| g.name == f.name && g.group == f.group) {
                return bad(format!("feature {i} (\"{}\") is empty or repeated in its group", f.name));
            }
            if !f.mean.is_finite() || !f.std.is_finite() || f.std < MIN_STD {
                return bad(format!("feature \"{}\" has mean {} and std {}; std must be finite and at least {MIN_STD}", f.name, f.mean, f.std));
            }
        }
        // Features are grouped in `order`, so each group is one contiguous run.
        let range = |g: FeatureGroup| {
            let start = order.iter().take_while(|o| **o != g).map(|o| features.iter().filter(|f| f.group == *o).count()).sum::<usize>();
            start..start + features.iter().filter(|f| f.group == g).count()
        };
        let schema = Schema {
            kind,
            user: range(FeatureGroup::User),
            context: range(FeatureGroup::Context),
            item: range(FeatureGroup::Item),
            score: range(FeatureGroup::Score),
            request: range(FeatureGroup::Request),
            mean: features.iter().map(|f| f.mean).collect(),
            inv_std: features.iter().map(|f| 1.0 / f.std).collect(),
            objectives,
            features,
        };
        match kind {
            PolicyKind::Enhanced => {
                let names: Vec<&str> = schema.features[schema.score.clone()].iter().map(|f| f.name.as_str()).collect();
                if names != schema.objectives.iter().map(String::as_str).collect::<Vec<_>>() {
                    return bad(format!("score features {names:?} must equal the objectives {:?}", schema.objectives));
                }
            }
            PolicyKind::UserLevel => {
                let want: Vec<String> = ["mean", "std"]
                    .iter()
                    .flat_map(|s| schema.objectives.iter().map(move |o| request_stat_name(s, o)))
                    .collect();
                let names: Vec<&String> = schema.features[schema.request.clone()].iter().map(|f| &f.name).collect();
                if names != want.iter().collect::<Vec<_>>() {
                    return bad(format!("request features {names:?} must be {want:?}"));
                }
            }
            PolicyKind::Static => {}
        }
        Ok(schema)
    }

    pub fn k(&self) -> usize {
        self.objectives.len()
    }

    /// Width of the per-request (shared) part of the network input.
    pub fn shared_width(&self) -> usize {
        self.user.len() + self.context.len()
    }

    /// Width of the actor's input.
    pub fn input_width(&self) -> usize {
        match self.kind {
            PolicyKind::Static => 0,
            PolicyKind::UserLevel => self.shared_width() + self.request.len(),
            PolicyKind::Enhanced => self.shared_width() + self.item.len() + self.score.len(),
        }
    }

    pub fn names(&self, group: FeatureGroup) -> impl Iterator<Item = &str> {
        self.features.iter().filter(move |f| f.group == group).map(|f| f.name.as_str())
    }
}
