//! A writer process SIGKILLed at random points, many times, over one SQLite store: the store always
//! opens, and every installation holds a whole token set (the old or the new), never a torn one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use oauth_core::TokenStore;
use oauth_itest::{check_whole, key};
use oauth_store::SqliteTokenStore;

const INSTALLATIONS: usize = 8;
const KILLS: usize = 40;

#[tokio::test]
async fn sqlite_survives_sigkill_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let mut last = [0u64; INSTALLATIONS];
    let mut total_writes = 0;
    for round in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-writer"))
            .arg(&path)
            .arg(INSTALLATIONS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "round {round}: the writer did not start"
        );
        // Kill it somewhere in the middle of its writes: 0–40 ms in.
        let delay = getrandom::u64().unwrap() % 40;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let store = SqliteTokenStore::open(&path)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the store does not open: {e}"));
        for (i, last) in last.iter_mut().enumerate() {
            let stored = store
                .get(&key(i))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: installation {i} vanished"));
            let generation = check_whole(i, &stored.tokens)
                .unwrap_or_else(|torn| panic!("round {round}: {torn}"));
            assert!(
                generation >= *last,
                "round {round}: installation {i} went back from {last} to {generation}"
            );
            total_writes += generation - *last;
            *last = generation;
        }
        store.close().await;
    }
    assert!(
        total_writes > KILLS as u64,
        "the writer wrote between kills ({total_writes} generations)"
    );
    eprintln!("{KILLS} SIGKILLs, {total_writes} generations written, no torn token set");
}
