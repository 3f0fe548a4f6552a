//! Store cost against the number of rows: `get` and `compare_and_swap` latency (p50, p99) on
//! uniformly random keys of a store holding 1,000 rows and of one holding 1,000,000
//! (`OAUTH_BENCH_STORE_ROWS` sets the larger size), SQLite and PostgreSQL (PostgreSQL when
//! `OAUTH_TEST_POSTGRES_URL` is set), measured in the same run; the target is a p99 growth of at
//! most 2× across the range (every query an index lookup). Rows are bulk-loaded with the stores'
//! `import` (one transaction, 500 rows a statement); the load time is reported too.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use oauth_core::{
    AccessToken, CasOutcome, InstallationKey, ProviderId, RefreshToken, TokenKey, TokenSet,
    TokenStore, TokenType,
};

use crate::report::{Report, median};

const SMALL: usize = 1_000;
const DEFAULT_LARGE: usize = 1_000_000;
/// Operations measured per size, operation and round.
const SAMPLES: usize = 2_000;
/// Rounds per size: the figures are the medians of the rounds' percentiles.
const ROUNDS: usize = 3;
/// Rows built and imported at a time (bounded memory while loading a million).
const LOAD_CHUNK: usize = 50_000;

fn key(i: usize) -> TokenKey {
    TokenKey::bot(InstallationKey::new(
        ProviderId::from_static("slack"),
        format!("T{i:08}"),
    ))
}

fn tokens(i: usize) -> TokenSet {
    let mut t = TokenSet::builder(
        ProviderId::from_static("slack"),
        AccessToken::new(format!("xoxe.xoxb-1-scale-{i}")),
    )
    .token_type(TokenType::Bot)
    .issued_at(SystemTime::now())
    .build();
    t.refresh_token = Some(RefreshToken::new(format!("xoxe-1-scale-{i}")));
    t.set_expires_in(43_200);
    t
}

/// A cheap deterministic sequence of indices (xorshift), the same for every store and size.
struct Indices(u64);

impl Indices {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// What a store can bulk-load.
enum Loader {
    Sqlite(Arc<oauth_store::SqliteTokenStore>),
    Postgres(Arc<oauth_store::PostgresTokenStore>),
}

impl Loader {
    fn store(&self) -> Arc<dyn TokenStore> {
        match self {
            Loader::Sqlite(store) => store.clone(),
            Loader::Postgres(store) => store.clone(),
        }
    }

