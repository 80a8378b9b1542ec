//! The interface between a ranking policy and whoever asks it to rank: the
//! simulator, the trainers and the evaluators all drive policies through it.

use crate::error::RequestError;
use crate::ranker::{Columns, Ranker};

/// What a policy decided for one request.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Indices of the shown items, best first.
    pub order: Vec<u32>,
    /// Normalised actions in `[-1, 1]`: one row of `2k` per candidate when
    /// `per_item`, else a single row shared by all candidates. Empty for
    /// policies with no fusion action (random, sort-by-score).
    pub actions: Vec<f32>,
    pub per_item: bool,
}

impl Decision {
    /// Normalised action used for candidate `item`, if the policy has one.
    pub fn action(&self, item: usize, width: usize) -> Option<&[f32]> {
        if self.actions.is_empty() {
            return None;
        }
        let at = if self.per_item { item * width } else { 0 };
        self.actions.get(at..at + width)
    }
}

/// Anything that can order a request's candidates.
pub trait Policy {
    /// Chooses the `top` items to show from `cols`.
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError>;
}

impl Policy for Ranker {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let r = self.rank_columns(cols, top)?;
        out.order.clear();
        out.order.extend_from_slice(r.order);
        out.actions.clear();
        out.actions.extend_from_slice(r.norm_actions);
        out.per_item = r.per_item;
        Ok(())
    }
}
