//! The engine: every account's state, keyed and partitioned by account, fed one signal at a
//! time. `apply(signal, now)` folds a signal in and marks its account; `refresh(now)` re-scores
//! the marked accounts; `tick(now)` handles a change of day (windows slide, daily snapshots).
//! Nothing here reads a clock or touches a file: time is an argument, state is a value.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use std::hash::{BuildHasher as _, Hash, Hasher as _};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenure_domain::model::{Band, Pillar};
use tenure_domain::{AccountId, HealthSnapshot, Record};

use crate::day::{self, Day, Micros, NO_DAY};
use crate::features;
use crate::health::{self, Distributions, Health};
use crate::journey::{self, Journey};
use crate::plan::Plan;
use crate::playbook::{Firing, ReleaseSeen};
use crate::state::{AccountState, Cause, Event, Memo};

/// A product event for the engine (already resolved to its account).
#[derive(Debug, Clone, Copy)]
pub struct EventSignal<'a> {
    /// Its offset in the event log (lineage).
    pub offset: u64,
    pub account: &'a str,
    /// The user (or anonymous id) who did it.
    pub user: Option<&'a str>,
    /// The track event's name; `None` for page and screen calls.
    pub event: Option<&'a str>,
    pub at: Micros,
    pub properties: Option<&'a Map<String, Value>>,
}

/// Anything that can change an account's features.
#[derive(Debug, Clone, Copy)]
pub enum Signal<'a> {
    Event(EventSignal<'a>),
    Record(&'a Record),
}

impl Signal<'_> {
    pub fn account(&self) -> Option<&str> {
        match self {
            Signal::Event(e) => Some(e.account),
            Signal::Record(r) => r.account(),
        }
    }
}

/// Which share of the accounts an engine owns: accounts hash into `count` partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

impl Partition {
    pub const ALL: Partition = Partition { index: 0, count: 1 };

    /// The partition of `account` among `count` (a stable FNV-1a hash, the same in every
    /// process and version).
    pub fn of(account: &str, count: u32) -> u32 {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in account.as_bytes() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        (h % count.max(1) as u64) as u32
    }

    pub fn owns(&self, account: &str) -> bool {
        self.count <= 1 || Self::of(account, self.count) == self.index
    }
}

/// What a list of accounts shows: kept current for every account by `refresh`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub account: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub tier: String,
    pub segment: String,
    pub arr: f64,
    pub seats: u32,
    pub renewal_date: Option<chrono::NaiveDate>,
    pub score: f64,
    pub band: Band,
    pub confidence: f64,
    pub stage: &'static str,
    #[serde(with = "health::micros_rfc3339")]
    pub computed_at: Micros,
}

/// The change since the previous score, and what caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub previous_score: f64,
    #[serde(with = "health::micros_rfc3339")]
    pub previous_at: Micros,
    pub delta: f64,
    /// The measures whose points moved, largest move first.
    pub measures: Vec<(String, f64)>,
    /// The last signal applied before the new score.
    pub signal: Option<CauseView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseView {
    pub kind: String,
    pub what: String,
    pub offset: Option<u64>,
    #[serde(with = "health::micros_rfc3339")]
    pub at: Micros,
}

/// Everything the engine knows about one account on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView {
    pub summary: Summary,
    pub health: Health,
    pub change: Option<Change>,
    pub journey: Journey,
    /// Every measure of the model, by name (`null` when missing).
    pub features: BTreeMap<String, Option<f64>>,
}

/// An account's state, made on its first signal, and marked changed.
fn state_of<'a>(
    accounts: &'a mut HashMap<Box<str>, Box<AccountState>, Hasher>,
    dirty: &mut HashSet<Box<str>, Hasher>,
    plan: &Plan,
    account: &str,
) -> &'a mut AccountState {
    let state = accounts
        .entry_ref(account)
        .or_insert_with(|| Box::new(AccountState::new(plan)));
    if !state.dirty {
        state.dirty = true;
        dirty.insert(account.into());
    }
    state
}

/// A fast hasher with fixed keys (account ids are not attacker-chosen keys of a public
/// table: they come from the operator's own records and write keys).
type Hasher = foldhash::fast::FixedState;

