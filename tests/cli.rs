//! The CLI end to end: a clear message on stderr and a non-zero exit for
//! bad input, never a panic, and the yardstick policy runs.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn mtfuse(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtfuse")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn fit_sim_rejects_a_miscalibration_of_the_wrong_length() {
    let (ok, err) = mtfuse(&["fit-sim", "--data", "tests/fixtures", "--out", "/dev/null", "--mtl-miscalibration=0.1,0.2,0.3"]);
    assert!(!ok);
    assert!(err.contains("--mtl-miscalibration takes 10 numbers (5 item features for click, then for long view); got 3"), "{err}");
}

#[test]
fn probe_rejects_a_blob_that_is_not_static() {
    let (ok, err) = mtfuse(&["probe", "models/enhanced.safetensors", "--sessions", "10"]);
    assert!(!ok);
    assert!(err.contains("models/enhanced.safetensors: not a static blob"), "{err}");
}

#[test]
fn plot_names_the_bad_line_of_a_metrics_log() {
    let dir = std::env::temp_dir().join(format!("mtfuse-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.metrics.jsonl");
    std::fs::write(&path, "{\"algo\":\"static\",\"iteration\":0}\n{not json\n").unwrap();
    let (ok, err) = mtfuse(&["plot", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.metrics.jsonl:2: not a JSON metrics line"), "{err}");
}

#[test]
fn simulate_runs_the_oracle_and_names_an_unknown_objective() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtfuse")).args(["simulate", "--policy", "oracle", "--sessions", "20"]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("policy oracle over 20 sessions"), "{text}");
    let ret: f64 = text.lines().find_map(|l| l.strip_prefix("return")).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(ret > 0.0, "{text}");
    let (ok, err) = mtfuse(&["simulate", "--policy", "sort:clicks", "--sessions", "5"]);
    assert!(!ok);
    assert!(err.contains("unknown objective \"clicks\""), "{err}");
}

/// The production loop on the simulator: serve with exploration and log,
/// train from the log alone, and get a blob the ranker loads.
#[test]
fn simulate_writes_a_log_that_train_learns_from() {
    let dir = std::env::temp_dir().join(format!("mtfuse-cli-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("round0.parquet");
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_mtfuse")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let out = run(&["simulate", "--policy", "models/static.safetensors", "--explore", "0.15", "--sessions", "30", "--log", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("rows, 30 sessions"), "{said}");
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, "updates_per_round = 40\ncritic_warmup = 10\nbatch = 8\nactor_hidden = [8]\ncritic_hidden = [8]\nensemble = 2\ngate = false\n").unwrap();
    let blob = dir.join("enhanced.safetensors");
    let out = run(&["train", "--log", dir.join("*.parquet").to_str().unwrap(), "--algo", "enhanced", "--config", cfg.to_str().unwrap(), "--out", blob.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ranker = mtfuse::Ranker::from_bytes(&std::fs::read(&blob).unwrap()).unwrap();
    assert_eq!(ranker.kind(), mtfuse::PolicyKind::Enhanced);
    assert_eq!(ranker.blob().meta.summary["source"], mtfuse::json::Json::Str("log".into()));

    // The static search from logs scores candidates by importance sampling.
    let static_blob = dir.join("static.safetensors");
    let out = run(&["train", "--log", log.to_str().unwrap(), "--algo", "static", "--config", cfg.to_str().unwrap(), "--out", static_blob.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ranker = mtfuse::Ranker::from_bytes(&std::fs::read(&static_blob).unwrap()).unwrap();
    assert_eq!(ranker.kind(), mtfuse::PolicyKind::Static);
    assert!(matches!(ranker.blob().meta.summary["kept_search"], mtfuse::json::Json::Bool(_)), "{}", ranker.blob().meta.summary);
    let (ok, err) = mtfuse(&["simulate", "--policy", "models/static.safetensors", "--sessions", "2", "--log", log.to_str().unwrap(), "--explore", "2"]);
    assert!(!ok && err.contains("--explore: 2 is not a half-width in [0, 1]"), "{err}");
    let (ok, err) = mtfuse(&["simulate", "--policy", "models/static.safetensors", "--sessions", "2", "--explore", "0.1"]);
    assert!(!ok && err.contains("--explore and --per-item apply to --log and --raw-events runs"), "{err}");
    let (ok, err) = mtfuse(&["train", "--log", dir.join("missing.parquet").to_str().unwrap(), "--algo", "enhanced", "--out", "/dev/null"]);
    assert!(!ok && err.contains("no files match") && err.contains("missing.parquet"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Off-policy evaluation on a log the static policy explored with: the
/// behaviour itself gets weight 1 everywhere (PDWIS is the log's own return,
/// every session counts); an enhanced policy has no support under
/// per-request noise, so PDWIS reports none and the doubly-robust estimate
/// is exactly fitted-Q's; a blob whose features the log lacks is refused.
#[test]
fn ope_reproduces_the_behaviour_and_falls_back_to_fitted_q_without_support() {
    let dir = std::env::temp_dir().join(format!("mtfuse-cli-ope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.parquet");
    let (ok, err) = mtfuse(&["simulate", "--policy", "models/static.safetensors", "--explore", "0.15", "--sessions", "40", "--log", log.to_str().unwrap()]);
    assert!(ok, "{err}");
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, "updates_per_round = 30\nbatch = 8\ncritic_hidden = [8]\nensemble = 2\n").unwrap();
    let report = dir.join("ope.json");
    let ope = |policy: &str| -> serde_json::Value {
        let (ok, err) = mtfuse(&["ope", "--log", log.to_str().unwrap(), "--policy", policy, "--bootstrap", "50", "--config", cfg.to_str().unwrap(), "--out", report.to_str().unwrap()]);
        assert!(ok, "{err}");
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
    };
    let r = ope("models/static.safetensors");
    let (v, b) = (r["pdwis"]["value"].as_f64().unwrap(), r["behaviour_return"].as_f64().unwrap());
    assert!((v - b).abs() < 1e-9, "{v} vs {b}");
    assert_eq!(r["ess"].as_f64().unwrap(), 40.0);
    assert!(r["pdwis"]["ci_low"].as_f64().unwrap() <= v && v <= r["pdwis"]["ci_high"].as_f64().unwrap());
    assert!(r["fqe"]["value"].as_f64().unwrap().is_finite() && r["dr"]["value"].as_f64().unwrap().is_finite(), "{r}");
    let r = ope("models/enhanced.safetensors");
    assert!(r["pdwis"]["value"].is_null() && r["ess"].as_f64() == Some(0.0), "{r}");
    assert_eq!(r["dr"]["value"], r["fqe"]["value"], "{r}");
    let random = dir.join("random.safetensors");
    assert!(mtfuse(&["random-blob", "--kind", "static", "--out", random.to_str().unwrap()]).0);
    let (ok, err) = mtfuse(&["ope", "--log", log.to_str().unwrap(), "--policy", random.to_str().unwrap(), "--no-fitted-q"]);
    assert!(!ok && err.contains("which the log does not have"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The OPE gate of `train --log`: the trained blob ships only if its
/// doubly-robust lift over the behaviour's return on the held-out sessions
/// is above 0 (paired 95% interval); otherwise `--behaviour` ships, and
/// without it the command fails saying why. What it printed, what it wrote
/// and what its metrics record must agree.
#[test]
fn train_from_log_is_gated_by_off_policy_evaluation() {
    let dir = std::env::temp_dir().join(format!("mtfuse-cli-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.parquet");
    assert!(mtfuse(&["simulate", "--policy", "models/static.safetensors", "--explore", "0.15", "--sessions", "60", "--log", log.to_str().unwrap()]).0);
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, "updates_per_round = 30\ncritic_warmup = 10\nbatch = 8\nactor_hidden = [8]\ncritic_hidden = [8]\nensemble = 2\n").unwrap();
    let out = dir.join("round1.safetensors");
    let (ok, err) = mtfuse(&["train", "--log", log.to_str().unwrap(), "--algo", "enhanced", "--config", cfg.to_str().unwrap(), "--behaviour", "models/static.safetensors", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let metrics = std::fs::read_to_string(out.with_extension("metrics.jsonl")).unwrap();
    let gate: serde_json::Value = metrics.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|m| m["gate"] == "ope").expect("a gate record");
    let kept = gate["kept"].as_bool().unwrap();
    let ope = &gate["ope"];
    assert_eq!(kept, ope["low"].as_f64().unwrap() > 0.0 && ope["supported"].as_bool().unwrap(), "{gate}");
    // Three restarts, each scored on the selection half; the pick is judged on the other half.
    let picks: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).filter(|m| m["gate"] == "ope-selection").collect();
    assert_eq!(picks.len(), 3, "{metrics}");
    let best = picks.iter().max_by(|x, y| x["judgement"]["lift"].as_f64().unwrap().total_cmp(&y["judgement"]["lift"].as_f64().unwrap())).unwrap();
    assert_eq!(best["restart"], gate["restart"]);
    assert!(ope["sessions"].as_u64().unwrap() > 0 && ope["sessions"].as_u64().unwrap() < 60 / 5 + 10, "{gate}");
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written == std::fs::read("models/static.safetensors").unwrap(), !kept);
    assert!(err.contains(if kept { "keeping the trained blob" } else { "shipping the behaviour" }), "{err}");
    // The simulator's gate decides instead when asked, with OPE reported beside it.
    let (ok, err) = mtfuse(&["train", "--log", log.to_str().unwrap(), "--algo", "enhanced", "--config", cfg.to_str().unwrap(), "--behaviour", "models/static.safetensors", "--gate-sim", "--out", out.to_str().unwrap()]);
    assert!(ok && err.contains("simulator gate (2000 paired sessions)") && err.contains("OPE gate on"), "{err}");
    let rejected = out.with_extension("rejected.safetensors");
    assert_eq!(rejected.exists(), !kept);
    if !kept {
        assert_eq!(mtfuse::Ranker::from_bytes(&std::fs::read(&rejected).unwrap()).unwrap().kind(), mtfuse::PolicyKind::Enhanced);
        let (ok, err) = mtfuse(&["train", "--log", log.to_str().unwrap(), "--algo", "enhanced", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(!ok && err.contains("the gate rejected the trained blob"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The recalibrated baseline: `train --algo recalibrated` writes a JSON
/// policy file, `eval` takes it beside blobs, and a file that is not one is
/// named.
#[test]
fn recalibrated_baseline_trains_and_evaluates_beside_blobs() {
    let dir = std::env::temp_dir().join(format!("mtfuse-cli-recal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, "rounds = 1\nsessions_per_round = 60\nes_iterations = 2\nes_population = 4\nes_elite = 2\nes_sessions = 20\n").unwrap();
    let policy = dir.join("recalibrated.json");
    let (ok, err) = mtfuse(&["train", "--algo", "recalibrated", "--config", cfg.to_str().unwrap(), "--baseline", "models/static.safetensors", "--out", policy.to_str().unwrap()]);
    assert!(ok, "{err}");
    let out = dir.join("eval.json");
    let (ok, err) = mtfuse(&["eval", "--sessions", "20", "--policies", "models/static.safetensors", policy.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let names: Vec<&str> = rows["simulated_ab"].as_array().unwrap().iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["static", "recalibrated"]);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"action\": []}").unwrap();
    let (ok, err) = mtfuse(&["eval", "--sessions", "5", "--policies", "models/static.safetensors", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.json: not a recalibrated policy file"), "{err}");
    let (ok, err) = mtfuse(&["train", "--algo", "recalibrated", "--log", "x.parquet", "--out", policy.to_str().unwrap()]);
    assert!(!ok && err.contains("--algo recalibrated trains in the simulator only"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
