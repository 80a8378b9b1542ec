//! Exploration while serving: the paper's behaviour policy is the policy's
//! normalised action plus `U(−e, e)` per dimension, clamped to [−1, 1]. It
//! lives in the inference core so that the wasm ranker, the edge worker and
//! the trainer's simulator draw the same noise from the same seed, and every
//! logged action has a density the trainer and off-policy evaluation know.

use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use crate::json::Json;
use crate::read;

use crate::error::{RequestError, RequestErrorKind};
use crate::ranker::{RankedItem, Ranking};

/// Widest half-width: the normalised action space is [−1, 1], so a box of
/// half-width 2 around any action already covers all of it.
pub const MAX_WIDTH: f32 = 2.0;

/// How to explore: half-width `width` in the normalised action space, with
/// noise drawn once per request or, with `per_item`, once per candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExploreSpec {
    pub width: f32,
    pub per_item: bool,
}

impl ExploreSpec {
    pub fn new(width: f32, per_item: bool) -> Result<ExploreSpec, RequestError> {
        if !(width.is_finite() && (0.0..=MAX_WIDTH).contains(&width)) {
            return Err(RequestError::new(RequestErrorKind::OutOfRange, "explore.width", format!("{width} is outside 0..={MAX_WIDTH} (a half-width in the normalised action space)")));
        }
        Ok(ExploreSpec { width, per_item })
    }
}

/// Adds the exploration noise to the policy's normalised actions `norm`
/// (`n × width_a` when `policy_per_item`, else one shared row of `width_a`).
/// `taken` gets the behaviour actions: `n` rows when either the policy or the
/// noise is per item, else one. Returns whether `taken` is per item.
///
/// The draw order (per item: item by item, dimension by dimension; per
/// request: one row of noise) is part of the format: a seed reproduces a log.
pub fn explore_actions(
    norm: &[f32],
    policy_per_item: bool,
    n: usize,
    width_a: usize,
    spec: ExploreSpec,
    rng: &mut StdRng,
    taken: &mut Vec<f32>,
) -> bool {
    taken.clear();
    let e = spec.width;
    let noise = |rng: &mut StdRng| {
        if e > 0.0 {
            rng.random_range(-e..e)
        } else {
            0.0
        }
    };
    if spec.per_item {
        for j in 0..n {
            let base = if policy_per_item {
                &norm[j * width_a..(j + 1) * width_a]
            } else {
                &norm[..width_a]
            };
            for &a in base {
                taken.push((a + noise(rng)).clamp(-1.0, 1.0));
            }
        }
        true
    } else {
        let eps: Vec<f32> = (0..width_a).map(|_| noise(rng)).collect();
        taken.extend(
            norm.iter()
                .enumerate()
                .map(|(i, a)| (a + eps[i % width_a]).clamp(-1.0, 1.0)),
        );
        policy_per_item
    }
}

/// A seed that JS numbers carry exactly: below 2^53.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// What a caller asks for: `{ width, seed?, perItem? }` (the wasm API's
/// `explore` option and the edge worker's `explore` field).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExploreOptions {
    pub width: f64,
    /// Makes the noise reproducible; without it the platform's secure random source picks one.
    pub seed: Option<f64>,
    pub per_item: bool,
}

impl ExploreOptions {
    pub fn from_json(v: &Json, path: &str) -> Result<ExploreOptions, RequestError> {
        read::object(v, path, &["width", "seed", "perItem"])?;
        Ok(ExploreOptions {
            width: read::number(read::required(v, path, "width")?, &read::join(path, "width"))?,
            seed: read::optional(v, "seed").map(|s| read::number(s, &read::join(path, "seed"))).transpose()?,
            per_item: read::optional(v, "perItem").map_or(Ok(false), |b| read::boolean(b, &read::join(path, "perItem")))?,
        })
    }

    /// The checked spec and the seed, `fresh()` when the caller gave none.
    pub fn resolve(&self, fresh: impl FnOnce() -> u64) -> Result<(ExploreSpec, u64), RequestError> {
        let spec = ExploreSpec::new(self.width as f32, self.per_item)?;
        let seed = match self.seed {
            None => fresh() & MAX_SEED,
            Some(s) if s.fract() == 0.0 && (0.0..=MAX_SEED as f64).contains(&s) => s as u64,
            Some(s) => {
                return Err(RequestError::new(
                    RequestErrorKind::OutOfRange,
                    "explore.seed",
                    format!("{s} is not an integer from 0 to 2^53 − 1"),
                ))
            }
        };
        Ok((spec, seed))
    }
}

/// What the log needs of one explored ranking, beside the request itself:
/// the behaviour policy's id, the noise, and per candidate the policy's
/// normalised action (`base`) and the one ranked with (`actions`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExploreRecord {
    /// `crc32:` and the CRC-32 of the serving blob's bytes.
    pub behaviour: String,
    pub explore: f32,
    pub per_item: bool,
    pub seed: u64,
    /// One row of 2k per candidate, in request order.
    pub base: Vec<Vec<f32>>,
    pub actions: Vec<Vec<f32>>,
    /// Candidate indices of the returned items, best first.
    pub shown: Vec<u32>,
}

