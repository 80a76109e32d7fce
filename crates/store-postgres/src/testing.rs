//! Test support (feature `testing`): each test gets its own fresh schema on the PostgreSQL
//! server named by `TEST_DATABASE_URL`, dropped afterwards.
//!
//! ```ignore
//! let Some((store, db)) = talaka_store_postgres::testing::test_store().await else { return };
//! // ... use `store` (migrated, empty) ...
//! db.cleanup().await; // or let `db` drop: the schema is dropped either way
//! ```
//!
//! Without `TEST_DATABASE_URL` the helpers return `None` and the test should return early
//! (one line on stderr says so) — except under `CI=true`, where they panic: in CI a missing
//! PostgreSQL is a failure, never a silent skip. A URL that is set but unreachable always
//! panics. Messages never show the URL's password.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use talaka_core::Secret;
use talaka_core::config::DatabaseUrl;
use talaka_store::Store;

use crate::PgStore;

/// The environment variable naming the test server, e.g. `postgres://postgres@127.0.0.1/test`.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// One test's private schema. Drop it (or call [`TestDb::cleanup`]) to remove the schema and
/// everything in it.
pub struct TestDb {
    /// `None` once cleaned up.
    schema: Option<String>,
    /// Connect options for the server, without the schema.
    base: PgConnectOptions,
    /// URL with the password masked, for messages.
    shown: String,
    /// Every pool handed out, closed before the schema is dropped.
    pools: Mutex<Vec<PgPool>>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("schema", &self.schema)
            .field("server", &self.shown)
            .finish()
    }
}

/// A migrated, empty store on a fresh schema, and the guard that drops the schema; `None`
/// when `TEST_DATABASE_URL` is unset outside CI.
pub async fn test_store() -> Option<(PgStore, TestDb)> {
    let db = TestDb::new().await?;
    let store = db.store().await;
    store.migrate().await.expect("migrating the test schema");
    Some((store, db))
}

impl TestDb {
    /// Create a fresh, empty (unmigrated) schema `t_<random hex>`; `None` when
    /// `TEST_DATABASE_URL` is unset outside CI.
    pub async fn new() -> Option<Self> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let url = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if ci => panic!(
                "CI=true but {TEST_DATABASE_URL} is not set: the PostgreSQL tests must run in CI \
                 (e.g. {TEST_DATABASE_URL}=postgres://postgres@127.0.0.1:5432/test)"
            ),
            _ => {
                eprintln!("skipping PostgreSQL test: {TEST_DATABASE_URL} is not set");
                return None;
            }
        };
        let shown = DatabaseUrl::Postgres(Secret::new(url.clone())).redacted();
        let base = PgConnectOptions::from_str(&url).unwrap_or_else(|_| {
            panic!("{TEST_DATABASE_URL} is not a valid PostgreSQL URL: {shown}")
        });

        let bytes = talaka_core::crypto::random_bytes::<8>().expect("random schema name");
        let schema = format!("t_{}", talaka_core::crypto::hex(&bytes));
        let mut conn = PgConnection::connect_with(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {shown}: {e}"));
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create schema {schema} on {shown}: {e}"));
        // Closing is best effort; the schema exists either way.
        let _ = conn.close().await;
        Some(Self {
            schema: Some(schema),
            base,
            shown,
            pools: Mutex::new(Vec::new()),
        })
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        self.schema.as_deref().unwrap_or_default()
    }

    /// A new store with its own small pool whose connections use this schema. Call it more
    /// than once to get stores that behave like separate processes. Not migrated.
    pub async fn store(&self) -> PgStore {
        PgStore::from_pool(self.pool().await)
    }

    /// A new small pool on this schema.
    pub async fn pool(&self) -> PgPool {
        let options = self.base.clone().options([("search_path", self.schema())]);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", self.shown));
        self.pools
            .lock()
            .expect("pool list lock")
            .push(pool.clone());
        pool
    }

    /// Close the pools handed out and drop the schema with everything in it.
    pub async fn cleanup(mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let pools = std::mem::take(&mut *self.pools.lock().expect("pool list lock"));
        for pool in pools {
            pool.close().await;
        }
        if let Err(e) = drop_schema(&self.base, &schema).await {
            eprintln!("could not drop test schema {schema} on {}: {e}", self.shown);
        }
    }
}

impl Drop for TestDb {
    /// The fallback when a test did not call `cleanup` (it returned early or panicked): drop
    /// the schema from a separate thread with its own runtime, since a runtime cannot be
    /// blocked on from inside another.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let base = self.base.clone();
        let shown = self.shown.clone();
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("could not drop test schema {schema}: no runtime: {e}");
                    return;
                }
            };
            let result = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), drop_schema(&base, &schema)).await
            });
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("could not drop test schema {schema} on {shown}: {e}"),
                Err(_) => eprintln!("timed out dropping test schema {schema} on {shown}"),
            }
        });
        let _ = worker.join();
    }
}

async fn drop_schema(base: &PgConnectOptions, schema: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect_with(base).await?;
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}
