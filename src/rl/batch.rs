//! A round's log as the learner sees it (`LoggedList`: one per request) and
//! the minibatches drawn from it: the pairs of a batch of lists (`Batch`)
//! and the pairs of the lists that followed them (`NextBatch`).

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::Rng;

use crate::fusion::ActionSpace;
use crate::rl::export::{A, K};
use crate::rl::margin::{logged_margins, margin_feature, target_margins};
use crate::rl::net::{rows, Mlp};
use crate::rl::state::pair_states;
use crate::schema::{PolicyKind, Schema};
use crate::sim::{Response, Simulator, Transition};

/// One logged request.
pub struct LoggedList {
    /// Normalised states of the pairs (enhanced: every candidate; user-level: the request).
    pub states: Vec<Vec<f32>>,
    /// Logged normalised actions, one per state.
    pub actions: Vec<Vec<f32>>,
    /// The behaviour policy's action before noise: the centre of the box.
    pub centres: Vec<Vec<f32>>,
    /// Indices into `states` of the shown pairs, and of the others.
    pub shown: Vec<usize>,
    pub unshown: Vec<usize>,
    /// List reward per critic group.
    pub rewards: [f32; 2],
    /// The next list of the same session; `None` when this one ended it.
    pub next: Option<usize>,
    /// Margin critic only: raw MTL scores (`candidates × k`), and each
    /// candidate's cut-off and margin under the logged actions.
    pub scores: Vec<f32>,
    pub cuts: Vec<f32>,
    pub margins: Vec<f32>,
}

impl LoggedList {
    /// The pairs a batch takes from this list, with their weights in the
    /// list's sum of Q: every shown pair, and up to `unshown` of the others
    /// drawn at random, each standing for its share of all of them.
    pub fn pairs(&self, unshown: usize, rng: &mut StdRng) -> Vec<(usize, f32)> {
        let mut out: Vec<(usize, f32)> = self.shown.iter().map(|&p| (p, 1.0)).collect();
        let n = unshown.min(self.unshown.len());
        if n > 0 {
            let w = self.unshown.len() as f32 / n as f32;
            out.extend(rand::seq::index::sample(rng, self.unshown.len(), n).into_iter().map(|i| (self.unshown[i], w)));
        }
        out
    }
}

/// Reward of one response split into group A (long view, watch time, click) and B (interactions).
fn group_rewards(r: &Response, sim: &Simulator) -> [f32; 2] {
    let w = &sim.config.reward;
    let a = w.signals[0] * r.signals[0] as f32 + w.signals[1] * r.signals[1] as f32 + w.play_s * r.play_s;
    let b = (2..7).map(|s| w.signals[s] * r.signals[s] as f32).sum();
    [a, b]
}

/// A round's log as lists. The box centres are the behaviour policy's
/// actions: `centre_net`'s, or `baseline` for every pair when it is `None`.
/// With `margin_space`, lists carry the logged margins too.
pub fn logged_lists(sim: &Simulator, schema: &Schema, log: &[Transition], baseline: &[f32], centre_net: Option<&Mlp>, margin_space: Option<&ActionSpace>) -> Vec<LoggedList> {
    let enhanced = schema.kind == PolicyKind::Enhanced;
    log.iter()
        .enumerate()
        .map(|(i, t)| {
            let states = pair_states(sim, schema, t);
            let actions: Vec<Vec<f32>> = if enhanced { t.actions.chunks_exact(A).map(|a| a.to_vec()).collect() } else { vec![t.actions[..A].to_vec()] };
            let (shown, unshown) = if enhanced {
                let shown: Vec<usize> = t.shown.iter().map(|&p| p as usize).collect();
                let unshown = (0..states.len()).filter(|p| !shown.contains(p)).collect();
                (shown, unshown)
            } else {
                (vec![0], vec![])
            };
            let centres = match centre_net {
                None => vec![baseline.to_vec(); states.len()],
                Some(net) => net.predict(&rows(&states.iter().collect::<Vec<_>>())).rows().into_iter().map(|r| r.to_vec()).collect(),
            };
            let mut rewards = [0.0f32; 2];
            for r in &t.responses {
                let g = group_rewards(r, sim);
                rewards[0] += g[0];
                rewards[1] += g[1];
            }
            let (cuts, margins) = margin_space.map_or((vec![], vec![]), |space| logged_margins(space, t));
            let scores = if margin_space.is_some() { t.scores.clone() } else { vec![] };
            LoggedList { states, actions, centres, shown, unshown, rewards, next: (!t.done).then_some(i + 1), scores, cuts, margins }
        })
        .collect()
}

/// The pairs of a minibatch of lists, grouped by list (`owner`), with their
/// weights in the list's sum of Q.
pub struct Batch<'a> {
    /// The lists drawn, by index into the round's lists.
    pub lists: Vec<usize>,
    pub owner: Vec<usize>,
    pub weight: Vec<f32>,
    pub states: Array2<f32>,
    pub actions: Array2<f32>,
    pub centres: Array2<f32>,
    /// Margin critic only: each pair's logged margin feature, cut-off and scores.
    pub margins: Vec<f32>,
    pub cuts: Vec<f32>,
    pub scores: Vec<&'a [f32]>,
}

