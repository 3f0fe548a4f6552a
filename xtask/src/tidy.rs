//! Conventions checked as ordinary tests, so they cannot rot (rust-analyzer's `tidy.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(project_root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn crate_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn manifests_follow_workspace_conventions() {
    for dir in crate_dirs() {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for needle in [
            "edition.workspace = true",
            "license.workspace = true",
            "rust-version.workspace = true",
            "version.workspace = true",
            "description = ",
            "[lints]\nworkspace = true",
        ] {
            assert!(
                manifest.contains(needle),
                "{}: Cargo.toml lacks `{needle}`",
                crate_name(&dir)
            );
        }
    }
}

#[test]
fn every_crate_root_has_module_docs() {
    for dir in crate_dirs() {
        for root in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(root);
            if let Ok(text) = fs::read_to_string(&path) {
                assert!(
                    text.starts_with("//!"),
                    "{} must start with `//!` docs",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn readme_and_architecture_name_every_crate() {
    let root = project_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let architecture = fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    for dir in crate_dirs() {
        let name = crate_name(&dir);
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not list `{name}`"
        );
        assert!(
            architecture.contains(&format!("### `crates/{name}`")),
            "docs/ARCHITECTURE.md has no section `### `crates/{name}``"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let root = project_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let ci = fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        readme.contains("cargo xtask ci"),
        "README.md must give the test command"
    );
    assert!(
        ci.contains("cargo xtask ci"),
        ".ci/run must call the README's test command"
    );
}

#[test]
fn no_ignored_tests_stubs_or_panicking_tests() {
    let root = project_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    let banned = [
        concat!("#[", "ignore"),
        concat!("#[", "should_panic"),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
    ];
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for needle in banned {
            assert!(
                !text.contains(needle),
                "{} contains `{needle}`",
                file.display()
            );
        }
    }
}
