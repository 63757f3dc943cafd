//! Every input kept under `fuzz/regressions/<target>/` (seeds, and anything a fuzzer ever
//! crashed on) goes through its target's entry point again: a crash found once stays a test.

use std::path::Path;

/// A fuzz target's name and its entry point.
type Target = (&'static str, fn(&[u8]));

#[test]
fn every_kept_fuzz_input_is_answered_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let targets: [Target; 4] = [
        ("task_definition", wharf_core::fuzzing::task_definition),
        ("agent_message", wharf_core::fuzzing::agent_message),
        ("server_message", wharf_core::fuzzing::server_message),
        ("expression", wharf_core::fuzzing::expression),
    ];
    let mut replayed = 0;
    for (target, run) in targets {
        let dir = root.join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            // A panic below names its input first.
            eprintln!("replaying {}", path.display());
            run(&data);
            replayed += 1;
        }
    }
    assert!(replayed >= 8, "the seeds are there: {replayed} inputs");
}
