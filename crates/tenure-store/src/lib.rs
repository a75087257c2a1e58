//! Tenure's operational store: accounts, contracts, tickets, surveys, activities, tasks, the
//! history of success-model versions and hashed credentials, behind one `Store` trait with two
//! backends — SQLite (embedded default, WAL, inside the data directory) and PostgreSQL (server
//! mode). Both run the same SQL text, generated from one column list per record kind, and pass
//! one conformance suite. This crate knows nothing of HTTP, Segment or scoring.

mod backend;
pub mod postgres;
pub mod record;
pub mod secret;
pub mod sqlite;
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tenure_domain::{HealthSnapshot, ModelVersion, Timestamp};

pub use record::{ColType, RowMapping, SqlValue, TableMapping};
pub use tenure_domain::{Record, RecordKind};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/database`).
    Postgres(String),
}

impl StoreLocation {
    /// Parses `--database-url`: `postgres://…`, `postgresql://…` or `sqlite:PATH`.
    pub fn parse(url: &str) -> Result<StoreLocation, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(url.to_owned()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            Ok(StoreLocation::Sqlite(PathBuf::from(path)))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// A description safe to print: passwords are replaced by `***`.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Opens (creating if needed) and migrates the store at `location`.
pub async fn open(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path).await?),
        StoreLocation::Postgres(url) => Arc::new(postgres::PgStore::open(url).await?),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("schema migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("schema migration {version} was changed after it was applied (checksum {found} in the database, {expected} in this build); restore the original migration and add a new one instead")]
    MigrationChanged {
        version: i64,
        found: String,
        expected: String,
    },
    #[error("the database has schema migration {0}, which this build of tenure does not know: it was written by a newer tenure")]
    UnknownMigration(i64),
    #[error("corrupt value in {table}.{column}: {problem}")]
    Corrupt {
        table: &'static str,
        column: String,
        problem: String,
    },
    #[error("unsupported database URL `{0}`: use postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:PATH")]
    UnsupportedUrl(String),
    #[error("{0}")]
    Invalid(String),
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    /// No record had this external id.
    Inserted,
    /// A record had this external id and at least one field changed.
    Updated,
    /// A record had this external id and every field was equal: nothing was written.
    Unchanged,
}

/// A stored success-model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub version: ModelVersion,
    /// The `tenure.toml` text as applied.
    pub source: String,
    /// The validated model as JSON.
    pub model_json: String,
    pub first_applied_at: Timestamp,
}

/// One time a model version was made current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelApplication {
    pub seq: i64,
    pub version: ModelVersion,
    pub applied_at: Timestamp,
    pub applied_by: Option<String>,
}

/// What applying a model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// The version was already the current one: nothing was recorded.
    AlreadyCurrent,
    /// The version became current; `new_version` says whether it had never been applied.
    Applied { new_version: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Full access to the REST API and administration.
    AdminToken,
    /// REST API access limited to its scopes.
    ApiToken,
    /// May only send events to the ingestion API.
    WriteKey,
}

impl CredentialKind {
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::AdminToken => "admin_token",
            CredentialKind::ApiToken => "api_token",
            CredentialKind::WriteKey => "write_key",
        }
    }

    pub fn from_name(s: &str) -> Option<CredentialKind> {
        [
            CredentialKind::AdminToken,
            CredentialKind::ApiToken,
            CredentialKind::WriteKey,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// A stored credential: never the secret itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub kind: CredentialKind,
    pub name: String,
    pub scopes: Vec<String>,
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Which accounts a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Book {
    /// The accounts they own.
    Own,
    /// The accounts they own and those of the users who report to them.
    Team,
    /// Every account.
    All,
}

impl Book {
    pub fn name(self) -> &'static str {
        match self {
            Book::Own => "own",
            Book::Team => "team",
            Book::All => "all",
        }
    }

    pub fn from_name(s: &str) -> Option<Book> {
        [Book::Own, Book::Team, Book::All]
            .into_iter()
            .find(|b| b.name() == s)
    }
}

/// A person who signs in: never the password, only its argon2id hash (`secret::password`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// Unique, lower-cased.
    pub email: String,
    pub name: Option<String>,
    pub role: tenure_domain::model::Role,
    pub book: Book,
    /// Sees personal data (contact names and emails, user ids) unmasked.
    pub pii: bool,
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    /// Whom they report to (a manager's email): a `team` book holds the accounts of the
    /// manager's direct reports.
    #[serde(default)]
    pub manager: Option<String>,
}

/// A signed-in session: the hash of its cookie's token, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: String,
    pub user_email: String,
    /// Echoed in `X-CSRF-Token` by the session's unsafe requests.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An account's success plan and sales-to-CS handoff brief.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanDocument {
    /// What the customer wants to achieve.
    pub goals: Vec<String>,
    /// How both sides will know it is achieved.
    pub success_criteria: Vec<String>,
    /// The people who matter on the customer's side, with their part.
    pub stakeholders: Vec<String>,
    pub risks: Vec<String>,
    /// What sales hands over: why they bought, what was promised, what to watch.
    pub handoff: String,
}

/// A saved success plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessPlan {
    pub account: String,
    #[serde(flatten)]
    pub document: PlanDocument,
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// Saves so far (1 after the first).
    pub revision: i64,
}