    async fn load(&self, from: usize, to: usize) -> Option<()> {
        let mut start = from;
        while start < to {
            let end = (start + LOAD_CHUNK).min(to);
            let batch: Vec<(TokenKey, TokenSet)> =
                (start..end).map(|i| (key(i), tokens(i))).collect();
            let loaded = match self {
                Loader::Sqlite(store) => store.import(&batch).await,
                Loader::Postgres(store) => store.import(&batch).await,
            };
            if let Err(error) = loaded {
                eprintln!("store scale benchmark: the bulk load failed: {error}");
                return None;
            }
            start = end;
        }
        Some(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Medians over the rounds of (p50, p99) in microseconds of `get` and of `compare_and_swap`.
async fn measure(store: &Arc<dyn TokenStore>, rows: usize) -> Option<((f64, f64), (f64, f64))> {
    let mut figures: [Vec<f64>; 4] = Default::default();
    for round in 0..ROUNDS {
        let ((g50, g99), (s50, s99)) = measure_round(store, rows, round as u64).await?;
        for (all, value) in figures.iter_mut().zip([g50, g99, s50, s99]) {
            all.push(value);
        }
    }
    let [g50, g99, s50, s99] = figures.map(|mut v| median(&mut v));
    Some(((g50, g99), (s50, s99)))
}

/// One round: (p50, p99) in microseconds of `get` and of `compare_and_swap` on random keys below
/// `rows`.
async fn measure_round(
    store: &Arc<dyn TokenStore>,
    rows: usize,
    round: u64,
) -> Option<((f64, f64), (f64, f64))> {
    let mut indices = Indices(0x9e37_79b9_7f4a_7c15 ^ round.wrapping_mul(0x2545_f491_4f6c_dd1d));
    // Warm-up: the connections, the statement caches.
    for _ in 0..100 {
        store.get(&key(indices.next(rows))).await.ok()?;
    }
    let mut gets = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let key = key(indices.next(rows));
        let started = Instant::now();
        store.get(&key).await.ok()??;
        gets.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let mut swaps = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let i = indices.next(rows);
        let key = key(i);
        // The read a refresh does first is not timed: only the conditional write.
        let version = store.get(&key).await.ok()??.version;
        let next = tokens(i);
        let started = Instant::now();
        let outcome = store.compare_and_swap(&key, version, &next).await.ok()?;
        swaps.push(started.elapsed().as_secs_f64() * 1e6);
        if !matches!(outcome, CasOutcome::Swapped { .. }) {
            eprintln!("store scale benchmark invalid: a swap conflicted");
            return None;
        }
    }
    gets.sort_by(f64::total_cmp);
    swaps.sort_by(f64::total_cmp);
    Some((
        (percentile(&gets, 0.5), percentile(&gets, 0.99)),
        (percentile(&swaps, 0.5), percentile(&swaps, 0.99)),
    ))
}

/// One store: measured at `SMALL` rows, grown to `large`, measured again. Table rows.
async fn run_store(name: &str, loader: Loader, large: usize) -> Option<Vec<String>> {
    let store = loader.store();
    loader.load(0, SMALL).await?;
    let small = measure(&store, SMALL).await?;
    let started = Instant::now();
    loader.load(SMALL, large).await?;
    let load = started.elapsed();
    let big = measure(&store, large).await?;
    let growth = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
    let row = |op: &str, s: (f64, f64), b: (f64, f64)| {
        format!(
            "| {name} | {op} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.2}× |",
            s.0,
            s.1,
            b.0,
            b.1,
            growth(s.1, b.1)
        )
    };
    Some(vec![
        row("get", small.0, big.0),
        row("compare_and_swap", small.1, big.1),
        format!(
            "| {name} | bulk load of {} rows | {:.1} s ({:.0} rows/s) | | | | |",
            large - SMALL,
            load.as_secs_f64(),
            (large - SMALL) as f64 / load.as_secs_f64().max(f64::EPSILON)
        ),
    ])
}

/// A PostgreSQL store in a schema of its own (dropped afterwards: a million rows are not left
/// behind), and that schema's name.
pub(crate) async fn postgres(
    purpose: &str,
) -> Option<(Arc<oauth_store::PostgresTokenStore>, String)> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let url = std::env::var("OAUTH_TEST_POSTGRES_URL").ok()?;
    let schema = format!("bench_{purpose}_{}", std::process::id());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .ok()?;
    sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&admin)
        .await
        .ok()?;
    admin.close().await;
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .ok()?
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .ok()?;
    let store = oauth_store::PostgresTokenStore::from_pool(pool, None)
        .await
        .ok()?;
    Some((Arc::new(store), schema))
}

pub(crate) async fn drop_schema(store: &oauth_store::PostgresTokenStore, schema: &str) {
    if let Err(error) = sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await
    {
        eprintln!("store scale benchmark: could not drop schema {schema}: {error}");
    }
}

pub(crate) async fn run(report: &mut Report) {
    let large = std::env::var("OAUTH_BENCH_STORE_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > SMALL)
        .unwrap_or(DEFAULT_LARGE);
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().ok();
    let sqlite = match &dir {
        Some(dir) => oauth_store::SqliteTokenStore::open(dir.path().join("scale.sqlite3"))
            .await
            .ok(),
        None => None,
    };
    match sqlite {
        Some(store) => match run_store("SQLite", Loader::Sqlite(Arc::new(store)), large).await {
            Some(found) => rows.extend(found),
            None => eprintln!("store scale benchmark: SQLite failed"),
        },
        None => eprintln!("store scale benchmark: SQLite store did not open"),
    }
    let pg_note = match postgres("scale").await {
        Some((store, schema)) => {
            match run_store("PostgreSQL", Loader::Postgres(store.clone()), large).await {
                Some(found) => rows.extend(found),
                None => eprintln!("store scale benchmark: PostgreSQL failed"),
            }
            drop_schema(&store, &schema).await;
            String::new()
        }
        None => " PostgreSQL was not measured (`OAUTH_TEST_POSTGRES_URL` unset).".to_owned(),
    };
    if rows.is_empty() {
        return;
    }
    report.section(format!(
        "## Store cost against the number of rows\n\n\
         `get` and `compare_and_swap` latency on uniformly random keys, {SAMPLES} calls each in \
         each of {ROUNDS} rounds (medians of the rounds' percentiles), one task, of a store holding {SMALL} rows and of the same store grown to {large} rows \
         (`OAUTH_BENCH_STORE_ROWS` sets the larger size), measured in the same run; target: p99 \
         growth at most 2×. Every statement of both stores is an index lookup (checked by the \
         query-plan tests in `oauth-store`). SQLite writes with `synchronous = FULL` (an fsync \
         per commit), so its `compare_and_swap` is bounded by the disk.{pg_note}\n\n\
         | store | operation | p50 at {SMALL} | p99 at {SMALL} | p50 at {large} | p99 at {large} | p99 growth |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    ));
}
