//! Conventions checked as ordinary tests, so they cannot rot (rust-analyzer's `tidy.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::{PUBLISHED, project_root};

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
        if manifest.contains("\n[workspace]\n") {
            // A workspace of its own (the fuzz targets): it cannot inherit from ours.
            continue;
        }
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

/// A published crate carries what crates.io and docs.rs show (a README of its own, keywords,
/// categories, the repository, docs.rs metadata with every feature), its library marks the
/// feature-gated items for docs.rs, and its internal dependencies have a version as well as a
/// path (`cargo package` in `cargo xtask ci` builds each from its packaged files). The others
/// say `publish = false`.
#[test]
fn published_crates_are_ready_and_the_others_private() {
    for dir in crate_dirs() {
        let name = crate_name(&dir);
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        if !PUBLISHED.contains(&name.as_str()) {
            assert!(
                manifest.contains("\npublish = false\n"),
                "{name}: not published, so its Cargo.toml must say `publish = false`"
            );
            continue;
        }
        for needle in [
            "\nkeywords = [",
            "\ncategories = [",
            "\nreadme = \"README.md\"\n",
            "\nrepository.workspace = true\n",
            "\n[package.metadata.docs.rs]\nall-features = true\n",
        ] {
            assert!(
                manifest.contains(needle),
                "{name}: Cargo.toml lacks `{}`",
                needle.trim()
            );
        }
        assert!(
            !manifest.contains("\npublish = false"),
            "{name} is to be published"
        );
        assert!(dir.join("README.md").exists(), "{name} has no README.md");
        // Internal dependencies come from the workspace, where they have a version (a path-only
        // dev-dependency on an unpublished crate, the test kit, is dropped by `cargo package`).
        for line in manifest.lines() {
            let published = PUBLISHED.iter().any(|p| line.starts_with(&format!("{p} ")));
            assert!(
                !(published && line.contains("path =")),
                "{name}: `{line}`: take internal crates from the workspace (path and version)"
            );
        }
        let lib = dir.join("src/lib.rs");
        if lib.exists() {
            let text = fs::read_to_string(&lib).unwrap();
            assert!(
                text.contains("#![cfg_attr(docsrs, feature(doc_cfg))]"),
                "{}: lacks `#![cfg_attr(docsrs, feature(doc_cfg))]`",
                lib.display()
            );
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            public_items_behind_features_have_badges(&file);
        }
    }
    let root = fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
    for name in PUBLISHED.iter().filter(|n| **n != "oauth-cli") {
        let entry = root
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("the workspace has no dependency entry for {name}"));
        assert!(
            entry.contains("path = ") && entry.contains("version = "),
            "`{entry}`: an internal dependency needs a path and a version"
        );
    }
}

/// A `pub` item behind `#[cfg(feature = …)]` also carries `#[cfg_attr(docsrs, doc(cfg(…)))]`, so
/// that docs.rs shows which feature brings it.
fn public_items_behind_features_have_badges(file: &Path) {
    let text = fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (at, line) in lines.iter().enumerate() {
        if !(line.starts_with("#[cfg(feature") || line.starts_with("#[cfg(any(feature")) {
            continue;
        }
        let attributes: Vec<&str> = lines[at..]
            .iter()
            .take_while(|l| l.starts_with("#["))
            .copied()
            .collect();
        let item = lines.get(at + attributes.len()).copied().unwrap_or("");
        if item.starts_with("pub ") {
            assert!(
                attributes.iter().any(|a| a.contains("doc(cfg(")),
                "{}:{}: `{item}` is behind a feature without `#[cfg_attr(docsrs, doc(cfg(…)))]`",
                file.display(),
                at + 1
            );
        }
    }
}

/// Every Rust file of the workspace (crates and xtask).
fn workspace_rust_files() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    files
}

#[test]
fn every_source_file_starts_with_module_docs() {
    for path in workspace_rust_files() {
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with `//!` docs saying what the file is for",
            path.display()
        );
    }
}

