//! `mtfuse log import`'s own checks, beyond each line's: every session
//! complete and in sequence, and a reward spec that fits the blob. Each
//! error names the file, line and session, and no log is left behind.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use mtfuse::exploration::ExploreSpec;
use mtfuse::logs::import::{import_ndjson, log_schema, RewardSpec};
use mtfuse::logs::LogError;
use mtfuse::Ranker;
use serde_json::{json, Value};

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn reward() -> RewardSpec {
    serde_json::from_str(&std::fs::read_to_string(root("models/reward.json")).unwrap()).unwrap()
}

/// Log lines of `sessions` sessions of `requests` requests served by the static blob.
fn lines(ranker: &mut Ranker, sessions: usize, requests: u32) -> Vec<Value> {
    let sim = mtfuse::sim::Simulator::from_bytes(&std::fs::read(root("models/simulator.safetensors")).unwrap()).unwrap();
    let mut out = Vec::new();
    for s in 0..sessions {
        for t in 0..requests {
            let mut req = sim.draw_request(s, 20, 1, 3, 12, (s * 10) as u64 + t as u64);
            req.top_k = Some(3);
            let ex = ranker.rank_explored(&req, ExploreSpec::new(0.15, false).unwrap(), 7).unwrap();
            let responses: Vec<Value> = (0..3).map(|_| json!({"signals": {"click": 1, "long_view": 0, "like": 0, "follow": 0, "comment": 0, "forward": 0, "hate": 0}, "playS": 4.0})).collect();
            let r = serde_json::to_value(&req).unwrap();
            out.push(json!({"session": format!("s{s}"), "request": t, "timestampMs": 1000 * s as i64 + t as i64, "done": t + 1 == requests, "user": r["user"], "context": r["context"], "items": r["items"], "record": ex.record, "responses": responses}));
        }
    }
    out
}

fn import(name: &str, lines: &[Value], ranker: &Ranker) -> (Result<mtfuse::logs::ImportSummary, LogError>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("mtfuse-import-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("lines.ndjson");
    std::fs::write(&input, lines.iter().map(|l| l.to_string() + "\n").collect::<String>()).unwrap();
    let out = dir.join("log.parquet");
    let schema = log_schema(ranker.schema(), &ranker.blob().actions, &reward()).unwrap();
    (import_ndjson(&[input], ranker.schema(), schema, &out), out)
}

#[test]
fn sessions_in_any_order_import_and_broken_sequences_are_named() {
    let mut ranker = Ranker::from_bytes(&std::fs::read(root("models/static.safetensors")).unwrap()).unwrap();
    let good = lines(&mut ranker, 2, 3);
    // Interleaved and reversed: the importer groups and sorts.
    let shuffled: Vec<Value> = good.iter().rev().cloned().collect();
    let (r, out) = import("good", &shuffled, &ranker);
    let s = r.unwrap();
    assert_eq!((s.lines, s.sessions, s.rows), (6, 2, 6 * 12));
    assert_eq!(mtfuse::logs::read_logs(out.to_str().unwrap()).unwrap().requests.len(), 6);

    type Spoil = Box<dyn Fn(&mut Vec<Value>)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        ("no-done", Box::new(|l| l[2]["done"] = json!(false)), "its last request 2 is not done: the session is incomplete"),
        ("early-done", Box::new(|l| l[0]["done"] = json!(true)), "request 0 is done, but the session goes on to request 2"),
        ("gap", Box::new(|l| drop(l.remove(1))), "request 1 is missing (the next is 2)"),
        ("twice", Box::new(|l| l[1]["request"] = json!(0)), "request 0 is logged twice"),
    ];
    for (name, spoil, want) in cases {
        let mut l = good.clone();
        spoil(&mut l);
        let (r, out) = import(name, &l, &ranker);
        let e = r.expect_err(name);
        assert!(matches!(e, LogError::BadSession { .. }), "{name}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("session \"s0\"") && msg.contains(want) && msg.contains("lines.ndjson: line "), "{name}: {msg}");
        assert!(!out.exists() && !out.with_extension("parquet.partial").exists(), "{name}: a log was left behind");
    }
}

#[test]
fn a_reward_spec_that_does_not_fit_the_blob_is_refused() {
    let ranker = Ranker::from_bytes(&std::fs::read(root("models/static.safetensors")).unwrap()).unwrap();
    type Spoil = Box<dyn Fn(&mut RewardSpec)>;
    let cases: Vec<(Spoil, &str)> = vec![
        (Box::new(|r| {
            r.reward.insert("share".into(), 1.0);
        }), "reward names \"share\", which is not an objective of the blob"),
        (Box::new(|r| {
            r.reward.remove("like");
        }), "reward has no weight for objective \"like\""),
        (Box::new(|r| r.gamma = 1.0), "gamma in [0, 1), got gamma 1"),
        (Box::new(|r| r.reward_play_s = f32::NAN), "weights must be finite"),
        (Box::new(|r| r.group_a = vec!["watch".into()]), "group_a names \"watch\", which is not an objective"),
    ];
    for (spoil, want) in cases {
        let mut r = reward();
        spoil(&mut r);
        let e = log_schema(ranker.schema(), &ranker.blob().actions, &r).unwrap_err();
        assert!(matches!(e, LogError::Reward(_)) && e.to_string().contains(want), "{e}");
    }
}
