//! Integration tests of oauth-core: one test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod authorization;
mod http_retry;
mod redaction;
mod redirects;
mod store;
mod tls;
mod tokens;
