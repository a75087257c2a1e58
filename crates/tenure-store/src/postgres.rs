//! The server backend: PostgreSQL, for several stateless Tenure replicas sharing one
//! operational store. Migrations and model applications take an advisory lock so replicas
//! starting together never race.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::backend::{sql_store, Placeholders};

const BACKEND: crate::Backend = crate::Backend::Postgres;

/// Serialises migrators and model appliers across replicas (the number is arbitrary but fixed).
const LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(7362550917)");

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "health_snapshots",
        sql: include_str!("../migrations/postgres/0002_health_snapshots.sql"),
    },
];

pub struct PgStore {
    pool: PgPool,
    statements: Statements,
}

impl PgStore {
    /// Connects to `url` and migrates the database.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                location: crate::redact_url(url),
                source,
            })?;
        let store = PgStore {
            pool,
            statements: Statements::new(Placeholders::Dollar),
        };
        store.migrate().await?;
        Ok(store)
    }
}

sql_store!(PgStore, sqlx::Postgres, LOCK, Placeholders::Dollar);
