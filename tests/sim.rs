//! The simulator: loader errors, no leakage, determinism, the leave model,
//! and that the committed simulator responds to ranking quality.
#![cfg(not(target_arch = "wasm32"))]

use std::io::Write;
use std::path::{Path, PathBuf};

use mtfuse::sim::data::{load_dir, DataError, COLUMNS};
use mtfuse::sim::{run_session, FeatureOracle, RandomPolicy, SortByScore};
use mtfuse::stats::{mean_ci, paired_lift};
use mtfuse::sim::fit::{fit, FitConfig};
use mtfuse::sim::{SimConfig, Simulator};
use mtfuse::sim::{Decision, Policy};
use mtfuse::{Columns, RequestError};

const COMMITTED: &[u8] = include_bytes!("../models/simulator.safetensors");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mtfuse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small synthetic log in the official format: 12 users × 30 items over
/// 6 days, labels from a fixed rule so the heads have something to learn.
fn fixture_rows() -> Vec<String> {
    let mut rows = Vec::new();
    for day in 0..6u32 {
        for user in 0..12u32 {
            for k in 0..8u32 {
                let item = (user * 7 + day * 5 + k * 3) % 30;
                let click = ((user + item + k) % 4 == 0) as u8;
                let lv = (click == 1 && item % 2 == 0) as u8;
                let like = (click == 1 && item % 9 == 0) as u8;
                let dur = 10_000 + item * 4_000;
                let play = if lv == 1 { dur * 9 / 10 } else { dur / 20 };
                let date = 20220501 + day;
                let hour = (user + k) % 24;
                let time = 1_651_334_400_000u64 + (day as u64) * 86_400_000 + (hour as u64) * 3_600_000 + k as u64;
                rows.push(format!("{user},{item},{date},{:02}00,{time},{click},{like},0,0,0,0,{lv},{play},{dur},0,0,0,1,1", hour));
            }
        }
    }
    rows
}

fn write_log(dir: &Path, rows: &[String]) -> PathBuf {
    let path = dir.join("log_fixture.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{}", COLUMNS.join(",")).unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
    path
}

fn small_sim() -> SimConfig {
    SimConfig { candidates: 20, shown: 4, ..Default::default() }
}

fn small_fit() -> FitConfig {
    FitConfig { split_date: 20220505, epochs: 3, ..Default::default() }
}