/// A file this long has more than one job: split it. The exceptions are long for a reason.
const MAX_LINES: usize = 600;
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/oauth-itest/tests/bad_input.rs",
        "every bad input at every edge, one table each",
    ),
    (
        "crates/oauth-itest/tests/fault_matrix.rs",
        "the operations x faults matrix and its generated document",
    ),
    (
        "crates/oauth-manager/src/manager.rs",
        "the token manager, being rewritten (issue 15)",
    ),
    (
        "crates/oauth-sandbox/tests/notion.rs",
        "every Notion endpoint's behaviour at the sandbox",
    ),
    (
        "crates/oauth-sandbox/tests/slack.rs",
        "every Slack method's behaviour at the sandbox",
    ),
    (
        "crates/oauth-slack/src/openid.rs",
        "Sign in with Slack: the calls, the id_token and its claims, the key set",
    ),
    (
        "crates/oauth-slack/tests/corpus.rs",
        "the decode corpus and this crate's fixtures, tables of one-line cases",
    ),
    (
        "crates/oauth-slack/tests/sandbox.rs",
        "every Slack method against the sandbox",
    ),
    (
        "crates/oauth-slack/tests/wire.rs",
        "the exact wire form of every Slack method",
    ),
];

#[test]
fn files_stay_short_or_say_why_not() {
    let root = project_root();
    for path in workspace_rust_files() {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        let excused = LONG_FILES.iter().any(|(file, _)| *file == relative);
        assert!(
            lines <= MAX_LINES || excused,
            "{relative} has {lines} lines (more than {MAX_LINES}): split it by job, or name it in tidy's LONG_FILES with the reason"
        );
    }
    for (file, _) in LONG_FILES {
        assert!(
            root.join(file).exists(),
            "LONG_FILES names {file}, which is gone"
        );
    }
}

