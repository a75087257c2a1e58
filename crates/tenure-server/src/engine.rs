//! The engine beside the server: it tails the event log (woken by every acknowledged write),
//! folds the store's records in (re-read every minute, and on demand), re-scores what changed,
//! writes a daily snapshot of every account to the store when a day ends, and rebuilds itself
//! when the success model changes. Readers get the current scores without waiting for IO.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tenure_domain::{HealthSnapshot, Record, RecordKind, SuccessModel};
use tenure_engine::day::Micros;
use tenure_engine::{AccountView, Engine, EventSignal, Partition, Plan, Signal, Summary};
use tenure_ingest::logged::LogRecord;
use tenure_ingest::segment::MessageType;
use tenure_lake::{EventLog, Offset};
use tenure_store::{Store, StoreError};

/// Record kinds that carry features (and releases, which playbooks fire on).
pub const ENGINE_RECORDS: [RecordKind; 7] = [
    RecordKind::Account,
    RecordKind::Subscription,
    RecordKind::SubscriptionChange,
    RecordKind::Ticket,
    RecordKind::SurveyResponse,
    RecordKind::Activity,
    RecordKind::Release,
];

/// How long after the last old event (more than a day old) playbooks stay off: a backlog
/// being sent in batches is over once none has come for this long.
pub const BACKLOG_QUIET_MICROS: Micros = 10_000_000;

/// Log records read per step while catching up.
const READ_CHUNK: usize = 20_000;

pub struct EngineService {
    inner: Mutex<Inner>,
    log: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    wake: tokio::sync::Notify,
    snapshot_path: Option<PathBuf>,
    /// Where playbook webhooks, emails and survey requests go (`set_outreach`); none: they
    /// are not sent.
    outreach: std::sync::OnceLock<Arc<crate::outreach::Outreach>>,
}

struct Inner {
    engine: Engine,
    /// Every log record below this offset is folded in.
    next_offset: Offset,
    /// The account of each user, from `group` calls, for events that name none.
    memberships: HashMap<String, String>,
    /// Scores written to the store as daily snapshots, waiting for the store.
    pending: Vec<HealthSnapshot>,
    /// Playbook tasks waiting to be written to the store.
    tasks: Vec<tenure_domain::Task>,
    /// Playbook webhooks waiting to be put in the outbox.
    webhooks: Vec<crate::outbox::Message>,
    /// Playbook emails and survey requests waiting for their recipients.
    outreach: Vec<crate::outreach::Pending>,
    /// When a chunk with old events was last folded in (playbooks wait: `catch_up`).
    backlog_seen_at: Option<Micros>,
    /// A fingerprint of each account's store records as last folded in (keyed by a hash of
    /// the account id; releases under the empty id), so that the minute-by-minute fold
    /// re-applies only the accounts whose records changed.
    folded: HashMap<u64, u64>,
}

/// Why playbook messages could not be queued yet.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the outbox cannot be written: {0}")]
    Disk(#[from] std::io::Error),
    #[error("the contacts cannot be read: {0}")]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct Saved {
    next_offset: Offset,
    memberships: HashMap<String, String>,
    #[serde(with = "serde_bytes_as_string")]
    engine: Vec<u8>,
}

