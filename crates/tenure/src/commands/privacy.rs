//! `tenure export` and `tenure forget`: everything Tenure holds about one person or one
//! account — store records, events in the lake and in the log, identity links — exported as
//! JSON lines, or erased. Erasure rewrites the log in place (offsets are kept, payloads
//! replaced by a tombstone), rewrites the lake's files without the rows, and removes the
//! identity links; it needs the log to itself, so the server must be stopped.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use arrow_array::{BooleanArray, RecordBatch};
use serde_json::json;
use tenure_domain::{Record, RecordKind};
use tenure_ingest::identity::Identities;
use tenure_ingest::logged::LogRecord;
use tenure_ingest::IMPORT_ORDER;
use tenure_lake::{table, EventLog, FileLog, Lake};
use tenure_store::Store;

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// Whom an export or an erasure is about.
#[derive(Debug, Clone)]
pub enum Subject {
    User(String),
    Account(String),
}

impl Subject {
    /// `user ID` or `account ID`.
    pub fn label(&self) -> String {
        match self {
            Subject::User(u) => format!("user {u}"),
            Subject::Account(a) => format!("account {a}"),
        }
    }

    pub fn from_args(user: Option<String>, account: Option<String>) -> Outcome<Subject> {
        match (user, account) {
            (Some(u), None) if !u.trim().is_empty() => Ok(Subject::User(u)),
            (None, Some(a)) if !a.trim().is_empty() => Ok(Subject::Account(a)),
            _ => Err(Failure::rejected(
                "error: name exactly one subject: --user ID or --account ID",
            )),
        }
    }
}

/// The ids and the account that single out the subject's events.
struct Matcher {
    /// User and anonymous ids (for a user: all their merged ids; for an account: the ids of
    /// people who belong to it and to no other account).
    ids: BTreeSet<String>,
    account: Option<String>,
}

impl Matcher {
    fn new(subject: &Subject, identities: &Identities) -> Matcher {
        match subject {
            Subject::User(u) => Matcher {
                ids: identities.ids_of(u),
                account: None,
            },
            Subject::Account(a) => {
                let mut ids = BTreeSet::new();
                for member in identities.members_of(a) {
                    let accounts = identities.accounts_of(&member);
                    if accounts.len() == 1 && accounts.contains_key(a) {
                        ids.extend(identities.ids_of(&member));
                    }
                }
                Matcher {
                    ids,
                    account: Some(a.clone()),
                }
            }
        }
    }

    fn record(&self, r: &LogRecord) -> bool {
        let Some(m) = &r.message else { return false };
        let id = |v: &Option<String>| v.as_ref().is_some_and(|i| self.ids.contains(i));
        id(&m.user_id)
            || id(&m.anonymous_id)
            || id(&m.previous_id)
            || (self.account.is_some() && m.account_id == self.account)
    }

    fn rows(&self, b: &RecordBatch) -> BooleanArray {
        let col = |name| table::strings(b, name);
        let (users, anons, previous, accounts) = (
            col("user_id"),
            col("anonymous_id"),
            col("previous_id"),
            col("account_id"),
        );
        let account: BTreeSet<String> = self.account.iter().cloned().collect();
        (0..b.num_rows())
            .map(|i| {
                let hit = |c: Option<&arrow_array::StringArray>, set: &BTreeSet<String>| {
                    c.is_some_and(|c| table::is_any(c, i, set))
                };
                Some(
                    hit(users, &self.ids)
                        || hit(anons, &self.ids)
                        || hit(previous, &self.ids)
                        || hit(accounts, &account),
                )
            })
            .collect()
    }

    fn store_record(&self, r: &Record) -> bool {
        r.contact().is_some_and(|c| self.ids.contains(c))
            || (self.account.is_some() && r.account() == self.account.as_deref())
    }
}

