//! Exploration while serving and the log lines apps send: the record an
//! exploring rank returns, and every way a log line can be wrong.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use mtfuse::exploration::{ExploreOptions, ExploreSpec};
use mtfuse::log_line::LogLine;
use mtfuse::{RankRequest, Ranker, RequestErrorKind};
use serde_json::{json, Value};

fn request() -> RankRequest {
    RankRequest::from_json_text(&request_json().to_string()).unwrap()
}

#[test]
fn exploring_rank_records_the_box_and_a_seed_reproduces_it() {
    let bytes = enhanced_bytes();
    let mut r = Ranker::from_bytes(&bytes).unwrap();
    let req = request();
    let n = req.items.len();
    let spec = ExploreSpec::new(0.3, true).unwrap();
    let a = r.rank_explored(&req, spec, 11).unwrap();
    let b = r.rank_explored(&req, spec, 11).unwrap();
    assert_eq!(a.record, b.record);
    assert_eq!(a.items, b.items);
    let rec = &a.record;
    assert_eq!(
        rec.behaviour,
        format!("crc32:{:08x}", mtfuse::blob::crc32(&bytes))
    );
    assert_eq!(
        (rec.base.len(), rec.actions.len(), rec.shown.len()),
        (n, n, n)
    );
    let d: Vec<f32> = rec
        .actions
        .iter()
        .flatten()
        .zip(rec.base.iter().flatten())
        .map(|(t, b)| t - b)
        .collect();
    assert!(d.iter().all(|x| x.abs() <= 0.3 + 1e-6));
    assert!(d.iter().any(|x| x.abs() > 0.01), "no noise");
    // The base is the policy's own action: what `rank` with actions reports, in real units.
    let mut plain = req.clone();
    plain.with_actions = true;
    let ranked = r.rank(&plain).unwrap();
    let space = r.blob().actions.clone();
    let mut real = vec![0.0; 6];
    for item in &ranked {
        let j = req.items.iter().position(|i| i.id == item.id).unwrap();
        space.to_real(&rec.base[j], &mut real);
        let a = item.action.as_ref().unwrap();
        assert!(real[..3]
            .iter()
            .zip(&a.powers)
            .all(|(x, y)| (x - y).abs() < 1e-5));
    }
    // Another seed, another draw; width 0, the policy's own order.
    assert_ne!(
        r.rank_explored(&req, spec, 12).unwrap().record.actions,
        rec.actions
    );
    let still = r
        .rank_explored(&req, ExploreSpec::new(0.0, false).unwrap(), 5)
        .unwrap();
    assert_eq!(
        still.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        r.rank(&req)
            .unwrap()
            .iter()
            .map(|i| &i.id)
            .collect::<Vec<_>>()
    );
}

#[test]
fn explore_options_name_a_bad_seed_or_width() {
    let opts = |v: Value| -> Result<ExploreOptions, mtfuse::RequestError> {
        ExploreOptions::from_json(&mtfuse::json::Json::parse(&v.to_string()).unwrap(), "")
    };
    let e = opts(json!({"width": 0.1, "sed": 3})).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (RequestErrorKind::Unknown, "sed"),
        "{e}"
    );
    for (v, field) in [
        (json!({"width": 0.1, "seed": 1.5}), "explore.seed"),
        (json!({"width": 0.1, "seed": -1}), "explore.seed"),
        (json!({"width": 9}), "explore.width"),
    ] {
        let e = opts(v.clone()).unwrap().resolve(|| 0).unwrap_err();
        assert_eq!(
            (e.kind(), e.field()),
            (RequestErrorKind::OutOfRange, field),
            "{v}: {e}"
        );
    }
    assert_eq!(
        opts(json!({"width": 0.1}))
            .unwrap()
            .resolve(|| u64::MAX)
            .unwrap()
            .1,
        (1 << 53) - 1
    );
}

/// A valid line: the request, its exploring rank's record, a response per shown item.
fn line() -> (Ranker, Value) {
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    let mut req = request_json();
    req["topK"] = json!(2);
    let parsed = RankRequest::from_json_text(&req.to_string()).unwrap();
    let out = r
        .rank_explored(&parsed, ExploreSpec::new(0.2, false).unwrap(), 3)
        .unwrap();
    let responses: Vec<Value> = (0..2).map(|p| json!({"signals": {"click": 1.0, "long_view": p as f64, "hate": 0.0}, "playS": 12.5})).collect();
    let v = json!({"session": "s1", "request": 0, "timestampMs": 1_700_000_000_000i64, "done": false, "user": req["user"], "context": req["context"], "items": req["items"], "record": out.record, "responses": responses});
    (r, v)
}

fn check(r: &Ranker, v: &Value) -> Result<mtfuse::log_line::CheckedLine, mtfuse::RequestError> {
    let l = LogLine::from_json_text(&v.to_string())?;
    l.check(r.schema())
}