mod serde_bytes_as_string {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(b).unwrap_or("{}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// The store's current success model (the default model when none was applied).
pub async fn current_model(store: &dyn Store) -> Result<SuccessModel, StoreError> {
    Ok(store
        .current_model()
        .await?
        .and_then(|m| serde_json::from_str::<SuccessModel>(&m.model_json).ok())
        .unwrap_or_else(SuccessModel::default_model))
}

/// Every record of the kinds the engine reads.
pub async fn engine_records(store: &dyn Store) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    for kind in ENGINE_RECORDS {
        let mut after: Option<String> = None;
        loop {
            let page = store.list(kind, after.as_deref(), 5000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.external_id().to_owned());
            let n = page.len();
            out.extend(page);
            if n < 5000 {
                break;
            }
        }
    }
    Ok(out)
}

/// Store records applied per hold of the engine's lock when folding the store in.
const RECORDS_PER_LOCK: usize = 5_000;

impl EngineService {
    /// An engine for the store's current model, restored from `snapshot_path` when that holds
    /// one saved under the same model, then caught up with the log and the store (blocking
    /// work runs on the blocking pool).
    pub async fn start(
        store: Arc<dyn Store>,
        log: Arc<dyn EventLog>,
        snapshot_path: Option<PathBuf>,
        now: Micros,
    ) -> Result<Arc<EngineService>, StoreError> {
        let model = current_model(store.as_ref()).await?;
        let plan = Arc::new(Plan::new(model));
        let inner = restore(&plan, snapshot_path.as_deref()).unwrap_or_else(|| {
            Inner::new(
                Engine::new(Arc::clone(&plan), Partition::ALL),
                0,
                HashMap::new(),
            )
        });
        let mut inner = inner;
        // Until the log is folded in, playbooks wait (see `catch_up`).
        inner.engine.set_playbooks_active(false);
        let service = Arc::new(EngineService {
            inner: Mutex::new(inner),
            log,
            store,
            wake: tokio::sync::Notify::new(),
            snapshot_path,
            outreach: std::sync::OnceLock::new(),
        });
        service.reload_records(now).await?;
        let me = Arc::clone(&service);
        let _ = tokio::task::spawn_blocking(move || me.catch_up(now)).await;
        Ok(service)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the engine the log has grown.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The model version scores are computed under.
    pub fn model_version(&self) -> tenure_domain::ModelVersion {
        self.lock().engine.plan().version.clone()
    }

    /// Folds in every log record not yet applied, then re-scores what changed (blocking).
    /// Returns how many log records were read.
    pub fn catch_up(&self, now: Micros) -> u64 {
        let mut total = 0;
        loop {
            let from = self.lock().next_offset;
            let records = match self.log.read(from, READ_CHUNK) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "the engine cannot read the event log");
                    break;
                }
            };
            if records.is_empty() {
                break;
            }
            let parsed: Vec<(Offset, LogRecord)> = records
                .iter()
                .filter_map(|(offset, bytes)| match LogRecord::parse(bytes) {
                    Ok(r) => Some((*offset, r)),
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "unreadable log record skipped by the engine");
                        None
                    }
                })
                .collect();
            let mut inner = self.lock();
            if inner.next_offset != from {
                continue; // another caller went ahead
            }
            // A backlog of old events (a start, a rebuild, a bulk send) gives a partial
            // picture of each account: playbooks wait until it is folded in.
            let old = now - 86_400_000_000;
            if parsed.iter().any(|(_, r)| {
                r.message
                    .as_ref()
                    .is_some_and(|m| m.timestamp.timestamp_micros() < old)
            }) {
                inner.engine.set_playbooks_active(false);
                inner.backlog_seen_at = Some(now);
            }
            inner.apply_chunk(&parsed, now);
            inner.next_offset = records.last().map_or(from, |(o, _)| o + 1);
            total += records.len() as u64;
            inner.engine.refresh(now);
        }
        let mut inner = self.lock();
        // Caught up, with product events to go on, and no old event for `BACKLOG_QUIET` (a
        // bulk send slower than the engine leaves it caught up between its batches, halfway
        // through each account's history): every account checked once on the whole picture.
        // Before the first product event every account would look silent (and red): records
        // imported ahead of their events fire nothing.
        let quiet = inner
            .backlog_seen_at
            .is_none_or(|at| now - at >= BACKLOG_QUIET_MICROS);
        let has_usage = inner.engine.watermark().is_some();
        if !inner.engine.playbooks_active() && quiet && has_usage {
            inner.engine.set_playbooks_active(true);
            inner.engine.touch_all();
        }
        inner.engine.refresh(now);
        inner.take_tasks();
        total
    }

    /// Whether re-scores check playbooks now (not while a backlog is folded in).
    pub fn playbooks_active(&self) -> bool {
        self.lock().engine.playbooks_active()
    }

    /// Folds `records` in now and re-scores their accounts (records written through the API:
    /// a score moves on them without waiting for the next reload).
    pub fn apply_records(&self, records: &[Record], now: Micros) {
        let mut inner = self.lock();
        for r in records {
            inner.engine.apply(Signal::Record(r), now);
        }
        inner.engine.refresh(now);
        inner.take_tasks();
    }

    /// Re-reads the store's records and folds in those of the accounts whose records changed
    /// since the last fold (they are upserts: a record read twice changes nothing, but
    /// re-applying every account's would re-score them all and name an old record as the cause
    /// of their latest change). Returns how many records were applied.
    pub async fn reload_records(&self, now: Micros) -> Result<usize, StoreError> {
        let records = engine_records(self.store.as_ref()).await?;
        // Each account's records, fingerprinted off the lock: an order-independent sum of
        // each record's hash, so the store's order does not matter.
        use std::hash::BuildHasher;
        let hasher = foldhash::fast::FixedState::with_seed(0x7e4e_5eed);
        let key = |r: &Record| hasher.hash_one(r.account().unwrap_or(""));
        let mut prints: HashMap<u64, u64> = HashMap::new();
        for r in &records {
            let h = hasher.hash_one(r);
            let e = prints.entry(key(r)).or_default();
            *e = e.wrapping_add(h.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        }
        let changed: std::collections::HashSet<u64> = {
            let inner = self.lock();
            prints
                .iter()
                .filter(|(a, p)| inner.folded.get(a) != Some(p))
                .map(|(a, _)| *a)
                .collect()
        };
        // Applied a chunk at a time, so readers wait for one chunk at most.
        let mut applied = 0;
        let fresh: Vec<&Record> = records
            .iter()
            .filter(|r| changed.contains(&key(r)))
            .collect();
        for chunk in fresh.chunks(RECORDS_PER_LOCK) {
            let mut inner = self.lock();
            for r in chunk {
                inner.engine.apply(Signal::Record(r), now);
            }
            applied += chunk.len();
        }
        let mut inner = self.lock();
        for a in &changed {
            inner.folded.insert(*a, prints[a]);
        }
        inner.engine.refresh(now);
        Ok(applied)
    }

    /// On a new day: snapshots of the day that ended, written to the store.
    pub async fn tick(&self, now: Micros) -> Result<usize, StoreError> {
        let rows = {
            let mut inner = self.lock();
            let fresh = inner.engine.tick(now);
            inner.pending.extend(fresh);
            inner.take_tasks();
            std::mem::take(&mut inner.pending)
        };
        if rows.is_empty() {
            return Ok(0);
        }
        match self.store.put_health_snapshots(&rows).await {
            Ok(_) => Ok(rows.len()),
            Err(e) => {
                // Kept for the next attempt.
                self.lock().pending.extend(rows);
                Err(e)
            }
        }
    }

    /// Writes the playbook tasks opened since the last call to the store (kept for the next
    /// attempt when it fails). Returns how many were written.
    pub async fn write_tasks(&self) -> Result<usize, StoreError> {
        let tasks = std::mem::take(&mut self.lock().tasks);
        if tasks.is_empty() {
            return Ok(0);
        }
        let existing = match crate::tasks::all(self.store.as_ref()).await {
            Ok(t) => t,
            Err(e) => {
                self.lock().tasks.extend(tasks);
                return Err(e);
            }
        };
        let tasks = crate::tasks::dedupe(tasks, &existing);
        let records: Vec<Record> = tasks.iter().cloned().map(Record::Task).collect();
        if records.is_empty() {
            return Ok(0);
        }
        match self.store.upsert_many(&records).await {
            Ok(_) => {
                tracing::info!(tasks = tasks.len(), "playbook tasks opened");
                Ok(tasks.len())
            }
            Err(e) => {
                self.lock().tasks.extend(tasks);
                Err(e)
            }
        }
    }

    /// Where playbook webhooks, emails and survey requests go: enqueued durably, then
    /// delivered with retries by the outbox's own task.
    pub fn set_outreach(&self, outreach: Arc<crate::outreach::Outreach>) {
        let _ = self.outreach.set(outreach);
    }

    pub fn outreach(&self) -> Option<&Arc<crate::outreach::Outreach>> {
        self.outreach.get()
    }

    /// Puts the webhooks, emails and survey requests of new firings in the outbox, on disk
    /// before it returns (the outbox's own task delivers them: `Outbox::deliver_forever`).
    /// Emails and survey requests read the accounts' contacts from the store first. What
    /// cannot be queued is kept for the next call.
    pub async fn queue_outbox(&self) -> Result<usize, QueueError> {
        let out = self.outreach.get();
        let (webhooks, pending) = {
            let mut inner = self.lock();
            (
                std::mem::take(&mut inner.webhooks),
                std::mem::take(&mut inner.outreach),
            )
        };
        // Nowhere to send (a server without an outbox): nothing is kept either.
        let Some(out) = out else {
            return Ok(0);
        };
        let keep = |webhooks: Vec<crate::outbox::Message>,
                    pending: Vec<crate::outreach::Pending>| {
            let mut inner = self.lock();
            inner.webhooks.extend(webhooks);
            inner.outreach.extend(pending);
        };
        let mut queued = match out.outbox.enqueue(webhooks.clone()) {
            Ok(n) => n,
            Err(e) => {
                keep(webhooks, pending);
                return Err(e.into());
            }
        };
        if pending.is_empty() {
            return Ok(queued);
        }
        let accounts = pending.iter().map(|p| p.account.clone()).collect();
        let contacts = match crate::outreach::contacts_of(self.store.as_ref(), &accounts).await {
            Ok(c) => c,
            Err(e) => {
                keep(Vec::new(), pending);
                return Err(e.into());
            }
        };
        let model = Arc::clone(&self.lock().engine.plan().model);
        let prepared =
            crate::outreach::prepare(&model, &pending, &contacts, &out.public_url, &mut |id| {
                out.requests.token_for(id)
            });
        // The request before its email: a link always finds its request. Both are added once
        // by id, so a firing queued again (after a failed write or a restart) changes nothing.
        let queued_now = out
            .requests
            .add(prepared.requests)
            .and_then(|_| out.outbox.enqueue(prepared.messages));
        match queued_now {
            Ok(n) => {
                queued += n;
                Ok(queued)
            }
            Err(e) => {
                keep(Vec::new(), pending);
                Err(e.into())
            }
        }
    }

    /// Opens an escalation for every task newly past its SLA (`tasks::escalations`).
    pub async fn escalate(&self, now: Micros) -> Result<usize, StoreError> {
        let tasks = crate::tasks::all(self.store.as_ref()).await?;
        let at = chrono::DateTime::from_timestamp_micros(now)
            .unwrap_or_default()
            .fixed_offset();
        let new = crate::tasks::escalations(&tasks, at);
        if !new.is_empty() {
            let records: Vec<Record> = new.into_iter().map(Record::Task).collect();
            self.store.upsert_many(&records).await?;
            tracing::info!(tasks = records.len(), "overdue tasks escalated");
            return Ok(records.len());
        }
        Ok(0)
    }

    /// Rebuilds the engine from the whole log when the store's model changed.
    pub async fn follow_model(&self, now: Micros) -> Result<bool, StoreError> {
        let model = current_model(self.store.as_ref()).await?;
        if model.version() == self.model_version() {
            return Ok(false);
        }
        tracing::info!(version = %model.version(), "success model changed: rebuilding the engine from the log");
        let plan = Arc::new(Plan::new(model));
        {
            let mut inner = self.lock();
            inner.engine = Engine::new(plan, Partition::ALL);
            inner.next_offset = 0;
            inner.memberships.clear();
            inner.folded.clear();
            inner.engine.set_playbooks_active(false);
        }
        self.reload_records(now).await?;
        Ok(true)
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.lock().engine.summaries()
    }

    /// Every account's journey and list row (refreshed on `now`).
    pub fn journeys(
        &self,
        now: Micros,
    ) -> (Vec<(String, tenure_engine::journey::Journey)>, Vec<Summary>) {
        let mut inner = self.lock();
        inner.engine.refresh(now);
        (inner.engine.journeys(now), inner.engine.summaries())
    }

    /// The raw value of measure `name` of every account where it has one.
    pub fn measure_values(&self, name: &str, now: Micros) -> Option<Vec<f64>> {
        self.lock().engine.measure_values(name, now)
    }

    pub fn view(&self, account: &str, now: Micros) -> Option<AccountView> {
        self.lock().engine.view(account, now)
    }

    /// The ids of the scored accounts whose owner `keep` accepts.
    pub fn accounts_where(&self, keep: impl Fn(Option<&str>) -> bool) -> Vec<String> {
        self.lock().engine.accounts_where(keep)
    }

    /// One account's list row.
    pub fn summary(&self, account: &str) -> Option<Summary> {
        self.lock().engine.summary(account)
    }

    /// The log offset the scores cover.
    pub fn next_offset(&self) -> Offset {
        self.lock().next_offset
    }

    /// Saves the engine's state for a fast restart (at a clean shutdown).
    pub fn save_snapshot(&self) -> std::io::Result<()> {
        let Some(path) = &self.snapshot_path else {
            return Ok(());
        };
        let saved = {
            let inner = self.lock();
            Saved {
                next_offset: inner.next_offset,
                memberships: inner.memberships.clone(),
                engine: inner.engine.save(),
            }
        };
        crate::durable::replace_json(path, &saved)
    }

    /// Keeps the engine current: catches up when woken (or every second), ticks, re-reads
    /// the store every minute and follows model changes every ten seconds.
    pub async fn maintain(self: Arc<Self>, clock: fn() -> Micros) {
        let mut last_records = std::time::Instant::now();
        let mut last_model = std::time::Instant::now();
        loop {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
            let now = clock();
            if last_model.elapsed() >= Duration::from_secs(10) {
                last_model = std::time::Instant::now();
                if let Err(e) = self.follow_model(now).await {
                    tracing::error!(error = %e, "the engine cannot read the success model");
                }
            }
            if last_records.elapsed() >= Duration::from_secs(60) {
                last_records = std::time::Instant::now();
                if let Err(e) = self.reload_records(now).await {
                    tracing::error!(error = %e, "the engine cannot read the store's records");
                }
                if let Err(e) = self.escalate(now).await {
                    tracing::error!(error = %e, "overdue tasks not escalated yet; retrying");
                }
            }
            let me = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || me.catch_up(now)).await;
            if let Err(e) = self.tick(now).await {
                tracing::error!(error = %e, "daily health snapshots not written yet; retrying");
            }
            if let Err(e) = self.write_tasks().await {
                tracing::error!(error = %e, "playbook tasks not written yet; retrying");
            }
            if let Err(e) = self.queue_outbox().await {
                tracing::error!(error = %e, "playbook webhooks and emails not queued yet; retrying");
            }
        }
    }
}