/// The kinds ARCHITECTURE.md lists under "Errors" are exactly the variants of `ErrorKind`.
#[test]
fn architecture_lists_every_error_kind() {
    let root = project_root();
    let source = fs::read_to_string(root.join("crates/oauth-core/src/error.rs")).unwrap();
    let start = source
        .find("pub enum ErrorKind {")
        .expect("ErrorKind in error.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("the end of ErrorKind")];
    let variants: Vec<&str> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.starts_with("//") && !line.starts_with('#') && !line.is_empty())
        .map(|line| line.trim_end_matches(',').trim_end_matches(" {"))
        .filter(|name| name.chars().all(char::is_alphanumeric))
        .collect();
    let architecture = fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let errors = architecture
        .split("### Errors")
        .nth(1)
        .expect("an Errors section in ARCHITECTURE.md");
    let listed = errors
        .split_once("gives an `ErrorKind` that says what to do\n(")
        .and_then(|(_, rest)| rest.split_once("; "))
        .map(|(list, _)| list)
        .expect("the ErrorKind list in ARCHITECTURE.md's Errors section");
    let listed: Vec<&str> = listed
        .split(',')
        .map(|item| {
            item.trim()
                .trim_start_matches("and ")
                .split(' ')
                .next()
                .unwrap_or("")
        })
        .map(|item| item.trim_matches('`'))
        .collect();
    assert!(
        variants.len() > 5,
        "ErrorKind variants not found: {variants:?}"
    );
    assert_eq!(
        listed, variants,
        "ARCHITECTURE.md's ErrorKind list differs from the enum"
    );
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
    let files = workspace_rust_files();
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

/// The output of `cargo tree` with `args` in the workspace (which must succeed).
fn cargo_tree(args: &[&str]) -> String {
    let output =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .arg("tree")
            .args(args)
            .current_dir(project_root())
            .output()
            .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The crates a build of `oauth-facade` with only `features` compiles (normal dependencies).
fn facade_crates(features: &str) -> Vec<String> {
    cargo_tree(&[
        "-p",
        "oauth-facade",
        "-e",
        "normal",
        "--no-default-features",
        "--prefix",
        "none",
        "--features",
        features,
    ])
    .lines()
    .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
    .collect()
}

#[test]
fn facade_features_pull_in_only_what_they_need() {
    // (features, crates that must not be compiled)
    let cases: &[(&str, &[&str])] = &[
        (
            "slack",
            &[
                "oauth-notion",
                "sqlx",
                "axum",
                "oauth-sandbox",
                "oauth-store",
                "mockall",
            ],
        ),
        (
            "notion",
            &[
                "oauth-slack",
                "jsonwebtoken",
                "sqlx",
                "axum",
                "oauth-sandbox",
                "mockall",
            ],
        ),
        (
            "sqlite",
            &["oauth-slack", "oauth-notion", "sqlx-postgres", "axum"],
        ),
    ];
    for (features, banned) in cases {
        let crates = facade_crates(features);
        for banned in *banned {
            assert!(
                !crates.iter().any(|c| c == banned),
                "feature `{features}` compiles `{banned}`"
            );
        }
    }
}

#[test]
fn facade_features_bring_what_they_promise() {
    // (features, crates that must be compiled)
    let cases: &[(&str, &[&str])] = &[
        // `slack` keeps oauth-slack's `openid` (id_token verification) on.
        ("slack", &["oauth-slack", "jsonwebtoken"]),
        ("notion", &["oauth-notion"]),
    ];
    for (features, wanted) in cases {
        let crates = facade_crates(features);
        for wanted in *wanted {
            assert!(
                crates.iter().any(|c| c == wanted),
                "feature `{features}` does not compile `{wanted}`"
            );
        }
    }
}

/// reqwest's `rustls-no-provider` is asked by no crate: cargo unifies it into the application's
/// own reqwest, whose `Client::new()` then panics without a TLS feature of its own (see
/// `cargo xtask tls-shapes`).
#[test]
fn no_crate_asks_reqwest_for_rustls_no_provider() {
    let tree = cargo_tree(&[
        "--workspace",
        "--all-features",
        "-e",
        "features",
        "-i",
        "reqwest@0.13",
        "--prefix",
        "none",
    ]);
    assert!(
        tree.contains("reqwest feature \"rustls\""),
        "reqwest's `rustls` feature is expected:\n{tree}"
    );
    assert!(
        !tree.contains("rustls-no-provider"),
        "a crate asks reqwest for `rustls-no-provider`:\n{tree}"
    );
}

/// The facade's TLS is on one crypto provider, aws-lc-rs (reqwest's default, compiled anyway by
/// an application with reqwest's default features); ring comes in only with `postgres-tls`
/// (sqlx's rustls on ring with the system's roots), as the docs say.
#[test]
fn the_facade_compiles_one_crypto_provider() {
    let all_but_postgres = "notion,slack,sqlite,sandbox,mock,axum";
    let crates = facade_crates(all_but_postgres);
    assert!(crates.iter().any(|c| c == "aws-lc-rs"), "{crates:?}");
    assert!(
        !crates.iter().any(|c| c == "ring"),
        "`{all_but_postgres}` compiles ring besides aws-lc-rs"
    );
    let crates = facade_crates("postgres-tls");
    assert!(crates.iter().any(|c| c == "ring"), "{crates:?}");
}

/// Every program in `xtask/tls-shapes/` is run by `cargo xtask tls-shapes`.
#[test]
fn every_tls_shape_is_run() {
    let dir = project_root().join("xtask/tls-shapes");
    let mut programs: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .map(|p| crate_name(&p))
        .filter(|name| name != "common")
        .collect();
    programs.sort();
    let mut run: Vec<String> = crate::tls_shapes::shapes()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    run.sort();
    assert_eq!(programs, run);
}

#[test]
fn the_readme_examples_are_the_tested_ones() {
    let root = project_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    for (section, test) in [
        ("## Generic code over providers", "readme_example.rs"),
        (
            "## A Slack app: from an event to a token",
            "readme_slack.rs",
        ),
    ] {
        let tested = fs::read_to_string(root.join("crates/oauth-facade/tests").join(test)).unwrap();
        let start = readme.find(section).expect("README section");
        let code_start = readme[start..].find("```rust\n").unwrap() + start + "```rust\n".len();
        let code_end = readme[code_start..].find("```").unwrap() + code_start;
        assert!(
            tested.ends_with(&readme[code_start..code_end]),
            "the README example {section:?} and crates/oauth-facade/tests/{test} differ"
        );
    }
}

/// A user's clone has nothing beside it: no source, build script, xtask step or CI script may
/// reach a path outside the repository (the test fixtures are vendored in `fixtures/`).
#[test]
fn nothing_reads_outside_the_repository() {
    let root = project_root();
    let mut files = workspace_rust_files();
    files.push(root.join(".ci/run"));
    // `CARGO_MANIFEST_DIR` is `crates/<name>`: two `..` reach the repository root, a third leaves it.
    let banned = [
        concat!("../", "shared"),
        concat!("/../../", "../"),
        concat!(".join(\"", "..\")"),
    ];
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for needle in banned {
            assert!(
                !text.contains(needle),
                "{} reads a path outside the repository (`{needle}`): vendor what it needs",
                file.display()
            );
        }
    }
}
