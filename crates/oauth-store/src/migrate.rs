//! Embedded migrations, applied at open.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

pub(crate) fn migrator(sql: &'static str) -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )]),
        ..Migrator::DEFAULT
    }
}

pub(crate) fn storage_error(what: &str) -> impl FnOnce(sqlx::Error) -> oauth_core::Error + '_ {
    move |e| oauth_core::Error::storage(what.to_owned(), e)
}