fn restore(plan: &Arc<Plan>, path: Option<&std::path::Path>) -> Option<Inner> {
    let bytes = std::fs::read(path?).ok()?;
    let saved: Saved = serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!(error = %e, "engine snapshot unreadable; replaying the log"))
        .ok()?;
    match Engine::restore(Arc::clone(plan), Partition::ALL, &saved.engine) {
        Ok(engine) => Some(Inner::new(engine, saved.next_offset, saved.memberships)),
        Err(e) => {
            tracing::info!(reason = %e, "engine snapshot not used; replaying the log");
            None
        }
    }
}

impl Inner {
    /// The engine at `next_offset` of the log, with nothing waiting.
    fn new(engine: Engine, next_offset: Offset, memberships: HashMap<String, String>) -> Inner {
        Inner {
            engine,
            next_offset,
            memberships,
            pending: Vec::new(),
            tasks: Vec::new(),
            webhooks: Vec::new(),
            outreach: Vec::new(),
            backlog_seen_at: None,
            folded: HashMap::new(),
        }
    }

    /// The tasks of the playbooks fired since the last call.
    fn take_tasks(&mut self) {
        let fired = self.engine.take_firings();
        let plan = Arc::clone(self.engine.plan());
        for f in fired.iter().filter(|f| !f.held_out) {
            let summary = self.engine.summary(&f.account);
            let owner = summary
                .as_ref()
                .and_then(|s| s.owner.as_deref())
                .and_then(|o| tenure_domain::UserId::parse(o).ok());
            self.tasks
                .extend(crate::playbooks::tasks_for(&plan, f, owner.as_ref()));
            let name = summary.as_ref().and_then(|s| s.name.as_deref());
            self.webhooks
                .extend(crate::outbox::webhooks_for(&plan, f, name));
            self.outreach.extend(crate::outreach::pending_for(
                &plan,
                f,
                name,
                summary.as_ref().and_then(|s| s.owner.as_deref()),
            ));
        }
    }