impl ExploreRecord {
    pub fn from_json(v: &Json, path: &str) -> Result<ExploreRecord, RequestError> {
        read::object(v, path, &["behaviour", "explore", "perItem", "seed", "base", "actions", "shown"])?;
        let field = |key: &str| read::required(v, path, key).map(|x| (x, read::join(path, key)));
        let rows = |key: &str| {
            let (x, p) = field(key)?;
            read::array_of(x, &p, |row, p| read::array_of(row, p, |x, p| Ok(read::number(x, p)? as f32)))
        };
        let ((behaviour, b), (explore, e), (per_item, pi), (seed, s), (shown, sh)) = (field("behaviour")?, field("explore")?, field("perItem")?, field("seed")?, field("shown")?);
        Ok(ExploreRecord {
            behaviour: read::string(behaviour, &b)?,
            explore: read::number(explore, &e)? as f32,
            per_item: read::boolean(per_item, &pi)?,
            seed: read::integer(seed, &s, 0.0, u64::MAX as f64)? as u64,
            base: rows("base")?,
            actions: rows("actions")?,
            shown: read::array_of(shown, &sh, |x, p| Ok(read::integer(x, p, 0.0, u32::MAX as f64)? as u32))?,
        })
    }

    /// The record of an explored ranking of `n` candidates.
    pub fn of(
        r: &Ranking,
        n: usize,
        spec: ExploreSpec,
        seed: u64,
        behaviour: &str,
    ) -> ExploreRecord {
        let taken = r.explored.as_ref().expect("an explored ranking");
        let width = if r.per_item {
            r.norm_actions.len() / n
        } else {
            r.norm_actions.len()
        };
        let row = |v: &[f32], per_item: bool, j: usize| {
            if per_item {
                v[j * width..(j + 1) * width].to_vec()
            } else {
                v[..width].to_vec()
            }
        };
        ExploreRecord {
            behaviour: behaviour.to_string(),
            explore: spec.width,
            per_item: spec.per_item,
            seed,
            base: (0..n).map(|j| row(r.norm_actions, r.per_item, j)).collect(),
            actions: (0..n)
                .map(|j| row(taken.taken, taken.per_item, j))
                .collect(),
            shown: r.order.to_vec(),
        }
    }
}

/// A ranking with exploration: the items as `rank` returns them, and the record to log.
#[derive(Clone, Debug, Serialize)]
pub struct ExploredRanking {
    pub items: Vec<RankedItem>,
    pub record: ExploreRecord,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_width_outside_the_action_space_is_refused() {
        for w in [-0.1, 2.5, f32::NAN, f32::INFINITY] {
            let e = ExploreSpec::new(w, false).unwrap_err();
            assert_eq!(
                (e.kind(), e.field()),
                (RequestErrorKind::OutOfRange, "explore.width"),
                "{w}"
            );
        }
        assert!(ExploreSpec::new(0.0, true).is_ok());
    }

    #[test]
    fn noise_per_request_is_one_offset_for_every_item() {
        let norm = [0.0f32, 0.5, -0.5, 0.9, 0.1, 0.2]; // three items of two dimensions
        let mut taken = Vec::new();
        let per_item = explore_actions(
            &norm,
            true,
            3,
            2,
            ExploreSpec::new(0.3, false).unwrap(),
            &mut StdRng::seed_from_u64(1),
            &mut taken,
        );
        assert!(per_item);
        let d: Vec<f32> = taken.iter().zip(&norm).map(|(t, a)| t - a).collect();
        assert!(d.iter().all(|x| x.abs() <= 0.3 + 1e-6));
        // Item 1 dimension 1 is clamped at 1; the unclamped ones share their offset.
        assert_eq!(taken[3].min(1.0), taken[3]);
        assert!(
            (d[0] - d[2]).abs() < 1e-6 && (d[0] - d[4]).abs() < 1e-6,
            "{d:?}"
        );
    }

    #[test]
    fn noise_per_item_differs_between_items_and_a_seed_reproduces_it() {
        let norm = [0.0f32; 2];
        let spec = ExploreSpec::new(0.2, true).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert!(explore_actions(
            &norm,
            false,
            4,
            2,
            spec,
            &mut StdRng::seed_from_u64(7),
            &mut a
        ));
        explore_actions(
            &norm,
            false,
            4,
            2,
            spec,
            &mut StdRng::seed_from_u64(7),
            &mut b,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
        assert!(a
            .chunks(2)
            .collect::<Vec<_>>()
            .windows(2)
            .all(|w| w[0] != w[1]));
        explore_actions(
            &norm,
            false,
            4,
            2,
            spec,
            &mut StdRng::seed_from_u64(8),
            &mut b,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn zero_width_takes_the_policy_action() {
        let norm = [0.25f32, -0.75];
        let mut t = Vec::new();
        assert!(!explore_actions(
            &norm,
            false,
            5,
            2,
            ExploreSpec::new(0.0, false).unwrap(),
            &mut StdRng::seed_from_u64(1),
            &mut t
        ));
        assert_eq!(t, norm);
    }
}
