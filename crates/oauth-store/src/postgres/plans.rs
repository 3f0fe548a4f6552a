//! Every statement of `sql.rs` can be answered from an index: with sequential scans disabled
//! (`enable_seqscan = off`, so the planner takes any usable index however few rows there are) and
//! the generic plan forced (the plan of the statement itself, not of particular values),
//! PostgreSQL's `EXPLAIN` shows no sequential scan and no sort. Needs `OAUTH_TEST_POSTGRES_URL`
//! (`cargo xtask test` sets it); without it, the test says loudly that it did not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{PostgresTokenStore, sql};

/// The highest `$N` in `sql`.
fn parameters(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

async fn plan(connection: &mut PgConnection, index: usize, sql: &str) -> Vec<String> {
    sqlx::raw_sql(&format!("PREPARE plan_{index} AS {sql}"))
        .execute(&mut *connection)
        .await
        .unwrap();
    let nulls = vec!["NULL"; parameters(sql)].join(", ");
    let execute = if nulls.is_empty() {
        format!("EXPLAIN EXECUTE plan_{index}")
    } else {
        format!("EXPLAIN EXECUTE plan_{index}({nulls})")
    };
    sqlx::query_scalar::<_, String>(&execute)
        .fetch_all(&mut *connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_statement_can_be_answered_from_an_index() {
    let Ok(url) = std::env::var("OAUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("OAUTH_REQUIRE_POSTGRES").is_none(),
            "OAUTH_REQUIRE_POSTGRES is set but OAUTH_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "!!!! OAUTH_TEST_POSTGRES_URL is not set: the PostgreSQL query plan test did NOT run !!!!"
        );
        return;
    };
    let schema = format!("t_{:016x}", getrandom::u64().unwrap());
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresTokenStore::from_pool(pool, None).await.unwrap();
    let mut connection = store.pool().acquire().await.unwrap();
    sqlx::raw_sql("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
        .execute(&mut *connection)
        .await
        .unwrap();
    for (index, (name, sql)) in sql::ALL.iter().enumerate() {
        let plan = plan(&mut connection, index, sql).await;
        let text = plan.join("\n");
        assert!(!text.contains("Seq Scan"), "{name} scans a table:\n{text}");
        assert!(!text.contains("Sort"), "{name} sorts:\n{text}");
        let reads = !sql.starts_with("INSERT");
        assert!(
            !reads || text.contains("Index"),
            "{name} reads rows without an index:\n{text}"
        );
        if name.starts_with("DUE") {
            assert!(text.contains("oauth_token_sets_due"), "{name}:\n{text}");
        }
        if name.starts_with("LIST") && *name != "LIST_FIRST" {
            assert!(
                text.contains("Index Cond"),
                "{name} is a range read:\n{text}"
            );
        }
    }
    drop(connection);
    store.pool().close().await;
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
}
