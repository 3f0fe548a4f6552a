//! Every statement of `sql.rs` is answered from an index: SQLite's `EXPLAIN QUERY PLAN` shows a
//! search (or an in-order walk of an index that stops at the page's `LIMIT`), never a scan of a
//! table nor a sort, so its cost does not grow with the number of rows. (SQLite chooses the plan
//! when it prepares the statement, from the schema: a million rows get this same plan.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{SqliteTokenStore, sql};

/// The highest `?N` in `sql`.
fn parameters(sql: &str) -> usize {
    sql.split('?')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

async fn plan(store: &SqliteTokenStore, sql: &str) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    for _ in 0..parameters(sql) {
        query = query.bind(None::<i64>);
    }
    query
        .fetch_all(&store.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect()
}

#[tokio::test]
async fn every_statement_is_answered_from_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTokenStore::open(dir.path().join("plans.sqlite3"))
        .await
        .unwrap();
    for (name, sql) in sql::ALL {
        let plan = plan(&store, sql).await;
        for step in &plan {
            assert!(
                !step.starts_with("SCAN") || step.contains("INDEX"),
                "{name} scans a table: {plan:?}"
            );
            assert!(!step.contains("TEMP B-TREE"), "{name} sorts: {plan:?}");
        }
        if !sql.starts_with("INSERT") {
            assert!(
                plan.iter()
                    .any(|step| step.contains("INDEX") || step.contains("PRIMARY KEY")),
                "{name} reads rows without an index: {plan:?}"
            );
        }
    }
    for name in ["DUE_FIRST", "DUE_AFTER"] {
        let (_, sql) = sql::ALL.iter().find(|(n, _)| *n == name).unwrap();
        let plan = plan(&store, sql).await;
        assert!(
            plan.iter()
                .any(|step| step.contains("oauth_token_sets_due")),
            "{name} reads the due index: {plan:?}"
        );
    }
    // Pages start where the last one ended: a search on the whole key (not on the provider
    // alone, which would read every earlier key of the provider again).
    for (name, bound) in [
        ("LIST_PROVIDER_FIRST", "(provider=?)"),
        ("LIST_AFTER", "(provider,installation_key,principal)>"),
        ("LIST_PROVIDER_AFTER", "(installation_key,principal)>"),
        (
            "DUE_AFTER",
            "(expires_at_ms,provider,installation_key,principal)>",
        ),
        ("GET", "principal=?"),
        ("COMPARE_AND_SWAP", "principal=?"),
        ("RENEW_LEASE", "principal=?"),
        ("RELEASE_LEASE", "principal=?"),
    ] {
        let (_, sql) = sql::ALL.iter().find(|(n, _)| *n == name).unwrap();
        let plan = plan(&store, sql).await;
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH") && step.contains(bound)),
            "{name} is a search bounded by {bound}: {plan:?}"
        );
    }
}