#[test]
fn loader_names_file_line_and_column() {
    let dir = temp_dir("loader");
    let mut rows = fixture_rows();
    let mut fields: Vec<String> = rows[2].split(',').map(String::from).collect();
    fields[5] = "7".into(); // is_click
    rows[2] = fields.join(",");
    let path = write_log(&dir, &rows);
    let err = load_dir(&dir, false).unwrap_err();
    assert!(matches!(err, DataError::BadRow { line: 4, column: "is_click", .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}:4: column is_click: expected 0 or 1 (value \"7\")", path.display())), "{msg}");

    // Skip mode counts the row and says why, rather than dropping it silently.
    let log = load_dir(&dir, true).unwrap();
    assert_eq!(log.skipped, 1);
    assert_eq!(log.rows.len(), rows.len() - 1);
    assert!(log.skipped_examples[0].contains(":4: column is_click"));

    // A short row and a bad date.
    let mut rows = fixture_rows();
    rows[5] = "1,2,3".into();
    write_log(&dir, &rows);
    let msg = load_dir(&dir, false).unwrap_err().to_string();
    assert!(msg.contains(":7: 3 fields, expected 19"), "{msg}");
    let mut rows = fixture_rows();
    rows[0] = rows[0].replacen("20220501", "20221341", 1);
    write_log(&dir, &rows);
    let msg = load_dir(&dir, false).unwrap_err().to_string();
    assert!(msg.contains(":2: column date: expected a date yyyymmdd"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn loader_rejects_a_foreign_header() {
    let dir = temp_dir("header");
    std::fs::write(dir.join("log_x.csv"), "a,b,c\n1,2,3\n").unwrap();
    let msg = load_dir(&dir, false).unwrap_err().to_string();
    assert!(msg.contains("header is [\"a\", \"b\", \"c\"]"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
    let empty = temp_dir("empty");
    assert!(matches!(load_dir(&empty, false).unwrap_err(), DataError::NoFiles(_)));
    std::fs::remove_dir_all(&empty).ok();
}

#[test]
fn features_do_not_see_held_out_days() {
    let dir = temp_dir("leak");
    let rows = fixture_rows();
    write_log(&dir, &rows);
    let (a, _) = fit(&load_dir(&dir, false).unwrap(), &small_fit(), small_sim()).unwrap();
    // Change every label and play time of one held-out row (date ≥ 20220505).
    let mut changed = rows.clone();
    let i = rows.iter().position(|r| r.contains(",20220506,")).unwrap();
    let mut f: Vec<String> = changed[i].split(',').map(String::from).collect();
    for c in [5, 6, 11] {
        f[c] = if f[c] == "0" { "1".into() } else { "0".into() };
    }
    f[12] = "99999".into();
    changed[i] = f.join(",");
    write_log(&dir, &changed);
    let (b, _) = fit(&load_dir(&dir, false).unwrap(), &small_fit(), small_sim()).unwrap();
    assert_eq!(a.user_features, b.user_features);
    assert_eq!(a.item_features, b.item_features);
    assert_eq!(a.features, b.features);
    assert_eq!(a.truth, b.truth, "the response model moved when a held-out row changed");
    // …while changing a training row does move them.
    let mut changed = rows.clone();
    let mut f: Vec<String> = changed[0].split(',').map(String::from).collect();
    f[5] = if f[5] == "0" { "1".into() } else { "0".into() };
    changed[0] = f.join(",");
    write_log(&dir, &changed);
    let (c, _) = fit(&load_dir(&dir, false).unwrap(), &small_fit(), small_sim()).unwrap();
    assert_ne!(a.user_features, c.user_features);
    // A pool smaller than the candidate count is an error, not a panic.
    let err = fit(&load_dir(&dir, false).unwrap(), &small_fit(), SimConfig::default()).unwrap_err();
    assert!(matches!(err, mtfuse::sim::fit::FitError::TooFewItems { items: 30, .. }), "{err}");
    assert!(err.to_string().contains("hold 30 items; sessions draw 50 candidates"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulator_round_trips_and_rejects_corruption() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    let again = sim.to_bytes();
    assert_eq!(Simulator::from_bytes(&again).unwrap(), sim);
    let mut bad = again.clone();
    let at = bad.len() - 10;
    bad[at] ^= 1;
    assert!(Simulator::from_bytes(&bad).unwrap_err().to_string().contains("crc32"));
    assert!(Simulator::from_bytes(&again[..again.len() / 2]).is_err());
}

#[test]
fn sessions_are_deterministic_under_a_seed() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    let run = |seed| {
        let mut log = Vec::new();
        let stats = run_session(&sim, &mut RandomPolicy::new(3), 5, seed, 0, Some(&mut log)).unwrap();
        (stats, log)
    };
    let (s1, l1) = run(42);
    let (s2, l2) = run(42);
    assert_eq!(s1, s2);
    assert_eq!(l1, l2);
    assert!(l1.last().unwrap().done && l1.iter().rev().skip(1).all(|t| !t.done));
    assert_eq!(l1[0].candidates.len(), 50);
    assert_eq!(l1[0].shown.len(), 6);
    let (s3, _) = run(43);
    assert_ne!(s1, s3, "a different seed gave the same session");
}

/// Shows the items the MTL model rates most (or least) likely to be watched
/// long: the worst lists keep earning less than the threshold.
struct ByLongView {
    best: bool,
}

impl Policy for ByLongView {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let key: Vec<f32> = cols.scores.chunks_exact(7).map(|s| if self.best { s[1] } else { -s[1] }).collect();
        mtfuse::fusion::top_k(&key, top, &mut out.order);
        out.actions.clear();
        Ok(())
    }
}

#[test]
fn disappointing_lists_end_sessions_sooner() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    let depth = |best| {
        let mut p = ByLongView { best };
        mean_ci((0..2000).map(|u| run_session(&sim, &mut p, u % sim.n_users(), 9, (u / sim.n_users()) as u64, None).unwrap().depth as f64))
    };
    let (good, gci) = depth(true);
    let (bad, bci) = depth(false);
    assert!(good - gci > bad + bci, "depth with good lists {good:.2}±{gci:.2} vs bad {bad:.2}±{bci:.2}");
}

/// Returns of 2,000 sessions on shared streams, so policies pair up.
fn paired_returns(sim: &Simulator, p: &mut dyn Policy) -> Vec<f64> {
    (0..2000).map(|s| run_session(sim, p, s % sim.n_users(), 1, (s / sim.n_users()) as u64, None).unwrap().ret).collect()
}

/// The `biased` variant: the committed simulator with the MTL model shifted
/// along item features (it differs from a biased fit only there).
fn biased() -> Simulator {
    let mut sim = Simulator::from_bytes(COMMITTED).unwrap();
    sim.mtl.miscalibration = mtfuse::sim::fit::BIASED_MTL_MISCALIBRATION;
    sim
}

/// The committed simulator tells rankings apart, on paired sessions: sorting
/// by the MTL long-view score (the signal the reward pays for) beats a random
/// order and beats sorting by the MTL click score. In the `biased` variant
/// the click sort even loses to a random order; in the calibrated one it
/// gains a little (+0.066 ± 0.040 when this was written).
#[test]
fn committed_simulator_responds_to_ranking_quality() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    let random = paired_returns(&sim, &mut RandomPolicy::new(1));
    let long_view = paired_returns(&sim, &mut SortByScore { objective: 1 });
    let click = paired_returns(&sim, &mut SortByScore { objective: 0 });
    let (lv_random, lv_click) = (paired_lift(&random, &long_view), paired_lift(&click, &long_view));
    eprintln!("sort by MTL long view: {:+.3} ± {:.3} over random, {:+.3} ± {:.3} over sort by click", lv_random.0, lv_random.1, lv_click.0, lv_click.1);
    assert!(lv_random.0 - lv_random.1 > 0.05, "sort by long view vs random: {lv_random:?}");
    assert!(lv_click.0 - lv_click.1 > 0.05, "sort by long view vs by click: {lv_click:?}");

    let sim = biased();
    let click = paired_lift(&paired_returns(&sim, &mut RandomPolicy::new(1)), &paired_returns(&sim, &mut SortByScore { objective: 0 }));
    assert!(click.0 + click.1 < -0.05, "biased: sort by click vs random: {click:?}");
}

/// The premise of the enhanced state inside the simulator: ranking by what
/// the features say about the truth beats the best single MTL score, paired,
/// in the calibrated simulator and more so in the biased one.
#[test]
fn feature_oracle_beats_the_best_mtl_sort() {
    let gain = |sim: &Simulator| {
        let oracle: Vec<f64> = (0..2000).map(|s| run_session(sim, &mut FeatureOracle::new(sim, s % sim.n_users()), s % sim.n_users(), 1, (s / sim.n_users()) as u64, None).unwrap().ret).collect();
        paired_lift(&paired_returns(sim, &mut SortByScore { objective: 1 }), &oracle)
    };
    let (calibrated, biased) = (gain(&Simulator::from_bytes(COMMITTED).unwrap()), gain(&biased()));
    eprintln!("oracle over sort by MTL long view: calibrated {:+.3} ± {:.3}, biased {:+.3} ± {:.3}", calibrated.0, calibrated.1, biased.0, biased.1);
    assert!(calibrated.0 - calibrated.1 > 0.0, "calibrated: {calibrated:?}");
    assert!(biased.0 - biased.1 > calibrated.0, "biased {biased:?} vs calibrated {calibrated:?}");
}

/// The committed simulator is the calibrated variant, and its fit report
/// says what models/README.md says of it: on the real held-out days the
/// response model ("truth") predicts click and long view no better than the
/// MTL model does (the truth's item ids and factors do not generalise). So
/// what the MTL model misses inside the simulator is the truth's own fit,
/// not a gap the log shows. Refitting must keep this true or the docs change.
#[test]
fn committed_simulator_is_calibrated_and_its_truth_is_no_better_on_held_out_days() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    assert_eq!(sim.mtl.miscalibration, [[0.0; 5]; 2]);
    assert_eq!(sim.truth.miscalibration, [[0.0; 5]; 2]);
    let signals = sim.report["fit"]["signals"].as_array().expect("fit report lists signals");
    for name in ["click", "long_view"] {
        let s = signals.iter().find(|s| s["signal"] == name).expect("signal in report");
        let (truth, mtl) = (s["logloss_truth"].as_f64().unwrap(), s["logloss_mtl"].as_f64().unwrap());
        assert!(mtl <= truth, "{name}: held-out log-loss truth {truth:.4} vs MTL {mtl:.4}");
    }
}

/// With attention decaying down the list, less is earned than with full
/// attention, and the same six items earn more shown best first than best last.
#[test]
fn attention_rewards_the_top_of_the_list() {
    struct Ordered {
        inner: ByLongView,
        reverse: bool,
    }
    impl Policy for Ordered {
        fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
            self.inner.decide(cols, top, out)?;
            if self.reverse {
                out.order.reverse();
            }
            Ok(())
        }
    }
    let mut sim = Simulator::from_bytes(COMMITTED).unwrap();
    let reward = |sim: &Simulator, reverse| {
        let mut p = Ordered { inner: ByLongView { best: true }, reverse };
        (0..2000).map(|s| run_session(sim, &mut p, s % sim.n_users(), 5, (s / sim.n_users()) as u64, None).unwrap().reward).sum::<f64>()
    };
    sim.config.attention = 0.7;
    let (first, last) = (reward(&sim, false), reward(&sim, true));
    assert!(first > last, "best first {first:.1} vs best last {last:.1}");
    sim.config.attention = 1.0;
    let full_first = reward(&sim, false);
    assert!(full_first > 1.5 * first, "full attention {full_first:.1} vs 0.7 attention {first:.1}");
}

/// Requests drawn from the simulator are what a client would send: they rank
/// with a blob trained on it, are the same under a seed, and differ across seeds.
#[test]
fn drawn_requests_rank_and_repeat_under_a_seed() {
    let sim = Simulator::from_bytes(COMMITTED).unwrap();
    let a = sim.draw_request(3, 20, 1, 5, 50, 17);
    assert_eq!(a.items.len(), 50);
    assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::to_value(sim.draw_request(3, 20, 1, 5, 50, 17)).unwrap());
    assert_ne!(serde_json::to_value(&a.items).unwrap(), serde_json::to_value(&sim.draw_request(3, 20, 1, 5, 50, 18).items).unwrap());
    let blob = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/enhanced.safetensors")).unwrap();
    let ranked = mtfuse::Ranker::from_bytes(&blob).unwrap().rank(&a).unwrap();
    assert_eq!(ranked.len(), 50);
    assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
}