    /// Folds in one chunk of log records: memberships first, in log order (a `group` call
    /// names the account of the events after it), then the events grouped by account.
    fn apply_chunk(&mut self, records: &[(Offset, LogRecord)], now: Micros) {
        let mut fallback: Vec<Option<String>> = Vec::with_capacity(records.len());
        for (_, r) in records {
            let mut account = None;
            if let Some(m) = &r.message {
                let user = m.user_id.as_deref().or(m.anonymous_id.as_deref());
                match m.kind {
                    MessageType::Group => {
                        if let (Some(u), Some(g)) = (user, &m.group_id) {
                            self.memberships.insert(u.to_owned(), g.clone());
                        }
                    }
                    MessageType::Track | MessageType::Page | MessageType::Screen
                        if m.account_id.is_none() =>
                    {
                        account = user.and_then(|u| self.memberships.get(u)).cloned();
                    }
                    _ => {}
                }
            }
            fallback.push(account);
        }
        let mut signals: Vec<Signal<'_>> = Vec::with_capacity(records.len());
        for ((offset, r), fallback) in records.iter().zip(&fallback) {
            let Some(m) = &r.message else { continue };
            if !matches!(
                m.kind,
                MessageType::Track | MessageType::Page | MessageType::Screen
            ) {
                continue;
            }
            let Some(account) = m.account_id.as_deref().or(fallback.as_deref()) else {
                continue;
            };
            signals.push(Signal::Event(EventSignal {
                offset: *offset,
                account,
                user: m.user_id.as_deref().or(m.anonymous_id.as_deref()),
                event: match m.kind {
                    MessageType::Track => m.event.as_deref(),
                    _ => None,
                },
                at: m.timestamp.timestamp_micros(),
                properties: Some(&m.properties),
            }));
        }
        self.engine.apply_batch(&mut signals, now);
    }
}