impl<'a> Batch<'a> {
    /// Draws `size` lists with replacement and takes their pairs.
    pub fn draw(lists: &'a [LoggedList], size: usize, unshown: usize, margin_scale: Option<f32>, rng: &mut StdRng) -> Batch<'a> {
        let drawn: Vec<usize> = (0..size).map(|_| rng.random_range(0..lists.len())).collect();
        let (mut owner, mut weight) = (Vec::new(), Vec::new());
        let (mut st, mut ac, mut ce) = (Vec::new(), Vec::new(), Vec::new());
        let (mut margins, mut cuts, mut scores) = (Vec::new(), Vec::new(), Vec::new());
        for (bi, &i) in drawn.iter().enumerate() {
            let l = &lists[i];
            for (p, w) in l.pairs(unshown, rng) {
                owner.push(bi);
                weight.push(w);
                st.push(&l.states[p]);
                ac.push(&l.actions[p]);
                ce.push(&l.centres[p]);
                if let Some(scale) = margin_scale {
                    margins.push(margin_feature(l.margins[p], scale));
                    cuts.push(l.cuts[p]);
                    scores.push(&l.scores[p * K..(p + 1) * K]);
                }
            }
        }
        Batch { lists: drawn, owner, weight, states: rows(&st), actions: rows(&ac), centres: rows(&ce), margins, cuts, scores }
    }

    /// Pairs in the batch.
    pub fn pairs(&self) -> usize {
        self.owner.len()
    }
}

/// The pairs of the lists that followed a batch's lists, for the TD target.
pub struct NextBatch {
    pub owner: Vec<usize>,
    /// Where each row comes from: (list, pair).
    pub origin: Vec<(usize, usize)>,
    pub weight: Vec<f32>,
    pub states: Array2<f32>,
    pub centres: Array2<f32>,
    /// Margin critic only: margin features under the target actor.
    pub margins: Vec<f32>,
}

/// What the margin critic needs to build next-list margins: the target
/// actor, the action space and the tanh's scale.
pub struct TargetMargin<'a> {
    pub actor_t: &'a Mlp,
    pub space: &'a ActionSpace,
    pub scale: f32,
}

impl NextBatch {
    /// The next lists' pairs of `batch`, one draw of unshown pairs per list.
    pub fn draw(lists: &[LoggedList], batch: &Batch, unshown: usize, margin: Option<&TargetMargin>, rng: &mut StdRng) -> NextBatch {
        let (mut owner, mut weight, mut st, mut ce, mut margins) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut origin = Vec::new();
        for (bi, &i) in batch.lists.iter().enumerate() {
            let Some(n) = lists[i].next else { continue };
            let next = &lists[n];
            let pairs = next.pairs(unshown, rng);
            if let Some(m) = margin {
                margins.extend(target_margins(m.actor_t, m.space, &next.states, &next.scores, next.shown.len(), &pairs, m.scale));
            }
            for (p, w) in pairs {
                owner.push(bi);
                origin.push((n, p));
                weight.push(w);
                st.push(&next.states[p]);
                ce.push(&next.centres[p]);
            }
        }
        NextBatch { owner, origin, weight, states: rows(&st), centres: rows(&ce), margins }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_batch_takes_every_shown_pair_and_weights_the_unshown_ones() {
        let list = LoggedList { states: vec![vec![0.0]; 10], actions: vec![], centres: vec![], shown: vec![7, 2, 4], unshown: vec![0, 1, 3, 5, 6, 8, 9], rewards: [0.0; 2], next: None, scores: vec![], cuts: vec![], margins: vec![] };
        let mut rng = StdRng::seed_from_u64(3);
        let pairs = list.pairs(2, &mut rng);
        assert_eq!(&pairs[..3], &[(7, 1.0), (2, 1.0), (4, 1.0)]);
        assert_eq!(pairs.len(), 5);
        for &(p, w) in &pairs[3..] {
            assert!(list.unshown.contains(&p));
            assert_eq!(w, 3.5, "2 drawn stand for 7 unshown");
        }
        assert_ne!(pairs[3].0, pairs[4].0);
        // Asking for more than there are takes each once; 0 takes none.
        let all = list.pairs(50, &mut rng);
        assert_eq!(all.len(), 10);
        assert!(all[3..].iter().all(|&(_, w)| w == 1.0));
        assert_eq!(list.pairs(0, &mut rng).len(), 3);
    }

    /// A batch groups its pairs by list, and the next batch holds the pairs
    /// of exactly the drawn lists that have a successor.
    #[test]
    fn next_pairs_follow_only_lists_that_did_not_end_the_session() {
        let list = |next, v: f32| LoggedList { states: vec![vec![v, v]; 3], actions: vec![vec![v; A]; 3], centres: vec![vec![0.0; A]; 3], shown: vec![0, 1], unshown: vec![2], rewards: [v, 0.0], next, scores: vec![], cuts: vec![], margins: vec![] };
        let lists = vec![list(Some(1), 1.0), list(None, 2.0)];
        let mut rng = StdRng::seed_from_u64(8);
        let batch = Batch::draw(&lists, 16, 1, None, &mut rng);
        assert_eq!(batch.pairs(), 16 * 3);
        assert_eq!(batch.states.nrows(), batch.pairs());
        assert!(batch.owner.windows(2).all(|w| w[0] <= w[1]));
        let next = NextBatch::draw(&lists, &batch, 1, None, &mut rng);
        let with_next = batch.lists.iter().filter(|&&i| i == 0).count();
        assert!(with_next > 0 && with_next < 16, "both kinds of list drawn: {:?}", batch.lists);
        assert_eq!(next.owner.len(), 3 * with_next);
        // Every next pair is list 1's (state value 2), owned by a batch slot that drew list 0.
        assert!(next.states.iter().all(|&v| v == 2.0));
        assert!(next.owner.iter().all(|&bi| batch.lists[bi] == 0));
    }
}
