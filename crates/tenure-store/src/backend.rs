//! The one implementation of `Store`, shared by both backends. SQL is generated once per
//! record kind from its column list with `$n` placeholders (PostgreSQL's); SQLite receives
//! the same text with `?n`, which SQLite reads as the same numbered parameters. The
//! `sql_store!` macro instantiates the implementation for one sqlx driver.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::record::TableMapping;
use tenure_domain::RecordKind;

/// One schema migration: applied once, in order, inside a transaction, and checksummed so an
/// edited migration is detected instead of silently diverging.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Placeholder style of a backend.
#[derive(Clone, Copy)]
pub(crate) enum Placeholders {
    Dollar,
    Question,
}

impl Placeholders {
    /// Rewrites `$n` placeholders for the backend. Generated SQL contains `$` nowhere else.
    pub fn apply(self, sql: String) -> String {
        match self {
            Placeholders::Dollar => sql,
            Placeholders::Question => sql.replace('$', "?"),
        }
    }
}

/// The per-kind statements, generated once when a store opens.
pub(crate) struct Statements {
    style: Placeholders,
    pub upsert: HashMap<RecordKind, String>,
    /// `ON CONFLICT … RETURNING external_id, revision`: what follows the VALUES of a
    /// multi-row upsert.
    upsert_tail: HashMap<RecordKind, String>,
    pub get: HashMap<RecordKind, String>,
    pub list_from_start: HashMap<RecordKind, String>,
    pub list_after: HashMap<RecordKind, String>,
    pub count: HashMap<RecordKind, String>,
    pub delete: HashMap<RecordKind, String>,
    /// By the account index, for the kinds that have one.
    pub of_account: HashMap<RecordKind, String>,
}

impl Statements {
    pub fn new(style: Placeholders) -> Statements {
        let mut s = Statements {
            style,
            upsert: HashMap::new(),
            upsert_tail: HashMap::new(),
            get: HashMap::new(),
            list_from_start: HashMap::new(),
            list_after: HashMap::new(),
            count: HashMap::new(),
            delete: HashMap::new(),
            of_account: HashMap::new(),
        };
        for kind in RecordKind::ALL {
            let table = kind.table();
            let cols: Vec<&str> = kind.columns().iter().map(|c| c.0).collect();
            let all = std::iter::once("external_id")
                .chain(cols.iter().copied())
                .collect::<Vec<_>>();
            let select = all.join(", ");
            let params = (1..=all.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let set = cols
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let changed = cols
                .iter()
                .map(|c| format!("{table}.{c} IS DISTINCT FROM excluded.{c}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            // The WHERE makes an identical re-import write nothing; RETURNING tells inserts
            // (revision 1) from updates (revision > 1), and returns no row when unchanged.
            let upsert = format!(
                "INSERT INTO {table} ({select}) VALUES ({params}) \
                 ON CONFLICT (external_id) DO UPDATE SET {set}, revision = {table}.revision + 1 \
                 WHERE {changed} RETURNING revision"
            );
            s.upsert.insert(kind, style.apply(upsert));
            s.upsert_tail.insert(
                kind,
                format!(
                    " ON CONFLICT (external_id) DO UPDATE SET {set}, revision = {table}.revision + 1 \
                     WHERE {changed} RETURNING external_id, revision"
                ),
            );
            s.get.insert(
                kind,
                style.apply(format!(
                    "SELECT {select} FROM {table} WHERE external_id = $1"
                )),
            );
            s.list_from_start.insert(
                kind,
                style.apply(format!(
                    "SELECT {select} FROM {table} ORDER BY external_id LIMIT $1"
                )),
            );
            s.list_after.insert(
                kind,
                style.apply(format!("SELECT {select} FROM {table} WHERE external_id > $1 ORDER BY external_id LIMIT $2")),
            );
            s.count
                .insert(kind, format!("SELECT COUNT(*) FROM {table}"));
            if cols.contains(&"account_id") {
                // Newest first, by the kind's own time (RFC 3339 text, or a date), then id.
                let time = match kind {
                    RecordKind::Contact => "created_at",
                    RecordKind::Subscription => "start_date",
                    RecordKind::SubscriptionChange => "effective_date",
                    RecordKind::Ticket => "opened_at",
                    RecordKind::SurveyResponse => "responded_at",
                    RecordKind::Activity => "occurred_at",
                    RecordKind::Task => "created_at",
                    RecordKind::Account | RecordKind::Release => "external_id",
                };
                s.of_account.insert(
                    kind,
                    style.apply(format!(
                        "SELECT {select} FROM {table} WHERE account_id = $1 \
                         ORDER BY {time} DESC, external_id LIMIT $2"
                    )),
                );
            }
            s.delete.insert(
                kind,
                style.apply(format!("DELETE FROM {table} WHERE external_id = $1")),
            );
        }
        s
    }

    /// A multi-row upsert of `rows` records of `kind`: the rows that were inserted or changed
    /// come back with their revision; unchanged rows do not come back at all.
    pub fn upsert_rows(&self, kind: RecordKind, rows: usize) -> String {
        let table = kind.table();
        let width = kind.columns().len() + 1;
        let cols = std::iter::once("external_id")
            .chain(kind.columns().iter().map(|c| c.0))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("INSERT INTO {table} ({cols}) VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", r * width + c + 1));
            }
            sql.push(')');
        }
        sql.push_str(&self.upsert_tail[&kind]);
        self.style.apply(sql)
    }
}

