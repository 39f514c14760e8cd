//! Replays every committed fuzz input of harp's targets through the same property checks the
//! fuzzer runs (`harp::fuzzing`): the hand-made seeds in `fuzz/corpus/<target>/` and the crash
//! reproducers in `fuzz/regressions/<target>/`. A plain `cargo test` runs them, so a fixed finding
//! stays fixed without a fuzzer.

use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every seed and reproducer of `target`; the seeds must exist.
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no seeds");
    for file in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} breaks a property", file.display());
    }
}

#[test]
fn request_path_inputs() {
    replay("request_path", harp::fuzzing::path);
}

#[test]
fn client_ip_inputs() {
    replay("client_ip", harp::fuzzing::client_ip);
}

#[test]
fn config_env_inputs() {
    replay("config_env", harp::fuzzing::config);
}

#[test]
fn passthrough_allow_list_inputs() {
    replay("passthrough", harp::fuzzing::passthrough);
}