/// One line of the audit log: who did what to what, when, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its place in the log (given by the store; 0 before it is appended).
    pub seq: i64,
    pub at: Timestamp,
    /// A user's email, a credential id, or `cli` for the command line on the host.
    pub actor: String,
    /// e.g. `login`, `user.add`, `model.apply`, `privacy.export`.
    pub action: String,
    pub target: Option<String>,
    /// `ok`, `denied`, `failed` ….
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// The operational store. Every method is one transaction: it either fully happens or not at
/// all, and once it returns `Ok` the write is durable.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Checks that the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The highest schema migration applied.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Inserts the record, or updates the one with its external id; unchanged records are not
    /// written at all.
    async fn upsert(&self, record: &Record) -> Result<UpsertOutcome, StoreError>;

    /// Upserts many records in one transaction (all or nothing), in order.
    async fn upsert_many(&self, records: &[Record]) -> Result<Vec<UpsertOutcome>, StoreError>;

    async fn get(&self, kind: RecordKind, external_id: &str) -> Result<Option<Record>, StoreError>;

    /// Up to `limit` records in external-id order (bytewise), starting after `after`.
    async fn list(
        &self,
        kind: RecordKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError>;

    async fn count(&self, kind: RecordKind) -> Result<u64, StoreError>;

    /// Up to `limit` records of `kind` that belong to `account`, newest first (by the kind's
    /// own time: opened, responded, occurred, created, effective or start; then by id), by the
    /// account index. Empty for kinds without an account (accounts, releases).
    async fn of_account(
        &self,
        kind: RecordKind,
        account: &str,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError>;

    /// An account's success plan, if one was saved.
    async fn success_plan(&self, account: &str) -> Result<Option<SuccessPlan>, StoreError>;

    /// Saves a success plan over revision `expected` (0: none saved yet); false, and nothing
    /// written, when someone else saved since.
    async fn put_success_plan(
        &self,
        account: &str,
        document: &PlanDocument,
        by: &str,
        at: Timestamp,
        expected: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes one record; returns whether it existed.
    async fn delete(&self, kind: RecordKind, external_id: &str) -> Result<bool, StoreError>;

    /// Records `version` (with its source and validated JSON) and makes it current.
    async fn apply_model(
        &self,
        version: &ModelVersion,
        source: &str,
        model_json: &str,
        applied_at: Timestamp,
        applied_by: Option<&str>,
    ) -> Result<ApplyOutcome, StoreError>;

    /// The model version applied last.
    async fn current_model(&self) -> Result<Option<ModelRecord>, StoreError>;

    async fn model_version(
        &self,
        version: &ModelVersion,
    ) -> Result<Option<ModelRecord>, StoreError>;

    /// Every application, oldest first.
    async fn model_history(&self) -> Result<Vec<ModelApplication>, StoreError>;

    /// Inserts or replaces daily health snapshots (keyed by account, model version and day),
    /// in one transaction.
    async fn put_health_snapshots(&self, rows: &[HealthSnapshot]) -> Result<u64, StoreError>;

    /// One account's snapshots under one model version, by day, within `from ..= to`.
    async fn health_history(
        &self,
        account: &str,
        model_version: &ModelVersion,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<HealthSnapshot>, StoreError>;

    /// Removes every snapshot of one model version; returns how many.
    async fn delete_health_snapshots(
        &self,
        model_version: &ModelVersion,
    ) -> Result<u64, StoreError>;

    /// Removes every snapshot of one account (a privacy request); returns how many.
    async fn delete_account_health(&self, account: &str) -> Result<u64, StoreError>;

    /// The model versions with snapshots, each with its row count and first and last day.
    async fn health_snapshot_versions(
        &self,
    ) -> Result<Vec<(ModelVersion, u64, NaiveDate, NaiveDate)>, StoreError>;

    async fn insert_credential(&self, credential: &Credential) -> Result<(), StoreError>;

    /// The credential whose secret hashes to `secret_hash`, revoked or not.
    async fn credential_by_hash(&self, secret_hash: &str)
        -> Result<Option<Credential>, StoreError>;

    /// Every credential, oldest first.
    async fn credentials(&self) -> Result<Vec<Credential>, StoreError>;

    /// Revokes a credential; returns false when there is no such unrevoked credential.
    async fn revoke_credential(&self, id: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Adds a user; false (and nothing written) when the email is taken.
    async fn insert_user(&self, user: &User) -> Result<bool, StoreError>;

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Every user, by email.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Sets whom a user reports to (`None`: nobody); false when there is no such user.
    async fn set_manager(&self, email: &str, manager: Option<&str>) -> Result<bool, StoreError>;

    /// The users who report to `manager`, by email.
    async fn reports_of(&self, manager: &str) -> Result<Vec<User>, StoreError>;

    /// Disables a user; false when there is no such enabled user.
    async fn disable_user(&self, email: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Replaces a user's password hash; false when there is no such user.
    async fn set_password_hash(&self, email: &str, hash: &str) -> Result<bool, StoreError>;

    /// Appends an entry to the audit log; returns its place.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;

    /// Up to `limit` audit entries after place `after`, oldest first.
    async fn audit_log(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session whose token hashes to `token_hash`, expired or not.
    async fn session_by_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError>;

    /// Ends a session; false when there was none.
    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_redact() {
        assert_eq!(
            StoreLocation::parse("sqlite:data/tenure.db").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("data/tenure.db"))
        );
        let pg = StoreLocation::parse("postgres://tenure:hunter2@db:5432/tenure").unwrap();
        assert_eq!(pg.describe(), "postgres://tenure:***@db:5432/tenure");
        let err = StoreLocation::parse("mysql://root:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mysql://root:***@h/db") && !err.contains("pw@"),
            "{err}"
        );
        assert!(StoreLocation::parse("sqlite:").is_err());
    }
}
