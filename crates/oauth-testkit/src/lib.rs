//! The workspace's test kit (not published): what the test suites of every crate share.
//!
//! - [`FakeServer`]: a scripted HTTP/1.1 server on loopback, over plain TCP or TLS, that records
//!   every request and plays a script of [`Reply`]s (answer, answer in chunks, delay, or drop the
//!   connection after reading the request), which a regular server framework does not let a test
//!   do.
//! - [`LogCapture`]: a process-wide tracing subscriber at TRACE into a buffer, for the secret-leak
//!   tests (global: tracing's callsite cache misses events of a thread-local subscriber while
//!   other tests of the same binary run).
//! - [`fast_retry_policy!`]: `oauth_core`'s default retry policy with millisecond backoffs, for
//!   tests that go through retries. A macro, so that this crate needs no `oauth-core` (which
//!   itself uses the kit in its tests).
//! - [`corpus`]: the vendored decode corpus (`fixtures/decode-corpus`), walked.
//!
//! Test code: it panics on a broken set-up rather than returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod corpus;
mod logs;
mod server;

pub use logs::{LogCapture, assert_no_secret};
pub use server::{FakeServer, Handshake, Recorded, Reply, closed_port_url};

/// `oauth_core::http::RetryPolicy::default()` with backoffs of 1 to 5 ms, at most 5 s of waiting
/// in all and `Retry-After` honoured up to 2 s (a longer one ends the call at once). The caller's
/// crate must depend on `oauth-core`.
#[macro_export]
macro_rules! fast_retry_policy {
    () => {
        ::oauth_core::http::RetryPolicy::default()
            .initial_backoff(::std::time::Duration::from_millis(1))
            .max_backoff(::std::time::Duration::from_millis(5))
            .max_total_delay(::std::time::Duration::from_secs(5))
            .max_retry_after(::std::time::Duration::from_secs(2))
    };
}
