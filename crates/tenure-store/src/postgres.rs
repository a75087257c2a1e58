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
    Migration {
        version: 3,
        name: "users_audit",
        sql: include_str!("../migrations/postgres/0003_users_audit.sql"),
    },
    Migration {
        version: 4,
        name: "sessions",
        sql: include_str!("../migrations/postgres/0004_sessions.sql"),
    },
    Migration {
        version: 5,
        name: "success_plans",
        sql: include_str!("../migrations/postgres/0005_success_plans.sql"),
    },
    Migration {
        version: 6,
        name: "user_managers",
        sql: include_str!("../migrations/postgres/0006_user_managers.sql"),
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

/// Daily health snapshots, 10,000 rows a statement: each column bound as one array and
/// unnested, so a statement carries eight parameters whatever its size.
async fn insert_snapshots(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &[tenure_domain::HealthSnapshot],
) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in rows.chunks(10_000) {
        let mut cols: [Vec<String>; 6] = Default::default();
        let (mut scores, mut confidences) = (Vec::new(), Vec::new());
        for r in chunk {
            cols[0].push(r.account.as_str().to_owned());
            cols[1].push(r.model_version.as_str().to_owned());
            cols[2].push(r.day.format("%Y-%m-%d").to_string());
            cols[3].push(r.band.name().to_owned());
            cols[4].push(
                serde_json::to_string(&r.pillars)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            cols[5].push(tenure_domain::time::format_timestamp(&r.computed_at));
            scores.push(r.score);
            confidences.push(r.confidence);
        }
        let [account, version, day, band, pillars, at] = cols;
        written += sqlx::query(
            "INSERT INTO health_snapshots (account_id, model_version, day, score, band, confidence, pillars, computed_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::float8[], $7::text[], $8::text[]) \
             ON CONFLICT (account_id, model_version, day) DO UPDATE SET score = excluded.score, \
             band = excluded.band, confidence = excluded.confidence, pillars = excluded.pillars, \
             computed_at = excluded.computed_at",
        )
        .bind(account)
        .bind(version)
        .bind(day)
        .bind(scores)
        .bind(band)
        .bind(confidences)
        .bind(pillars)
        .bind(at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(written)
}
