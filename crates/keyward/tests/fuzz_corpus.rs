//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/seed-*`) through the same target
//! bodies the fuzzer runs (`fuzz/targets.rs`), so a regression on an input the fuzzer once
//! found interesting surfaces in the ordinary test run, without a fuzzer or nightly.

#[allow(unreachable_pub)] // the targets are `pub` for the fuzz crate
#[path = "../../../fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_fuzz_target_survives_its_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, target) in targets::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            // The checked-in inputs; the fuzzer's own (hash-named, not committed) may be
            // rewritten while it runs.
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")))
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no corpus for {name}");
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panics on {}", path.display());
        }
    }
}
