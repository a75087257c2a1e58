//! The embedded backend: one SQLite file in the data directory, in WAL mode with full
//! synchronisation, so a committed write survives a crash or power loss.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::backend::{sql_store, Placeholders};

const BACKEND: crate::Backend = crate::Backend::Sqlite;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "health_snapshots",
        sql: include_str!("../migrations/sqlite/0002_health_snapshots.sql"),
    },
];

pub struct SqliteStore {
    pool: SqlitePool,
    statements: Statements,
}

impl SqliteStore {
    /// Opens (creating when missing) and migrates the database file at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let location = format!("sqlite:{}", path.display());
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| StoreError::Open {
                location: location.clone(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it returns, even in WAL mode.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { location, source })?;
        let store = SqliteStore {
            pool,
            statements: Statements::new(Placeholders::Question),
        };
        store.migrate().await?;
        Ok(store)
    }
}

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    None::<&str>,
    Placeholders::Question
);