/// The engine's state as saved: `A` is the account state, owned when restoring and
/// borrowed when saving (so saving copies nothing).
#[derive(Serialize, Deserialize)]
struct Saved<K: Ord, A> {
    model_version: String,
    partition: Partition,
    watermark: Option<Micros>,
    day: Day,
    accounts: BTreeMap<K, A>,
    applied: u64,
    #[serde(default)]
    releases: Vec<ReleaseSeen>,
}

pub struct Engine {
    plan: Arc<Plan>,
    partition: Partition,
    /// Boxed: the table's slots stay small, so growing it never moves whole states.
    accounts: HashMap<Box<str>, Box<AccountState>, Hasher>,
    /// Accounts changed since the last refresh.
    dirty: HashSet<Box<str>, Hasher>,
    /// The account ids in order (for daily snapshots), rebuilt when accounts are added.
    sorted: Vec<Box<str>>,
    /// The newest product event seen from any account.
    watermark: Option<Micros>,
    /// The day of the last `tick`.
    day: Day,
    distributions: Distributions,
    applied: u64,
    /// Playbook firings since the last `take_firings`.
    firings: Vec<Firing>,
    /// Whether re-scores check playbooks (off while a backlog of old signals is folded in).
    playbooks_active: bool,
    /// The releases seen, oldest first (kept only when some playbook fires on them).
    releases: Vec<ReleaseSeen>,
}

impl Engine {
    pub fn new(plan: Arc<Plan>, partition: Partition) -> Engine {
        Engine {
            plan,
            partition,
            accounts: HashMap::default(),
            dirty: HashSet::default(),
            sorted: Vec::new(),
            watermark: None,
            day: NO_DAY,
            distributions: Distributions::new(),
            applied: 0,
            firings: Vec::new(),
            playbooks_active: true,
            releases: Vec::new(),
        }
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The newest product event seen (not in the future of when it was learnt); `None`
    /// before the first.
    pub fn watermark(&self) -> Option<Micros> {
        self.watermark
    }

    /// Signals applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.accounts.keys().map(|k| &**k)
    }

    /// Folds one signal into its account's state. Signals of accounts outside this engine's
    /// partition, and records that carry no feature (contacts, releases, tasks), are ignored.
    /// `now` is when the engine learns of it.
    pub fn apply(&mut self, signal: Signal<'_>, now: Micros) {
        if let Signal::Record(Record::Release(r)) = signal {
            self.apply_release(r);
            return;
        }
        let Some(account) = signal.account() else {
            return;
        };
        if !self.partition.owns(account) {
            return;
        }
        self.apply_owned(signal, now);
    }

    /// `apply`, for a signal the caller already routed to this engine's partition (a
    /// signal of another partition would be kept here).
    pub fn apply_owned(&mut self, signal: Signal<'_>, now: Micros) {
        let Some(account) = signal.account() else {
            return;
        };
        self.applied += 1;
        let plan = &*self.plan;
        match signal {
            Signal::Event(e) => {
                let user = e.user.map(crate::state::user_key);
                let event = e.event.and_then(|n| plan.events.get(n).copied());
                if e.at <= now {
                    self.watermark = Some(self.watermark.map_or(e.at, |w| w.max(e.at)));
                }
                let state = state_of(&mut self.accounts, &mut self.dirty, plan, account);
                state.apply_event(
                    plan,
                    &Event {
                        offset: e.offset,
                        user,
                        event,
                        at: e.at,
                        properties: e.properties,
                    },
                );
                state.last_cause = Some(Cause::Event {
                    event,
                    offset: e.offset,
                    at: now,
                });
            }
            Signal::Record(r) => {
                let state = state_of(&mut self.accounts, &mut self.dirty, plan, account);
                match r {
                    Record::Account(a) => state.apply_account(a),
                    Record::Subscription(s) => state.apply_subscription(s),
                    Record::SubscriptionChange(c) => state.apply_subscription_change(c),
                    Record::Ticket(t) => state.apply_ticket(t),
                    Record::SurveyResponse(s) => state.apply_survey(s),
                    Record::Activity(a) => state.apply_activity(plan, a),
                    _ => return,
                }
                state.last_cause = Some(Cause::Record {
                    record: r.kind(),
                    id: r.external_id().into(),
                    at: now,
                });
            }
        }
    }