/// The `interactions` variant gives the truth's click and long-view heads
/// per-user weights on the item features, which move its responses and
/// survive the file round trip; the MTL model gets none, and a simulator
/// without them writes no such tensors, so its file keeps its bytes.
#[test]
fn interactions_are_per_user_item_weights_of_the_truth_only() {
    let dir = temp_dir("interactions");
    write_log(&dir, &fixture_rows());
    let log = load_dir(&dir, false).unwrap();
    let (plain, _) = fit(&log, &small_fit(), small_sim()).unwrap();
    let (with, _) = fit(&log, &FitConfig { interactions: true, ..small_fit() }, small_sim()).unwrap();
    let users = with.user_ids.len();
    for head in [&with.truth.click, &with.truth.long_view_given_click] {
        assert_eq!(head.user_item.len(), users * 5);
        assert!(head.user_item.iter().any(|&w| w.abs() > 1e-4));
    }
    assert!(with.truth.like_given_click.user_item.is_empty());
    for head in [&with.mtl.click, &with.mtl.long_view_given_click, &with.mtl.like_given_click, &plain.truth.click] {
        assert!(head.user_item.is_empty());
    }
    assert_ne!(with.truth.click, plain.truth.click);
    let bytes = with.to_bytes();
    assert_eq!(Simulator::from_bytes(&bytes).unwrap().truth, with.truth);
    assert!(String::from_utf8_lossy(&bytes).contains("truth.click.user_item"));
    assert!(!String::from_utf8_lossy(&plain.to_bytes()).contains("user_item"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The unseen-user split is a fixed partition: every user on exactly one
/// side, about a quarter unseen.
#[test]
fn user_split_partitions_users() {
    use mtfuse::sim::data::UserSplit;
    let unseen = (0..10_000u32).filter(|&u| UserSplit::Unseen.keeps(u)).count();
    assert!((2300..2700).contains(&unseen), "{unseen}");
    assert!((0..10_000u32).all(|u| UserSplit::Train.keeps(u) != UserSplit::Unseen.keeps(u) && UserSplit::All.keeps(u)));
}
