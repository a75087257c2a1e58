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
    Migration {
        version: 3,
        name: "users_audit",
        sql: include_str!("../migrations/sqlite/0003_users_audit.sql"),
    },
    Migration {
        version: 4,
        name: "sessions",
        sql: include_str!("../migrations/sqlite/0004_sessions.sql"),
    },
    Migration {
        version: 5,
        name: "success_plans",
        sql: include_str!("../migrations/sqlite/0005_success_plans.sql"),
    },
    Migration {
        version: 6,
        name: "user_managers",
        sql: include_str!("../migrations/sqlite/0006_user_managers.sql"),
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

/// Daily health snapshots, `ROWS` rows a statement inside the caller's transaction (sqlx's
/// SQLite driver slows down sharply with thousands of parameters in one statement, and
/// pays a round trip to its worker thread per statement).
async fn insert_snapshots(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    rows: &[tenure_domain::HealthSnapshot],
) -> Result<u64, StoreError> {
    const ROWS: usize = 32;
    let statement = |n: usize| {
        let mut sql = String::from(
            "INSERT INTO health_snapshots (account_id, model_version, day, score, band, confidence, pillars, computed_at) VALUES ",
        );
        for i in 0..n {
            if i > 0 {
                sql.push(',');
            }
            let b = i * 8;
            sql.push_str(&format!(
                "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            ));
        }
        sql.push_str(
            " ON CONFLICT (account_id, model_version, day) DO UPDATE SET score = excluded.score, \
             band = excluded.band, confidence = excluded.confidence, pillars = excluded.pillars, \
             computed_at = excluded.computed_at",
        );
        sql
    };
    let full = statement(ROWS);
    let mut written = 0;
    for chunk in rows.chunks(ROWS) {
        let partial;
        let sql = if chunk.len() == ROWS {
            &full
        } else {
            partial = statement(chunk.len());
            &partial
        };
        let mut query = sqlx::query(sql);
        for r in chunk {
            let pillars = serde_json::to_string(&r.pillars)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            query = query
                .bind(r.account.as_str().to_owned())
                .bind(r.model_version.as_str().to_owned())
                .bind(r.day.format("%Y-%m-%d").to_string())
                .bind(r.score)
                .bind(r.band.name())
                .bind(r.confidence)
                .bind(pillars)
                .bind(tenure_domain::time::format_timestamp(&r.computed_at));
        }
        written += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(written)
}