    /// Applies many signals, grouped by account first: the fold does not depend on order
    /// (the invariants tests check it), and one account's signals together touch its state
    /// while it is in cache.
    pub fn apply_batch(&mut self, signals: &mut [Signal<'_>], now: Micros) {
        // Grouped by a hash of the account (cheaper to sort than the ids themselves); each
        // account's signals keep their order, so the last one applied is the same.
        let hasher = Hasher::default();
        let mut order: Vec<(u64, u32)> = signals
            .iter()
            .enumerate()
            .map(|(i, s)| (s.account().map_or(0, |a| hasher.hash_one(a)), i as u32))
            .collect();
        order.sort_unstable();
        for (_, i) in order {
            self.apply(signals[i as usize], now);
        }
    }

    /// Keeps a release for the playbooks that fire on releases (every partition keeps every
    /// release). A new or changed release marks every account for re-scoring, so each is
    /// checked against it at the next refresh; one seen before changes nothing.
    fn apply_release(&mut self, r: &tenure_domain::Release) {
        if !self.plan.release_playbooks {
            return;
        }
        let seen = ReleaseSeen::new(&self.plan, r);
        match self.releases.iter_mut().find(|x| x.id == seen.id) {
            Some(x) if *x == seen => return,
            Some(x) => *x = seen,
            None => self.releases.push(seen),
        }
        self.releases
            .sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        self.touch_all();
    }

    /// Whether the event's properties are read by some measure (see `Plan::reads_properties`).
    pub fn reads_properties(&self, event: Option<&str>) -> bool {
        self.plan.reads_properties(event)
    }

    /// Turns playbook checks off (while folding in a backlog of old signals, whose partial
    /// picture of an account would fire playbooks it does not deserve) or back on.
    pub fn set_playbooks_active(&mut self, on: bool) {
        self.playbooks_active = on;
    }

    pub fn playbooks_active(&self) -> bool {
        self.playbooks_active
    }

    /// Marks every account for re-scoring at the next `refresh`.
    pub fn touch_all(&mut self) {
        self.dirty.extend(self.accounts.keys().cloned());
    }

    /// The playbook firings since the last call, in the order they fired.
    pub fn take_firings(&mut self) -> Vec<Firing> {
        std::mem::take(&mut self.firings)
    }

    /// Re-scores the accounts changed since the last refresh. Returns how many.
    pub fn refresh(&mut self, now: Micros) -> usize {
        let dirty: Vec<Box<str>> = self.dirty.drain().collect();
        for a in &dirty {
            if let Some(s) = self.accounts.get_mut(a) {
                s.dirty = false;
            }
            self.rescore(a, now);
        }
        dirty.len()
    }

    fn rescore(&mut self, account: &str, now: Micros) {
        let plan = Arc::clone(&self.plan);
        let watermark = self.watermark;
        let Some(state) = self.accounts.get_mut(account) else {
            return;
        };
        journey::latch(&plan, state, now);
        let h = health::score(&plan, state, now, watermark, &self.distributions);
        let memo = memo(&plan, state, &h, now);
        let fired = if !self.playbooks_active {
            Vec::new()
        } else {
            crate::playbook::evaluate(
                &plan,
                state,
                &crate::playbook::Seen {
                    account,
                    health: &h,
                    tier: memo.tier,
                    segment: memo.segment,
                    stage: memo.stage,
                    now,
                    releases: &self.releases,
                },
            )
        };
        self.firings.extend(fired);
        match &mut state.current {
            Some(cur) if (cur.score - memo.score).abs() < 0.005 => {
                // Same score: keep the previous one (and its cause) for the explanation.
                let cause = cur.cause.take();
                *cur = Memo { cause, ..memo };
            }
            _ => {
                state.previous = state.current.take();
                state.current = Some(memo);
            }
        }
    }

    /// The list row of every account (refresh first to make them current).
    pub fn summaries(&self) -> Vec<Summary> {
        let mut out: Vec<Summary> = self
            .accounts
            .iter()
            .filter_map(|(id, s)| summary(&self.plan, id, s))
            .collect();
        out.sort_by(|a, b| a.account.cmp(&b.account));
        out
    }

    /// The ids of the scored accounts whose owner `keep` accepts (as `summaries` lists them,
    /// without building their rows).
    pub fn accounts_where(&self, keep: impl Fn(Option<&str>) -> bool) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|(_, s)| s.current.is_some())
            .filter(|(_, s)| keep(s.info.as_ref().and_then(|i| i.owner.as_deref())))
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// The raw value of measure `name` on `now` of every account where it has one (`None`:
    /// no such measure).
    pub fn measure_values(&self, name: &str, now: Micros) -> Option<Vec<f64>> {
        let m = &self.plan.measures[*self.plan.measure_index.get(name)?];
        Some(
            self.accounts
                .values()
                .filter_map(|s| crate::features::evaluate_with(&self.plan, s, m, now, false).raw)
                .collect(),
        )
    }

