//! The behaviour policy that collects training data: the current policy plus
//! uniform noise in the normalised action space, so the logged actions cover
//! a box around it that the critics can then judge.

use rand::rngs::StdRng;

use crate::error::RequestError;
use crate::exploration::ExploreSpec;
use crate::ranker::{Columns, Ranker};
use crate::rl::export::{A, K};
use crate::sim::{Decision, Policy};

/// The current policy plus `U(−explore, explore)` per normalised action
/// dimension, drawn once per request (or per item, with `per_item`): the
/// serving ranker's exploration ([`crate::exploration`]) as a simulator policy.
pub struct Explore<'a> {
    pub inner: &'a mut Ranker,
    pub explore: f32,
    /// Draw ε per item (every candidate gets its own action) instead of per request.
    pub per_item: bool,
    pub rng: StdRng,
}

impl<'a> Explore<'a> {
    pub fn new(inner: &'a mut Ranker, explore: f32, rng: StdRng) -> Explore<'a> {
        Explore { inner, explore, per_item: false, rng }
    }
}

impl Policy for Explore<'_> {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let n = cols.scores.len() / K;
        let spec = ExploreSpec::new(self.explore, self.per_item)?;
        let r = self.inner.rank_columns_explored(cols, top, spec, &mut self.rng)?;
        out.base.clear();
        for j in 0..n {
            out.base.extend_from_slice(if r.per_item { &r.norm_actions[j * A..(j + 1) * A] } else { &r.norm_actions[..A] });
        }
        let taken = r.explored.as_ref().expect("an explored ranking");
        out.actions.clear();
        out.actions.extend_from_slice(taken.taken);
        out.per_item = taken.per_item;
        out.order.clear();
        out.order.extend_from_slice(r.order);
        Ok(())
    }
}

/// Distance of `a` outside the box `[c − e, c + e]`, per dimension.
pub fn excess(a: f32, c: f32, e: f32) -> f32 {
    ((a - c).abs() - e).max(0.0)
}

/// The paper's φ: 1 inside the box around the behaviour action `centre`,
/// decaying as `exp(−κ·dist)` outside it, so the TD target trusts the critics
/// only where the logged data can judge an action.
pub fn phi(action: &[f32], centre: &[f32], explore: f32, kappa: f32) -> f32 {
    let d: f32 = action.iter().zip(centre).map(|(&a, &c)| excess(a, c, explore).powi(2)).sum::<f32>().sqrt();
    (-kappa * d).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::static_ranker;
    use crate::rl::testing::{sim, tiny};
    use crate::sim::run_session;

    #[test]
    fn phi_is_one_inside_the_box_and_decays_outside() {
        let c = [0.1f32; A];
        assert_eq!(phi(&[0.2; A], &c, 0.15, 5.0), 1.0);
        let mut a = [0.1f32; A];
        a[3] = 0.1 + 0.15 + 0.2;
        assert!((phi(&a, &c, 0.15, 5.0) - (-5.0f32 * 0.2).exp()).abs() < 1e-5);
        assert_eq!(excess(-0.3, 0.0, 0.15), 0.15);
    }

    /// One session's log under the static action 0.2 with exploration ±0.15.
    fn explored_session(per_item: bool) -> Vec<crate::sim::Transition> {
        let sim = sim();
        let mut r = static_ranker(&sim, &[0.2f32; A], &tiny(), serde_json::Value::Null).unwrap();
        let mut explore = Explore::new(&mut r, 0.15, rand::SeedableRng::seed_from_u64(4));
        explore.per_item = per_item;
        let mut log = Vec::new();
        run_session(&sim, &mut explore, 0, 1, 0, Some(&mut log)).unwrap();
        log
    }

    #[test]
    fn exploration_stays_in_the_box() {
        let actions: Vec<f32> = explored_session(false).iter().flat_map(|t| t.actions.iter().copied()).collect();
        assert!(!actions.is_empty());
        assert!(actions.iter().all(|a| (a - 0.2).abs() <= 0.15 + 1e-6));
        assert!(actions.iter().any(|a| (a - 0.2).abs() > 0.05), "no exploration happened");
        // The log keeps the centre of the box: the policy's action before the noise.
        let log = explored_session(false);
        assert_eq!(log[0].base.len(), log[0].actions.len());
        assert!(log[0].base.iter().all(|&b| (b - 0.2).abs() < 1e-6), "{:?}", &log[0].base[..4]);
    }

    #[test]
    fn exploration_per_item_gives_each_shown_item_its_own_action() {
        let log = explored_session(true);
        let all: Vec<&[f32]> = log[0].actions.chunks_exact(A).collect();
        assert_eq!(all.len(), log[0].candidates.len());
        let rows: Vec<&[f32]> = log[0].shown.iter().map(|&p| all[p as usize]).collect();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().flat_map(|r| r.iter()).all(|a| (a - 0.2).abs() <= 0.15 + 1e-6));
        assert!(rows.windows(2).all(|w| w[0] != w[1]), "shown items share an action");
    }
}
