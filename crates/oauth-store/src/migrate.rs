//! Embedded migrations, applied at open.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The names of the migrations, in order (version 1 is the first).
const NAMES: [&str; 4] = ["init", "installations", "used_states", "scale"];

/// The migrator of a backend's migrations, given their SQL in order (`migrations/<backend>/`).
pub(crate) fn migrator(sql: &[&'static str]) -> Migrator {
    let migrations = sql
        .iter()
        .zip(NAMES)
        .zip(1..)
        .map(|((sql, name), version)| {
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

pub(crate) fn storage_error(what: &str) -> impl FnOnce(sqlx::Error) -> oauth_core::Error + '_ {
    move |e| oauth_core::Error::storage(what.to_owned(), e)
}
