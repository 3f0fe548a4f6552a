//! TLS to PostgreSQL: which URLs require it, and how a failed handshake is told apart from the
//! database's own failures.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// What failed, if `error` is a failed TLS handshake or TLS set-up (sqlx reports a handshake's
/// failure as an I/O error holding rustls's).
pub(crate) fn tls_failure(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Tls(tls) => Some(tls.to_string()),
        #[cfg(feature = "postgres-tls")]
        sqlx::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(ToString::to_string),
        _ => None,
    }
}

/// Whether `options` refuse a connection without TLS.
pub(crate) fn requires_tls(options: &PgConnectOptions) -> bool {
    matches!(
        options.get_ssl_mode(),
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn only_the_modes_that_refuse_clear_text_require_tls() {
        for (mode, required) in [
            ("disable", false),
            ("allow", false),
            ("prefer", false),
            ("require", true),
            ("verify-ca", true),
            ("verify-full", true),
        ] {
            let options =
                PgConnectOptions::from_str(&format!("postgres://u@db.example/app?sslmode={mode}"))
                    .expect("a URL");
            assert_eq!(requires_tls(&options), required, "{mode}");
        }
        let default = PgConnectOptions::from_str("postgres://u@db.example/app").expect("a URL");
        assert!(!requires_tls(&default));
    }
}
