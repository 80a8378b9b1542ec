//! The gate of training from logs: a fifth of the sessions is held out from
//! training; with several restarts, one half of it picks the restart with
//! the best doubly-robust lift and the other half judges that pick, so the
//! best of several noisy estimates is not judged on the data that chose it.
//! A blob ships only if its lift over the behaviour's return is above 0
//! (paired 95% interval) and the importance weights support the estimate.

use crate::ope::{evaluate, OpeConfig, OpeError, MIN_SUPPORT};
use crate::ranker::Ranker;
use crate::rl::TrainConfig;

/// The sessions held out from training: a fifth, by a hash of the id, the
/// same in every pass and every round.
pub fn held_out(session: &str) -> bool {
    crate::blob::crc32(session.as_bytes()) % 5 == 0
}

/// The held-out half that picks among restarts.
pub fn selection_half(session: &str) -> bool {
    let h = crate::blob::crc32(session.as_bytes());
    h % 5 == 0 && (h / 5) % 2 == 0
}

/// The held-out half that judges the pick.
pub fn judging_half(session: &str) -> bool {
    let h = crate::blob::crc32(session.as_bytes());
    h % 5 == 0 && (h / 5) % 2 == 1
}

/// What off-policy evaluation says of one blob on some held-out sessions.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Judgement {
    pub sessions: usize,
    pub ess: f64,
    pub behaviour_return: f64,
    /// DR lift over the behaviour's return, with its paired 95% interval.
    pub lift: f64,
    pub low: f64,
    pub high: f64,
    /// The importance weights' ESS reaches `MIN_SUPPORT` of the sessions.
    pub supported: bool,
}

impl Judgement {
    pub fn passes(&self) -> bool {
        self.supported && self.low > 0.0
    }
}

/// Judges `bytes` on the sessions of the log that `sessions` selects.
pub fn judge(pattern: &str, bytes: &[u8], cfg: &TrainConfig, sessions: fn(&str) -> bool) -> Result<Judgement, OpeError> {
    let mut ranker = Ranker::from_bytes(bytes).map_err(OpeError::Blob)?;
    let ope = OpeConfig { bootstrap: 200, seed: cfg.seed, train: cfg, fitted_q: true, sessions: Some(sessions) };
    let r = evaluate(pattern, &mut ranker, &ope)?;
    let lift = r.dr_lift.expect("fitted-Q on");
    let nan = f64::NAN;
    Ok(Judgement {
        sessions: r.sessions,
        ess: r.ess,
        behaviour_return: r.behaviour_return,
        lift: lift.value.unwrap_or(nan),
        low: lift.ci_low.unwrap_or(nan),
        high: lift.ci_high.unwrap_or(nan),
        supported: r.ess >= MIN_SUPPORT * r.sessions as f64,
    })
}
