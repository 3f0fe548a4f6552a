//! The shared decode corpus (`fixtures/decode-corpus/slack`, vendored), for the unit tests.

use std::path::PathBuf;

/// The corpus's Slack directory.
pub(crate) const ROOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/decode-corpus/slack"
);

/// Every `.json` file under the corpus's `dirs` (relative to [`ROOT`]; `""` for all of it),
/// searched recursively.
pub(crate) fn json_files(dirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = dirs
        .iter()
        .map(|dir| PathBuf::from(ROOT).join(dir))
        .collect();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the shared decode corpus") {
            let path = entry.expect("a corpus entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files
}