#[test]
fn a_log_line_from_an_exploring_rank_checks() {
    let (r, v) = line();
    let c = check(&r, &v).unwrap();
    let n = v["items"].as_array().unwrap().len();
    assert_eq!(
        (
            c.actions.len(),
            c.base.len(),
            c.scores.len(),
            c.signals.len(),
            c.play_s.len()
        ),
        (n * 6, n * 6, n * 3, 6, 2)
    );
}

#[test]
fn every_bad_log_line_names_its_field() {
    let (r, good) = line();
    type Spoil = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Spoil, RequestErrorKind)> = vec![
        (
            "responses[1].signals.click",
            Box::new(|v| v["responses"][1]["signals"]["click"] = Value::Null),
            RequestErrorKind::NotFinite,
        ),
        (
            "responses[0].signals.share",
            Box::new(|v| v["responses"][0]["signals"]["share"] = json!(1)),
            RequestErrorKind::Unknown,
        ),
        (
            "responses[0].playS",
            Box::new(|v| v["responses"][0]["playS"] = json!(-3)),
            RequestErrorKind::NotFinite,
        ),
        (
            "responses",
            Box::new(|v| {
                v["responses"]
                    .as_array_mut()
                    .unwrap()
                    .pop()
                    .map(drop)
                    .unwrap()
            }),
            RequestErrorKind::Length,
        ),
        (
            "record.shown[1]",
            Box::new(|v| v["record"]["shown"][1] = v["record"]["shown"][0].clone()),
            RequestErrorKind::Malformed,
        ),
        (
            "record.shown[0]",
            Box::new(|v| v["record"]["shown"][0] = json!(99)),
            RequestErrorKind::OutOfRange,
        ),
        (
            "record.actions[2][1]",
            Box::new(|v| v["record"]["actions"][2][1] = json!(1.5)),
            RequestErrorKind::OutOfRange,
        ),
        (
            "record.base[1]",
            Box::new(|v| {
                v["record"]["base"][1]
                    .as_array_mut()
                    .unwrap()
                    .pop()
                    .map(drop)
                    .unwrap()
            }),
            RequestErrorKind::Length,
        ),
        (
            "record.explore",
            Box::new(|v| v["record"]["explore"] = json!(-0.1)),
            RequestErrorKind::OutOfRange,
        ),
        (
            "items[0].features.duration_s",
            Box::new(|v| v["items"][0]["features"]["duration_s"] = Value::Null),
            RequestErrorKind::NotFinite,
        ),
        (
            "user.age",
            Box::new(|v| v["user"]["age"] = json!(3)),
            RequestErrorKind::Unknown,
        ),
        (
            "session",
            Box::new(|v| v["session"] = json!("")),
            RequestErrorKind::Missing,
        ),
        (
            "request",
            Box::new(|v| v["request"] = json!(-1)),
            RequestErrorKind::Malformed,
        ),
        (
            "responses[0].like",
            Box::new(|v| v["responses"][0]["like"] = json!(1)),
            RequestErrorKind::Unknown,
        ),
        (
            "items",
            Box::new(|v| v["items"] = json!([])),
            RequestErrorKind::Empty,
        ),
    ];
    for (field, spoil, kind) in cases {
        let mut v = good.clone();
        spoil(&mut v);
        let e = check(&r, &v).expect_err(field);
        assert_eq!((e.field(), e.kind()), (field, kind), "{e}");
    }
    // An action moved out of its box around the base, though inside [-1, 1].
    let mut v = good.clone();
    let b = v["record"]["base"][0][0].as_f64().unwrap();
    v["record"]["actions"][0][0] = json!(if b > 0.0 { b - 0.5 } else { b + 0.5 });
    let e = check(&r, &v).unwrap_err();
    assert_eq!(e.field(), "record.actions[0][0]", "{e}");
    assert!(e.problem().contains("more than explore"), "{e}");
}

/// Two candidates with one id are refused, naming both: results come back
/// by id. A number and the same integral float are one id, as JSON has it.
#[test]
fn a_repeated_item_id_is_refused_naming_both_places() {
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    for (second, shown) in [(json!("v1"), "\"v1\""), (json!(7), "7"), (json!(7.0), "7")] {
        let mut req = request_json();
        req["items"][1]["id"] = if shown == "7" { json!(7) } else { json!("v1") };
        req["items"][3]["id"] = second;
        let e = r.rank(&RankRequest::from_json_text(&req.to_string()).unwrap()).unwrap_err();
        assert_eq!((e.kind(), e.field()), (RequestErrorKind::Duplicate, "items[3].id"), "{e}");
        assert_eq!(e.problem(), format!("{shown} repeats items[1].id; ids must be unique"));
    }
    // "7" and 7 are different ids.
    let mut req = request_json();
    req["items"][1]["id"] = json!(7);
    req["items"][3]["id"] = json!("7");
    assert!(r.rank(&RankRequest::from_json_text(&req.to_string()).unwrap()).is_ok());
}