    /// Every account's journey on `now`, by account id.
    pub fn journeys(&self, now: Micros) -> Vec<(String, Journey)> {
        let mut out: Vec<(String, Journey)> = self
            .accounts
            .iter()
            .map(|(id, s)| (id.to_string(), crate::journey::journey(&self.plan, s, now)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn summary(&self, account: &str) -> Option<Summary> {
        self.accounts
            .get(account)
            .and_then(|s| summary(&self.plan, account, s))
    }

    /// The full view of one account on `now`: health with its explanation, the change since
    /// the previous score, journey and features.
    pub fn view(&mut self, account: &str, now: Micros) -> Option<AccountView> {
        let state = self.accounts.get_mut(account)?;
        if state.dirty || state.current.is_none() {
            state.dirty = false;
            self.dirty.remove(account);
            self.rescore(account, now);
        }
        let plan = &self.plan;
        let state = self.accounts.get(account)?;
        let health = health::score(plan, state, now, self.watermark, &self.distributions);
        let change = match (&state.current, &state.previous) {
            (Some(cur), Some(prev)) => {
                let mut moved: Vec<(String, f64)> = plan_measure_names(plan)
                    .zip(cur.points.iter().zip(&prev.points))
                    .map(|(name, (c, p))| (name, (*c - *p) as f64))
                    .filter(|(_, d)| d.abs() >= 0.005)
                    .collect();
                moved.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
                Some(Change {
                    previous_score: prev.score as f64,
                    previous_at: prev.at,
                    delta: (cur.score - prev.score) as f64,
                    measures: moved,
                    signal: cur.cause.as_ref().map(|c| cause_view(plan, c)),
                })
            }
            _ => None,
        };
        let features = plan
            .measures
            .iter()
            .map(|m| (m.name.clone(), features::evaluate(plan, state, m, now).raw))
            .collect();
        Some(AccountView {
            summary: summary(plan, account, state)?,
            health,
            change,
            journey: journey::journey(plan, state, now),
            features,
        })
    }

    /// Handles the passage of time. On the first call of a new day: every account's score as
    /// of the end of the previous day is returned as a daily snapshot (when the engine had
    /// one), old records are trimmed, percentile distributions are rebuilt and every account
    /// is re-scored (windows slid by a day).
    pub fn tick(&mut self, now: Micros) -> Vec<HealthSnapshot> {
        let today = day::day_of(now);
        if today <= self.day {
            return Vec::new();
        }
        let mut snapshots = Vec::new();
        if self.day != NO_DAY {
            let end = day::start_of(self.day + 1) - 1;
            snapshots = self.snapshots(end);
        }
        self.day = today;
        let plan = Arc::clone(&self.plan);
        for s in self.accounts.values_mut() {
            s.trim(&plan, today);
        }
        self.rebuild_distributions(now);
        self.dirty.extend(self.accounts.keys().cloned());
        self.refresh(now);
        snapshots
    }

    /// Every account's score as of `at` (the end of a day), as snapshots of that day.
    pub fn snapshots(&mut self, at: Micros) -> Vec<HealthSnapshot> {
        self.snapshots_where(at, |_| true)
    }

    fn snapshots_where(
        &mut self,
        at: Micros,
        keep: impl Fn(&AccountState) -> bool,
    ) -> Vec<HealthSnapshot> {
        let plan = Arc::clone(&self.plan);
        for s in self.accounts.values_mut() {
            journey::latch(&plan, s, at);
        }
        // Accounts are never dropped, so the sorted ids change only when the count does.
        if self.sorted.len() != self.accounts.len() {
            self.sorted = self.accounts.keys().cloned().collect();
            self.sorted.sort_unstable();
        }
        let mut out = Vec::with_capacity(self.sorted.len());
        let version = plan.version.clone();
        let computed_at = chrono::DateTime::from_timestamp_micros(at)
            .unwrap_or_default()
            .fixed_offset();
        for id in &self.sorted {
            let Some(state) = self.accounts.get(&**id).filter(|s| keep(s)) else {
                continue;
            };
            let Ok(account) = AccountId::parse(&**id) else {
                continue;
            };
            let h =
                health::score_with(&plan, state, at, self.watermark, &self.distributions, false);
            out.push(snapshot(account, &h, at, &version, computed_at));
        }
        out
    }

    /// Like `snapshots`, for the accounts that are live on the day of `at`: signed up (or
    /// seen) by then, and not churned more than 90 days before.
    pub fn snapshots_of_live(&mut self, at: Micros) -> Vec<HealthSnapshot> {
        let today = day::day_of(at);
        let live = |s: &AccountState| {
            let start = s
                .info
                .as_ref()
                .and_then(|i| i.signed_up)
                .or(s.first_event)
                .map(day::day_of)
                .or_else(|| s.subscriptions.iter().map(|x| x.start).min());
            let started = start.is_some_and(|st| st <= today);
            let gone = !s.subscriptions.is_empty()
                && !s.subscriptions.iter().any(|x| x.active_on(today))
                && !s
                    .subscriptions
                    .iter()
                    .any(|x| x.start <= today && x.end.is_some_and(|e| today - e <= 90));
            started && !gone
        };
        self.snapshots_where(at, live)
    }

    fn rebuild_distributions(&mut self, now: Micros) {
        let plan = &self.plan;
        let percentile: Vec<usize> = plan
            .model
            .health
            .pillars
            .values()
            .flat_map(|p| &p.measures)
            .filter(|m| matches!(m.normalise, tenure_domain::model::Normalisation::Percentile))
            .filter_map(|m| plan.measure_index.get(&m.measure).copied())
            .collect();
        self.distributions.clear();
        if percentile.is_empty() {
            return;
        }
        let today = day::day_of(now);
        for state in self.accounts.values() {
            let (tier, _) = health::classify(plan, state, today);
            for mi in &percentile {
                if let Some(v) = features::evaluate(plan, state, &plan.measures[*mi], now).raw {
                    self.distributions.entry((tier, *mi)).or_default().push(v);
                }
            }
        }
        for v in self.distributions.values_mut() {
            v.sort_by(f64::total_cmp);
        }
    }

    /// The engine's whole state as bytes (JSON), to restart from.
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            model_version: self.plan.version.to_string(),
            partition: self.partition,
            watermark: self.watermark,
            day: self.day,
            accounts: self.accounts.iter().map(|(k, v)| (&**k, &**v)).collect(),
            applied: self.applied,
            releases: self.releases.clone(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// An engine restored from `save`'s bytes; an error when they are unreadable or were saved
    /// under another model version or partition (then replay from the start instead).
    pub fn restore(plan: Arc<Plan>, partition: Partition, bytes: &[u8]) -> Result<Engine, String> {
        let saved: Saved<String, AccountState> = serde_json::from_slice(bytes)
            .map_err(|e| format!("unreadable engine snapshot: {e}"))?;
        if saved.model_version != plan.version.as_str() {
            return Err(format!(
                "the engine snapshot was made under model {}, not {}",
                saved.model_version, plan.version
            ));
        }
        if saved.partition != partition {
            return Err("the engine snapshot belongs to another partition".into());
        }
        let mut e = Engine::new(plan, partition);
        e.watermark = saved.watermark;
        e.day = saved.day;
        e.accounts = saved
            .accounts
            .into_iter()
            .map(|(k, mut v)| {
                v.dirty = true;
                (k.into_boxed_str(), Box::new(v))
            })
            .collect();
        e.applied = saved.applied;
        e.releases = saved.releases;
        e.dirty = e.accounts.keys().cloned().collect();
        Ok(e)
    }

    /// A stable digest of what the state knows — independent of arrival order: without the
    /// remembered scores and causes (which name the last signal applied).
    pub fn digest(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut ids: Vec<&Box<str>> = self.accounts.keys().collect();
        ids.sort();
        for id in ids {
            let mut s = self.accounts[id].clone();
            s.last_cause = None;
            s.current = None;
            s.previous = None;
            s.dirty = false;
            // What playbooks fired, and the daily scores they keep, depend on when the
            // account was evaluated, as the memos do: they are not part of the fold.
            s.playbooks.clear();
            s.score_days.clear();
            id.hash(&mut h);
            serde_json::to_string(&s).unwrap_or_default().hash(&mut h);
        }
        h.finish()
    }

    /// Direct access to one account's state (tests and benchmarks).
    pub fn account_state(&self, account: &str) -> Option<&AccountState> {
        self.accounts.get(account).map(|s| &**s)
    }

    /// Bytes of live state: every account's state and its key, inline and on the heap, with
    /// the hash table's slots (allocator overhead not counted).
    pub fn state_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Box<str>, Box<AccountState>)>() + 1;
        let table = self.accounts.capacity() * slot;
        table
            + self
                .accounts
                .iter()
                .map(|(k, v)| k.len() + std::mem::size_of::<AccountState>() + v.heap_bytes())
                .sum::<usize>()
    }

    /// `state_bytes` of the accounts' heap by part (see `AccountState::heap_parts`).
    pub fn state_parts(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for s in self.accounts.values() {
            for (i, (name, b)) in s.heap_parts().into_iter().enumerate() {
                if out.len() <= i {
                    out.push((name, 0));
                }
                out[i].1 += b;
            }
        }
        out
    }

    /// Distinct users currently held in some window, over all accounts.
    pub fn users(&self) -> usize {
        let plan = &self.plan;
        self.accounts
            .values()
            .map(|a| {
                plan.any_streams
                    .iter()
                    .filter_map(|s| a.stream(plan, *s).map(|st| (st, &plan.streams[*s])))
                    .map(|(st, s)| st.users.len() / (crate::state::words(s.cap) + 1))
                    .max()
                    .unwrap_or(0)
            })
            .sum()
    }
}

fn cause_view(plan: &Plan, c: &Cause) -> CauseView {
    match c {
        Cause::Event { event, offset, at } => CauseView {
            kind: "event".into(),
            what: event
                .map(|i| plan.event_names[i as usize].clone())
                .unwrap_or_else(|| "(page, screen or undeclared event)".into()),
            offset: Some(*offset),
            at: *at,
        },
        Cause::Record { record, id, at } => CauseView {
            kind: record.name().into(),
            what: id.to_string(),
            offset: None,
            at: *at,
        },
    }
}

fn plan_measure_names(plan: &Plan) -> impl Iterator<Item = String> + '_ {
    plan.model
        .health
        .pillars
        .values()
        .flat_map(|p| &p.measures)
        .map(|m| m.measure.clone())
}

fn memo(plan: &Plan, state: &AccountState, h: &Health, now: Micros) -> Memo {
    let (tier, segment) = health::classify(plan, state, day::day_of(now));
    Memo {
        score: h.score as f32,
        at: now,
        confidence: h.confidence as f32,
        tier,
        segment,
        stage: journey::journey(plan, state, now).stage,
        points: h.measures.iter().map(|m| m.points as f32).collect(),
        cause: state.last_cause.clone(),
    }
}

fn summary(plan: &Plan, id: &str, s: &AccountState) -> Option<Summary> {
    let cur = s.current.as_ref()?;
    let today = day::day_of(cur.at);
    let (tier, segment) = (cur.tier, cur.segment);
    let info = s.info.as_ref();
    let score = cur.score as f64;
    Some(Summary {
        account: id.to_owned(),
        name: info.map(|i| i.name.to_string()),
        owner: info.and_then(|i| i.owner.as_deref().map(str::to_owned)),
        tier: plan
            .model
            .tiers
            .get(tier as usize)
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        segment: plan
            .model
            .segments
            .get(segment as usize)
            .map(|t| t.rule.name.clone())
            .unwrap_or_default(),
        arr: features::arr(s, today),
        seats: features::seats(s, today),
        renewal_date: features::renewal(s, today).map(day::date_of),
        score,
        band: health::band(plan, score),
        confidence: cur.confidence as f64,
        stage: cur.stage.name(),
        computed_at: cur.at,
    })
}

pub fn snapshot(
    account: AccountId,
    h: &Health,
    at: Micros,
    version: &tenure_domain::ModelVersion,
    computed_at: tenure_domain::Timestamp,
) -> HealthSnapshot {
    HealthSnapshot {
        account,
        day: day::date_of(day::day_of(at)),
        model_version: version.clone(),
        score: h.score,
        band: h.band,
        confidence: h.confidence,
        pillars: h
            .pillars
            .iter()
            .filter_map(|p| p.score.map(|s| (p.pillar, s)))
            .collect::<BTreeMap<Pillar, f64>>(),
        computed_at,
    }
}
