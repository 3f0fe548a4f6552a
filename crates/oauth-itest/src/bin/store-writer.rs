//! Writes generation after generation of token sets into a SQLite store, as fast as it can, until
//! killed. Prints `ready` once every installation exists. Used by `tests/crash.rs`.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::process::ExitCode;

use oauth_core::{CasOutcome, TokenStore};
use oauth_itest::{check_whole, generation, key};
use oauth_store::SqliteTokenStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(count)) = (
        args.next(),
        args.next().and_then(|c| c.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: store-writer DB_PATH INSTALLATIONS");
        return ExitCode::FAILURE;
    };
    let store = match SqliteTokenStore::open(&path).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("store-writer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut announced = false;
    loop {
        for i in 0..count {
            let result = match store.get(&key(i)).await {
                Ok(None) => store.save(&key(i), &generation(i, 0)).await.map(|_| ()),
                Ok(Some(stored)) => match check_whole(i, &stored.tokens) {
                    Ok(g) => store
                        .compare_and_swap(&key(i), stored.version, &generation(i, g + 1))
                        .await
                        .and_then(|outcome| match outcome {
                            CasOutcome::Swapped { .. } => Ok(()),
                            _ => Err(oauth_core::Error::Internal(
                                "unexpected conflict: one writer only".into(),
                            )),
                        }),
                    Err(torn) => {
                        eprintln!("store-writer: {torn}");
                        return ExitCode::FAILURE;
                    }
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                eprintln!("store-writer: {e}");
                return ExitCode::FAILURE;
            }
        }
        if !announced {
            println!("ready");
            let _ = std::io::stdout().flush();
            announced = true;
        }
    }
}