/// Every store record that concerns `matcher`'s subject.
async fn store_records(store: &dyn Store, matcher: &Matcher) -> Outcome<Vec<Record>> {
    let mut out = Vec::new();
    for kind in IMPORT_ORDER {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list(kind, after.as_deref(), 5000)
                .await
                .with_context(|| format!("reading {}", kind.name()))?;
            out.extend(page.iter().filter(|r| matcher.store_record(r)).cloned());
            match page.last() {
                Some(last) if page.len() == 5000 => after = Some(last.external_id().to_owned()),
                _ => break,
            }
        }
    }
    Ok(out)
}

pub async fn export(data_dir: &DataDir, subject: Subject, out: Option<PathBuf>) -> Outcome {
    let store = data_dir.open_store().await?;
    let (state, tail) =
        tenure_lake::current_state(&data_dir.root.join("lake"), &data_dir.root.join("log"))
            .context("reading the event lake")?;
    let matcher = Matcher::new(&subject, &state.identities);
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| {
                Failure::rejected(format!("error: cannot create {}: {e}", path.display()))
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut line = |v: serde_json::Value| -> Outcome {
        serde_json::to_writer(&mut sink, &v).context("writing the export")?;
        sink.write_all(b"\n").context("writing the export")?;
        Ok(())
    };
    let identity = match &subject {
        Subject::User(u) => json!({
            "user": u,
            "canonical_id": state.identities.canonical(u),
            "ids": matcher.ids,
            "accounts": state.identities.accounts_of(u),
            "traits": state.identities.traits_of(u),
        }),
        Subject::Account(a) => json!({
            "account": a,
            "members": state.identities.members_of(a),
            "members_of_no_other_account": matcher.ids,
        }),
    };
    line(json!({ "source": "identity", "identity": identity }))?;
    if let Subject::Account(a) = &subject {
        // `{"source": "health", "snapshot": {…}}`: the account's daily scores, every version.
        let versions = store
            .health_snapshot_versions()
            .await
            .context("reading health history")?;
        for (v, _, _, _) in versions {
            for snap in store
                .health_history(a, &v, None, None)
                .await
                .context("reading health history")?
            {
                line(json!({ "source": "health", "snapshot": snap }))?;
            }
        }
    }
    let records = store_records(store.as_ref(), &matcher).await?;
    for r in &records {
        // `{"source": "store", "kind": …, "record": {…}}`
        let mut v = serde_json::to_value(r).context("encoding a record")?;
        if let Some(o) = v.as_object_mut() {
            o.insert("source".into(), json!("store"));
        }
        line(v)?;
    }
    let batches = tenure_lake::scan_dir(&data_dir.root.join("lake"), &|b| matcher.rows(b))
        .context("reading the event lake")?;
    let mut lake_events = 0u64;
    for b in &batches {
        for i in 0..b.num_rows() {
            line(json!({ "source": "lake", "event": table::row_json(b, i) }))?;
            lake_events += 1;
        }
    }
    let mut log_events = 0u64;
    for (offset, r) in &tail {
        if matcher.record(r) {
            line(
                json!({ "source": "log", "offset": offset, "write_key": r.write_key, "event": r.message }),
            )?;
            log_events += 1;
        }
    }
    sink.flush().context("writing the export")?;
    crate::commands::users::audit_cli(
        store.as_ref(),
        chrono::Utc::now().fixed_offset(),
        "privacy.export",
        &subject.label(),
        json!({
            "store_records": records.len(),
            "lake_events": lake_events,
            "log_events": log_events,
            "to": out.as_ref().map(|p| p.display().to_string()),
        }),
    )
    .await?;
    eprintln!(
        "exported {} store records, {} events from the lake and {} not yet in it, and {} linked ids{}",
        records.len(),
        lake_events,
        log_events,
        matcher.ids.len(),
        out.map(|p| format!(" to {}", p.display())).unwrap_or_default()
    );
    Ok(())
}

pub async fn forget(data_dir: &DataDir, subject: Subject) -> Outcome {
    let store = data_dir.open_store().await?;
    let log_dir = data_dir.root.join("log");
    let log = FileLog::open(&log_dir).map_err(|e| match e {
        tenure_lake::LogError::Locked(_) => Failure::rejected(format!("error: {e}")),
        other => Failure::Runtime(anyhow::Error::new(other).context("opening the event log")),
    })?;
    let mut lake = Lake::open(&data_dir.root.join("lake")).context("opening the event lake")?;
    lake.sync(&|from, limit| log.read(from, limit))
        .context("bringing the event lake up to date")?;
    let matcher = Matcher::new(&subject, &lake.state().identities);

    let tombstone = LogRecord::forgotten().to_bytes();
    let log_records = log
        .rewrite(&|_, bytes| {
            LogRecord::parse(bytes)
                .ok()
                .filter(|r| matcher.record(r))
                .map(|_| tombstone.clone())
        })
        .context("erasing from the event log")?;
    let lake_rows = lake
        .remove_rows(&|b| matcher.rows(b))
        .context("erasing from the event lake")?;
    let mut links = 0;
    lake.update_state(|s| {
        for id in &matcher.ids {
            links += s.identities.forget_user(id).len() as u64;
        }
        if let Subject::Account(a) = &subject {
            links += s.identities.forget_account(a);
        }
    })
    .context("saving the event lake's state")?;

    // The engine's saved state holds the subject's activity: the next start replays the
    // erased log instead.
    let engine_snapshot = data_dir.root.join(crate::commands::serve::ENGINE_SNAPSHOT);
    if engine_snapshot.exists() {
        std::fs::remove_file(&engine_snapshot).context("removing the engine snapshot")?;
    }
    let mut history = 0;
    if let Subject::Account(a) = &subject {
        history = store
            .delete_account_health(a)
            .await
            .context("deleting the account's health history")?;
    }
    let records = store_records(store.as_ref(), &matcher).await?;
    let (mut deleted, mut unlinked) = (0u64, 0u64);
    // Children before parents: the reverse of import order.
    let mut ordered = records;
    ordered.sort_by_key(|r| {
        std::cmp::Reverse(
            IMPORT_ORDER
                .iter()
                .position(|k| *k == r.kind())
                .unwrap_or(0),
        )
    });
    for mut r in ordered {
        let about_account =
            matches!(&subject, Subject::Account(a) if r.account() == Some(a.as_str()));
        if about_account || matches!(r.kind(), RecordKind::Contact | RecordKind::SurveyResponse) {
            store
                .delete(r.kind(), r.external_id())
                .await
                .with_context(|| format!("deleting {} {}", r.kind().name(), r.external_id()))?;
            deleted += 1;
        } else if r.unlink_contact() {
            store
                .upsert(&r)
                .await
                .with_context(|| format!("unlinking {} {}", r.kind().name(), r.external_id()))?;
            unlinked += 1;
        }
    }
    crate::commands::users::audit_cli(
        store.as_ref(),
        chrono::Utc::now().fixed_offset(),
        "privacy.forget",
        &subject.label(),
        json!({
            "store_records_deleted": deleted,
            "log_records_erased": log_records,
            "lake_rows_removed": lake_rows.rows_removed,
        }),
    )
    .await?;
    println!("Forgot {}:", subject.label());
    println!("  store        {deleted} records deleted, {unlinked} tickets/activities kept for the account with the person's link removed, {history} daily health scores deleted");
    println!(
        "  event log    {log_records} records erased in place (offsets kept, payloads replaced by a tombstone)"
    );
    println!(
        "  event lake   {} rows removed from {} files",
        lake_rows.rows_removed, lake_rows.files_rewritten
    );
    println!("  identities   {links} ids and memberships removed");
    println!("  (aggregate data-quality counts, which name no one, are kept)");
    Ok(())
}
