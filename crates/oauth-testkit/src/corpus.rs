//! The shared decode corpus, vendored at `fixtures/decode-corpus` (its provenance in
//! `MANIFEST.md`): real and documented provider answers, one JSON body a file.

use std::path::{Path, PathBuf};

/// The corpus's root directory (with `expect.json`, `notion/` and `slack/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/decode-corpus")
}

/// Every `.json` file under `dir` (relative to [`root`]; `""` for all of it), searched
/// recursively, in path order.
pub fn json_files(dir: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the decode corpus at {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The text of the corpus file at `path` (relative to [`root`]).
pub fn read(path: &str) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the corpus file {}: {e}", path.display()))
}
