//! Replays the fuzz seeds and every input a fuzzer found to crash
//! (tests/fixtures/fuzz/<target>/) through the fuzz targets' own checks.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) {
    let mut seen = 0;
    for dir in [format!("fuzz/seeds/{target}"), format!("tests/fixtures/fuzz/{target}")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
                std::panic::resume_unwind(Box::new(format!("{}: {:?}", path.display(), panic.downcast_ref::<String>())));
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no inputs for {target}");
}

#[test]
fn blob_inputs_replay() {
    replay("blob", checks::blob);
}

#[test]
fn request_inputs_replay() {
    replay("request", checks::request);
}

#[test]
fn columnar_inputs_replay() {
    replay("columnar", checks::columnar);
}