/// Bound parameters per statement, under both SQLite's (32,766) and PostgreSQL's (65,535) limits.
const MAX_PARAMS: usize = 30_000;
/// Rows per multi-row statement. Measured on the demo company's import: 24 to 64 rows per
/// statement import twice as fast as one row per statement on SQLite (five times on
/// PostgreSQL), while 500 rows is three times slower than 64 — sqlx's SQLite driver looks up
/// every parameter by name, so a statement's cost grows faster than its size.
const MAX_ROWS: usize = 32;

/// Splits `records` into runs that one multi-row upsert can take: one kind, no external id
/// twice (a statement may not update the same row twice), and within the parameter limit.
pub(crate) fn upsert_chunks(records: &[tenure_domain::Record]) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut ids = std::collections::HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let kind = records[start].kind();
        let width = kind.columns().len() + 1;
        let full = i - start >= MAX_ROWS.min(MAX_PARAMS / width);
        if i > start && (record.kind() != kind || full || ids.contains(record.external_id())) {
            chunks.push(start..i);
            start = i;
            ids.clear();
        }
        ids.insert(record.external_id());
    }
    if start < records.len() {
        chunks.push(start..records.len());
    }
    chunks
}

/// Implements `Store` for `$store` (which has fields `pool` and `statements`) on sqlx driver
/// `$db`. `$lock` is SQL run first in the migration transaction to serialise concurrent
/// migrators, or `None`; `$style` is the placeholder style.
macro_rules! sql_store {
    ($store:ident, $db:ty, $lock:expr, $style:expr) => {
        use async_trait::async_trait;
        use sqlx::{Row as _, Executor as _};
        use tenure_domain::time::{format_timestamp, parse_timestamp};
        use tenure_domain::{ModelVersion, Timestamp};

        use crate::backend::{checksum, Migration, Statements};
        use crate::record::{ColType, RowMapping, SqlValue, TableMapping};
        use tenure_domain::{Record, RecordKind};
        use crate::{
            ApplyOutcome, AuditEntry, Book, Credential, CredentialKind, ModelApplication,
            ModelRecord, PlanDocument, Session, Store, StoreError, SuccessPlan, UpsertOutcome, User,
        };

        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;
        type DbRow = <$db as sqlx::Database>::Row;

        fn q(sql: &str) -> String {
            $style.apply(sql.to_owned())
        }

        fn bind<'q>(query: Query<'q>, value: &'q SqlValue) -> Query<'q> {
            match value {
                SqlValue::Text(v) => query.bind(v.as_deref()),
                SqlValue::Int(v) => query.bind(*v),
                SqlValue::Real(v) => query.bind(*v),
                SqlValue::Bool(v) => query.bind(*v),
            }
        }

        fn read_row(kind: RecordKind, row: &DbRow) -> Result<Record, StoreError> {
            let mut values = Vec::with_capacity(kind.columns().len() + 1);
            values.push(SqlValue::Text(row.try_get::<Option<String>, _>(0)?));
            for (i, (_, t)) in kind.columns().iter().enumerate() {
                let i = i + 1;
                values.push(match t {
                    ColType::Text => SqlValue::Text(row.try_get(i)?),
                    ColType::Int => SqlValue::Int(row.try_get(i)?),
                    ColType::Real => SqlValue::Real(row.try_get(i)?),
                    ColType::Bool => SqlValue::Bool(row.try_get(i)?),
                });
            }
            Record::from_row(kind, values)
        }

        fn corrupt(table: &'static str, column: &str, problem: impl ToString) -> StoreError {
            StoreError::Corrupt { table, column: column.to_owned(), problem: problem.to_string() }
        }

        fn ts(table: &'static str, column: &str, s: &str) -> Result<Timestamp, StoreError> {
            parse_timestamp(s).map_err(|e| corrupt(table, column, e))
        }

        fn version(table: &'static str, s: &str) -> Result<ModelVersion, StoreError> {
            ModelVersion::parse(s).map_err(|e| corrupt(table, "version", e))
        }

        fn date(table: &'static str, column: &str, s: &str) -> Result<chrono::NaiveDate, StoreError> {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt(table, column, e))
        }

        fn read_snapshot(row: &DbRow) -> Result<tenure_domain::HealthSnapshot, StoreError> {
            let t = "health_snapshots";
            let account: String = row.try_get(0)?;
            let v: String = row.try_get(1)?;
            let day: String = row.try_get(2)?;
            let band: String = row.try_get(4)?;
            let pillars: String = row.try_get(6)?;
            let at: String = row.try_get(7)?;
            Ok(tenure_domain::HealthSnapshot {
                account: tenure_domain::AccountId::parse(account).map_err(|e| corrupt(t, "account_id", e))?,
                model_version: version(t, &v)?,
                day: date(t, "day", &day)?,
                score: row.try_get(3)?,
                band: tenure_domain::model::Band::from_name(&band)
                    .ok_or_else(|| corrupt(t, "band", format!("`{band}` is not green, amber or red")))?,
                confidence: row.try_get(5)?,
                pillars: serde_json::from_str(&pillars).map_err(|e| corrupt(t, "pillars", e))?,
                computed_at: ts(t, "computed_at", &at)?,
            })
        }

        fn read_model(row: &DbRow) -> Result<ModelRecord, StoreError> {
            let v: String = row.try_get(0)?;
            let at: String = row.try_get(3)?;
            Ok(ModelRecord {
                version: version("model_versions", &v)?,
                source: row.try_get(1)?,
                model_json: row.try_get(2)?,
                first_applied_at: ts("model_versions", "first_applied_at", &at)?,
            })
        }

        fn read_credential(row: &DbRow) -> Result<Credential, StoreError> {
            let kind: String = row.try_get(1)?;
            let scopes: String = row.try_get(3)?;
            let created: String = row.try_get(5)?;
            let revoked: Option<String> = row.try_get(6)?;
            Ok(Credential {
                id: row.try_get(0)?,
                kind: CredentialKind::from_name(&kind)
                    .ok_or_else(|| corrupt("credentials", "kind", format!("unknown kind `{kind}`")))?,
                name: row.try_get(2)?,
                scopes: serde_json::from_str(&scopes).map_err(|e| corrupt("credentials", "scopes", e))?,
                secret_hash: row.try_get(4)?,
                created_at: ts("credentials", "created_at", &created)?,
                revoked_at: revoked.map(|r| ts("credentials", "revoked_at", &r)).transpose()?,
            })
        }

        const CREDENTIAL_COLUMNS: &str = "id, kind, name, scopes, secret_hash, created_at, revoked_at";

        const USER_COLUMNS: &str =
            "id, email, name, role, book, pii, password_hash, created_at, disabled_at, manager";

        fn read_user(row: &DbRow) -> Result<User, StoreError> {
            let role: String = row.try_get(3)?;
            let book: String = row.try_get(4)?;
            let created: String = row.try_get(7)?;
            let disabled: Option<String> = row.try_get(8)?;
            Ok(User {
                id: row.try_get(0)?,
                email: row.try_get(1)?,
                name: row.try_get(2)?,
                role: tenure_domain::model::Role::from_name(&role)
                    .ok_or_else(|| corrupt("users", "role", format!("unknown role `{role}`")))?,
                book: Book::from_name(&book)
                    .ok_or_else(|| corrupt("users", "book", format!("unknown book `{book}`")))?,
                pii: row.try_get(5)?,
                password_hash: row.try_get(6)?,
                created_at: ts("users", "created_at", &created)?,
                disabled_at: disabled.map(|d| ts("users", "disabled_at", &d)).transpose()?,
                manager: row.try_get(9)?,
            })
        }

        fn read_audit(row: &DbRow) -> Result<AuditEntry, StoreError> {
            let at: String = row.try_get(1)?;
            let detail: String = row.try_get(6)?;
            Ok(AuditEntry {
                seq: row.try_get(0)?,
                at: ts("audit_log", "at", &at)?,
                actor: row.try_get(2)?,
                action: row.try_get(3)?,
                target: row.try_get(4)?,
                outcome: row.try_get(5)?,
                detail: serde_json::from_str(&detail).map_err(|e| corrupt("audit_log", "detail", e))?,
            })
        }

        async fn upsert_in<'c, E>(statements: &Statements, executor: E, record: &Record) -> Result<UpsertOutcome, StoreError>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            let kind = record.kind();
            let row = record.to_row();
            let mut query = sqlx::query(&statements.upsert[&kind]);
            for value in &row {
                query = bind(query, value);
            }
            let revision: Option<i64> = query.fetch_optional(executor).await?.map(|r| r.try_get(0)).transpose()?;
            Ok(match revision {
                None => UpsertOutcome::Unchanged,
                Some(1) => UpsertOutcome::Inserted,
                Some(_) => UpsertOutcome::Updated,
            })
        }

        impl $store {
            /// Applies every schema migration not yet applied, in order, each in a transaction.
            pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                if let Some(lock) = $lock {
                    tx.execute(lock).await?;
                }
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS tenure_migrations (\
                       version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
                )
                .await?;
                let applied: Vec<(i64, String)> = sqlx::query_as("SELECT version, checksum FROM tenure_migrations ORDER BY version")
                    .fetch_all(&mut *tx)
                    .await?;
                let known: &[Migration] = MIGRATIONS;
                for (version, found) in &applied {
                    match known.iter().find(|m| m.version == *version) {
                        None => return Err(StoreError::UnknownMigration(*version)),
                        Some(m) => {
                            let expected = checksum(m.sql);
                            if *found != expected {
                                return Err(StoreError::MigrationChanged { version: *version, found: found.clone(), expected });
                            }
                        }
                    }
                }
                for m in known.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)) {
                    sqlx::raw_sql(m.sql)
                        .execute(&mut *tx)
                        .await
                        .map_err(|source| StoreError::Migration { version: m.version, name: m.name, source })?;
                    sqlx::query(&q("INSERT INTO tenure_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"))
                        .bind(m.version)
                        .bind(m.name)
                        .bind(checksum(m.sql))
                        .bind(format_timestamp(&chrono::Utc::now().fixed_offset()))
                        .execute(&mut *tx)
                        .await?;
                    tracing::info!(version = m.version, name = m.name, "applied schema migration");
                }
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> crate::Backend {
                BACKEND
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn schema_version(&self) -> Result<i64, StoreError> {
                let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM tenure_migrations")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(v.unwrap_or(0))
            }

            async fn upsert(&self, record: &Record) -> Result<UpsertOutcome, StoreError> {
                upsert_in(&self.statements, &self.pool, record).await
            }

            async fn upsert_many(&self, records: &[Record]) -> Result<Vec<UpsertOutcome>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut out = Vec::with_capacity(records.len());
                for chunk in crate::backend::upsert_chunks(records) {
                    let chunk = &records[chunk];
                    let kind = chunk[0].kind();
                    let sql = self.statements.upsert_rows(kind, chunk.len());
                    let rows: Vec<Vec<SqlValue>> = chunk.iter().map(RowMapping::to_row).collect();
                    let mut query = sqlx::query(&sql);
                    for value in rows.iter().flatten() {
                        query = bind(query, value);
                    }
                    let written: std::collections::HashMap<String, i64> = query
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                        .collect::<Result<_, sqlx::Error>>()?;
                    out.extend(chunk.iter().map(|record| match written.get(record.external_id()) {
                        None => UpsertOutcome::Unchanged,
                        Some(1) => UpsertOutcome::Inserted,
                        Some(_) => UpsertOutcome::Updated,
                    }));
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn get(&self, kind: RecordKind, external_id: &str) -> Result<Option<Record>, StoreError> {
                let row = sqlx::query(&self.statements.get[&kind])
                    .bind(external_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| read_row(kind, &r)).transpose()
            }

            async fn list(&self, kind: RecordKind, after: Option<&str>, limit: u32) -> Result<Vec<Record>, StoreError> {
                let rows = match after {
                    None => sqlx::query(&self.statements.list_from_start[&kind])
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                    Some(after) => sqlx::query(&self.statements.list_after[&kind])
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                };
                rows.iter().map(|r| read_row(kind, r)).collect()
            }

            async fn count(&self, kind: RecordKind) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(&self.statements.count[&kind]).fetch_one(&self.pool).await?;
                Ok(n.max(0) as u64)
            }

            async fn of_account(&self, kind: RecordKind, account: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
                let Some(sql) = self.statements.of_account.get(&kind) else {
                    return Ok(Vec::new());
                };
                let rows = sqlx::query(sql)
                    .bind(account)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| read_row(kind, r)).collect()
            }

            async fn success_plan(&self, account: &str) -> Result<Option<SuccessPlan>, StoreError> {
                let row = sqlx::query(&q(
                    "SELECT document, updated_at, updated_by, revision FROM success_plans WHERE account_id = $1",
                ))
                .bind(account)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let document: String = row.try_get(0)?;
                let at: String = row.try_get(1)?;
                Ok(Some(SuccessPlan {
                    account: account.to_owned(),
                    document: serde_json::from_str(&document).map_err(|e| {
                        StoreError::Invalid(format!("success_plans.document of {account}: {e}"))
                    })?,
                    updated_at: ts("success_plans", "updated_at", &at)?,
                    updated_by: row.try_get(2)?,
                    revision: row.try_get(3)?,
                }))
            }

            async fn put_success_plan(
                &self,
                account: &str,
                document: &PlanDocument,
                by: &str,
                at: Timestamp,
                expected: i64,
            ) -> Result<bool, StoreError> {
                let json = serde_json::to_string(document)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                let done = if expected == 0 {
                    sqlx::query(&q(
                        "INSERT INTO success_plans (account_id, document, updated_at, updated_by, revision) \
                         VALUES ($1, $2, $3, $4, 1) ON CONFLICT (account_id) DO NOTHING",
                    ))
                    .bind(account)
                    .bind(&json)
                    .bind(format_timestamp(&at))
                    .bind(by)
                    .execute(&self.pool)
                    .await?
                } else {
                    sqlx::query(&q(
                        "UPDATE success_plans SET document = $1, updated_at = $2, updated_by = $3, \
                         revision = revision + 1 WHERE account_id = $4 AND revision = $5",
                    ))
                    .bind(&json)
                    .bind(format_timestamp(&at))
                    .bind(by)
                    .bind(account)
                    .bind(expected)
                    .execute(&self.pool)
                    .await?
                };
                Ok(done.rows_affected() > 0)
            }

            async fn delete(&self, kind: RecordKind, external_id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(&self.statements.delete[&kind])
                    .bind(external_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn apply_model(
                &self,
                version: &ModelVersion,
                source: &str,
                model_json: &str,
                applied_at: Timestamp,
                applied_by: Option<&str>,
            ) -> Result<ApplyOutcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                if let Some(lock) = $lock {
                    tx.execute(lock).await?;
                }
                let at = format_timestamp(&applied_at);
                let inserted = sqlx::query(&q(
                    "INSERT INTO model_versions (version, source, model_json, first_applied_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (version) DO NOTHING",
                ))
                .bind(version.as_str())
                .bind(source)
                .bind(model_json)
                .bind(&at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                let current: Option<String> =
                    sqlx::query_scalar("SELECT version FROM model_applications ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                if current.as_deref() == Some(version.as_str()) {
                    tx.commit().await?;
                    return Ok(ApplyOutcome::AlreadyCurrent);
                }
                sqlx::query(&q("INSERT INTO model_applications (version, applied_at, applied_by) VALUES ($1, $2, $3)"))
                    .bind(version.as_str())
                    .bind(&at)
                    .bind(applied_by)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ApplyOutcome::Applied { new_version: inserted })
            }

            async fn current_model(&self) -> Result<Option<ModelRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT v.version, v.source, v.model_json, v.first_applied_at FROM model_versions v \
                     JOIN model_applications a ON a.version = v.version ORDER BY a.seq DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| read_model(&r)).transpose()
            }

            async fn model_version(&self, version: &ModelVersion) -> Result<Option<ModelRecord>, StoreError> {
                let row = sqlx::query(&q(
                    "SELECT version, source, model_json, first_applied_at FROM model_versions WHERE version = $1",
                ))
                .bind(version.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| read_model(&r)).transpose()
            }

            async fn model_history(&self) -> Result<Vec<ModelApplication>, StoreError> {
                let rows = sqlx::query("SELECT seq, version, applied_at, applied_by FROM model_applications ORDER BY seq")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let v: String = r.try_get(1)?;
                        let at: String = r.try_get(2)?;
                        Ok(ModelApplication {
                            seq: r.try_get(0)?,
                            version: version("model_applications", &v)?,
                            applied_at: ts("model_applications", "applied_at", &at)?,
                            applied_by: r.try_get(3)?,
                        })
                    })
                    .collect()
            }

            async fn put_health_snapshots(&self, rows: &[tenure_domain::HealthSnapshot]) -> Result<u64, StoreError> {
                // Each backend's fastest bulk path (see `insert_snapshots` in its module).
                let mut tx = self.pool.begin().await?;
                let written = insert_snapshots(&mut tx, rows).await?;
                tx.commit().await?;
                Ok(written)
            }

            async fn health_history(
                &self,
                account: &str,
                model_version: &ModelVersion,
                from: Option<chrono::NaiveDate>,
                to: Option<chrono::NaiveDate>,
            ) -> Result<Vec<tenure_domain::HealthSnapshot>, StoreError> {
                let rows = sqlx::query(&q(
                    "SELECT account_id, model_version, day, score, band, confidence, pillars, computed_at \
                     FROM health_snapshots WHERE account_id = $1 AND model_version = $2 AND day >= $3 AND day <= $4 \
                     ORDER BY day",
                ))
                .bind(account)
                .bind(model_version.as_str())
                .bind(from.map_or("0000-01-01".to_owned(), |d| d.format("%Y-%m-%d").to_string()))
                .bind(to.map_or("9999-12-31".to_owned(), |d| d.format("%Y-%m-%d").to_string()))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(read_snapshot).collect()
            }

            async fn delete_health_snapshots(&self, model_version: &ModelVersion) -> Result<u64, StoreError> {
                let done = sqlx::query(&q("DELETE FROM health_snapshots WHERE model_version = $1"))
                    .bind(model_version.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn delete_account_health(&self, account: &str) -> Result<u64, StoreError> {
                let done = sqlx::query(&q("DELETE FROM health_snapshots WHERE account_id = $1"))
                    .bind(account)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn health_snapshot_versions(
                &self,
            ) -> Result<Vec<(ModelVersion, u64, chrono::NaiveDate, chrono::NaiveDate)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT model_version, COUNT(*), MIN(day), MAX(day) FROM health_snapshots \
                     GROUP BY model_version ORDER BY model_version",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let v: String = r.try_get(0)?;
                        let n: i64 = r.try_get(1)?;
                        let from: String = r.try_get(2)?;
                        let to: String = r.try_get(3)?;
                        Ok((
                            version("health_snapshots", &v)?,
                            n as u64,
                            date("health_snapshots", "day", &from)?,
                            date("health_snapshots", "day", &to)?,
                        ))
                    })
                    .collect()
            }

            async fn insert_credential(&self, c: &Credential) -> Result<(), StoreError> {
                sqlx::query(&q(
                    "INSERT INTO credentials (id, kind, name, scopes, secret_hash, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                ))
                .bind(&c.id)
                .bind(c.kind.name())
                .bind(&c.name)
                .bind(serde_json::to_string(&c.scopes).map_err(|e| StoreError::Invalid(e.to_string()))?)
                .bind(&c.secret_hash)
                .bind(format_timestamp(&c.created_at))
                .bind(c.revoked_at.as_ref().map(format_timestamp))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn credential_by_hash(&self, secret_hash: &str) -> Result<Option<Credential>, StoreError> {
                let row = sqlx::query(&q(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE secret_hash = $1")))
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| read_credential(&r)).transpose()
            }

            async fn credentials(&self) -> Result<Vec<Credential>, StoreError> {
                let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(read_credential).collect()
            }

            async fn revoke_credential(&self, id: &str, at: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(&q("UPDATE credentials SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"))
                    .bind(format_timestamp(&at))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_user(&self, u: &User) -> Result<bool, StoreError> {
                let done = sqlx::query(&q(&format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (email) DO NOTHING"
                )))
                .bind(&u.id)
                .bind(&u.email)
                .bind(&u.name)
                .bind(u.role.name())
                .bind(u.book.name())
                .bind(u.pii)
                .bind(&u.password_hash)
                .bind(format_timestamp(&u.created_at))
                .bind(u.disabled_at.as_ref().map(format_timestamp))
                .bind(&u.manager)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_manager(&self, email: &str, manager: Option<&str>) -> Result<bool, StoreError> {
                let done = sqlx::query(&q("UPDATE users SET manager = $1 WHERE email = $2"))
                    .bind(manager)
                    .bind(email)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn reports_of(&self, manager: &str) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query(&q(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE manager = $1 ORDER BY email"
                )))
                .bind(manager)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(read_user).collect()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
                let row = sqlx::query(&q(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| read_user(&r)).transpose()
            }

            async fn users(&self) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(read_user).collect()
            }

            async fn disable_user(&self, email: &str, at: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(&q("UPDATE users SET disabled_at = $1 WHERE email = $2 AND disabled_at IS NULL"))
                    .bind(format_timestamp(&at))
                    .bind(email)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_password_hash(&self, email: &str, hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(&q("UPDATE users SET password_hash = $1 WHERE email = $2"))
                    .bind(hash)
                    .bind(email)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn append_audit(&self, e: &AuditEntry) -> Result<i64, StoreError> {
                let seq: i64 = sqlx::query_scalar(&q(
                    "INSERT INTO audit_log (at, actor, action, target, outcome, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                ))
                .bind(format_timestamp(&e.at))
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.outcome)
                .bind(e.detail.to_string())
                .fetch_one(&self.pool)
                .await?;
                Ok(seq)
            }

            async fn insert_session(&self, x: &Session) -> Result<(), StoreError> {
                sqlx::query(&q(
                    "INSERT INTO sessions (token_hash, user_email, csrf_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                ))
                .bind(&x.token_hash)
                .bind(&x.user_email)
                .bind(&x.csrf_token)
                .bind(format_timestamp(&x.created_at))
                .bind(format_timestamp(&x.expires_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session_by_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
                let row = sqlx::query(&q(
                    "SELECT token_hash, user_email, csrf_token, created_at, expires_at FROM sessions \
                     WHERE token_hash = $1",
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let created: String = row.try_get(3)?;
                let expires: String = row.try_get(4)?;
                Ok(Some(Session {
                    token_hash: row.try_get(0)?,
                    user_email: row.try_get(1)?,
                    csrf_token: row.try_get(2)?,
                    created_at: ts("sessions", "created_at", &created)?,
                    expires_at: ts("sessions", "expires_at", &expires)?,
                }))
            }

            async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(&q("DELETE FROM sessions WHERE token_hash = $1"))
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn audit_log(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
                let rows = sqlx::query(&q(
                    "SELECT seq, at, actor, action, target, outcome, detail FROM audit_log \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                ))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(read_audit).collect()
            }
        }
    };
}

pub(crate) use sql_store;
