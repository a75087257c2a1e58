//! The product-event history of a data directory, day by day: the lake's files and the log's
//! tail not yet in it, each event resolved to its account (its account id, else the only
//! account its user belongs to). Offline scores, rescores and the evidence pass replay it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use serde_json::{Map, Value};
use tenure_engine::day::{self, Day};
use tenure_engine::{EventSignal, Partition, Plan};
use tenure_ingest::identity::Identities;
use tenure_ingest::logged::LogRecord;
use tenure_ingest::segment::MessageType;
use tenure_lake::{table, LakeError, LakeState};

/// A lake file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {source}")]
pub struct HistoryError {
    pub path: String,
    #[source]
    pub source: LakeError,
}

/// The lake columns scores read (`properties` last: only read when some measure needs it).
pub const READ_COLUMNS: [&str; 8] = [
    "offset",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "account_id",
    "timestamp",
    "properties",
];

/// The product events of a data directory, day by day: the lake's files and the log's tail.
pub struct Events {
    days: BTreeMap<Day, Vec<PathBuf>>,
    /// Log records not yet in the lake, by day.
    tail: BTreeMap<Day, Vec<(u64, LogRecord)>>,
    /// Lake rows at or past this offset are skipped: the tail holds them.
    lake_next: u64,
    identities: Identities,
    properties: bool,
}

impl Events {
    /// The history in `lake_dir` and the log in `log_dir`.
    pub fn open(lake_dir: &Path, log_dir: &Path, plan: &Plan) -> Result<Events, LakeError> {
        let (state, tail_records) = tenure_lake::current_state(lake_dir, log_dir)?;
        let mut days: BTreeMap<Day, Vec<PathBuf>> = BTreeMap::new();
        for p in tenure_lake::list_parts(lake_dir)? {
            days.entry(day::day_of_date(p.date))
                .or_default()
                .push(p.path);
        }
        // The lake holds what precedes the tail; rows a concurrent sync added since are
        // skipped there and read from the tail.
        let lake_next = tail_records.first().map_or(state.next_offset, |(o, _)| *o);
        let mut tail: BTreeMap<Day, Vec<(u64, LogRecord)>> = BTreeMap::new();
        for (offset, r) in tail_records {
            if let Some(m) = &r.message {
                let d = day::day_of(m.timestamp.timestamp_micros());
                tail.entry(d).or_default().push((offset, r));
            }
        }
        Ok(Events {
            days,
            tail,
            lake_next,
            identities: state.identities,
            properties: plan.streams.iter().any(|s| s.reads_properties),
        })
    }

    /// The history of the lake in `lake_dir` alone, whose state is `state` (a server's
    /// lake, just synced with its log).
    pub fn of_lake(lake_dir: &Path, state: &LakeState, plan: &Plan) -> Result<Events, LakeError> {
        let mut days: BTreeMap<Day, Vec<PathBuf>> = BTreeMap::new();
        for p in tenure_lake::list_parts(lake_dir)? {
            days.entry(day::day_of_date(p.date))
                .or_default()
                .push(p.path);
        }
        Ok(Events {
            days,
            tail: BTreeMap::new(),
            lake_next: state.next_offset,
            identities: state.identities.clone(),
            properties: plan.streams.iter().any(|s| s.reads_properties),
        })
    }

    /// The days holding events, in order.
    pub fn days(&self) -> Vec<Day> {
        let mut d: Vec<Day> = self.days.keys().chain(self.tail.keys()).copied().collect();
        d.sort_unstable();
        d.dedup();
        d
    }

    fn columns(&self) -> &'static [&'static str] {
        if self.properties {
            &READ_COLUMNS
        } else {
            &READ_COLUMNS[..READ_COLUMNS.len() - 1]
        }
    }

    /// Reads one day's lake files (the slow part: run it ahead of the fold).
    pub fn read_day(&self, d: Day) -> Result<Vec<RecordBatch>, HistoryError> {
        let columns = self.columns();
        let mut out = Vec::new();
        for path in self.days.get(&d).into_iter().flatten() {
            out.extend(
                table::read_columns(path, columns).map_err(|source| HistoryError {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        }
        Ok(out)
    }

    /// Calls `f` with each product event of day `d` (from `batches`, read by `read_day`, and
    /// the log's tail), optionally only those of `account`.
    pub fn for_each(
        &self,
        d: Day,
        batches: &[RecordBatch],
        account: Option<&str>,
        plan: &Plan,
        mut f: impl FnMut(EventSignal<'_>),
    ) {
        for b in batches {
            let Some(c) = Columns::of(b) else { continue };
            for i in 0..b.num_rows() {
                let Some(acc) = self.row_account(&c, i) else {
                    continue;
                };
                if account.is_none_or(|a| a == acc) {
                    c.signal(i, &acc, plan, &mut f);
                }
            }
        }
        self.for_each_in_tail(d, account, Partition::ALL, f);
    }

    /// The lake rows of `batches` that are product events, as (batch, row) pairs for each of
    /// `partitions` partitions: computed once (on the reader thread), so each fold thread
    /// visits only its own rows.
    pub fn route(&self, batches: &[RecordBatch], partitions: u32) -> Vec<Vec<(u32, u32)>> {
        let mut out = vec![Vec::new(); partitions.max(1) as usize];
        for (bi, b) in batches.iter().enumerate() {
            let Some(c) = Columns::of(b) else { continue };
            for i in 0..b.num_rows() {
                if let Some(acc) = self.row_account(&c, i) {
                    out[Partition::of(&acc, partitions) as usize].push((bi as u32, i as u32));
                }
            }
        }
        out
    }

    /// `for_each` over rows already routed to `partition` (see `route`).
    pub fn for_each_routed(
        &self,
        d: Day,
        batches: &[RecordBatch],
        rows: &[(u32, u32)],
        partition: Partition,
        plan: &Plan,
        mut f: impl FnMut(EventSignal<'_>),
    ) {
        let columns: Vec<Option<Columns<'_>>> = batches.iter().map(Columns::of).collect();
        for &(b, i) in rows {
            let Some(c) = columns.get(b as usize).and_then(Option::as_ref) else {
                continue;
            };
            if let Some(acc) = self.row_account(c, i as usize) {
                c.signal(i as usize, &acc, plan, &mut f);
            }
        }
        self.for_each_in_tail(d, None, partition, f);
    }

    /// The account of lake row `i` when it is a product event not also in the tail: its
    /// account id, or the only account its user belongs to.
    fn row_account<'a>(&self, c: &Columns<'a>, i: usize) -> Option<std::borrow::Cow<'a, str>> {
        if c.offsets.value(i) >= self.lake_next
            || !matches!(c.kind.value(i), "track" | "page" | "screen")
        {
            return None;
        }
        if c.acct.is_valid(i) {
            return Some(c.acct.value(i).into());
        }
        c.user(i)
            .and_then(|u| self.only_account(u))
            .map(std::borrow::Cow::Owned)
    }

    /// The product events of day `d` in the log's tail.
    fn for_each_in_tail(
        &self,
        d: Day,
        account: Option<&str>,
        partition: Partition,
        mut f: impl FnMut(EventSignal<'_>),
    ) {
        for (offset, r) in self.tail.get(&d).into_iter().flatten() {
            let Some(m) = &r.message else { continue };
            if !matches!(
                m.kind,
                MessageType::Track | MessageType::Page | MessageType::Screen
            ) {
                continue;
            }
            let user = m.user_id.as_deref().or(m.anonymous_id.as_deref());
            let fallback = match &m.account_id {
                Some(_) => None,
                None => user.and_then(|u| self.only_account(u)),
            };
            let Some(acc) = m.account_id.as_deref().or(fallback.as_deref()) else {
                continue;
            };
            if account.is_some_and(|a| a != acc) || !partition.owns(acc) {
                continue;
            }
            f(EventSignal {
                offset: *offset,
                account: acc,
                user,
                event: (m.kind == MessageType::Track)
                    .then_some(m.event.as_deref())
                    .flatten(),
                at: m.timestamp.timestamp_micros(),
                properties: Some(&m.properties),
            });
        }
    }

    /// The `messageId` of the events at `offsets` on `days`.
    pub fn message_ids(
        &self,
        days: std::ops::RangeInclusive<Day>,
        offsets: &std::collections::HashSet<u64>,
    ) -> Result<std::collections::HashMap<u64, String>, HistoryError> {
        let mut out = std::collections::HashMap::new();
        for paths in self.days.range(days.clone()).map(|(_, p)| p) {
            for path in paths {
                let batches =
                    table::read_columns(path, &["offset", "message_id"]).map_err(|source| {
                        HistoryError {
                            path: path.display().to_string(),
                            source,
                        }
                    })?;
                for b in batches {
                    let (Some(o), Some(m)) = (table::offsets(&b), table::strings(&b, "message_id"))
                    else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        if offsets.contains(&o.value(i)) {
                            out.insert(o.value(i), m.value(i).to_owned());
                        }
                    }
                }
            }
        }
        for (_, records) in self.tail.range(days) {
            for (offset, r) in records {
                if let Some(id) = r.message.as_ref().and_then(|m| m.message_id.clone()) {
                    if offsets.contains(offset) {
                        out.insert(*offset, id);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The user's account when the identity graph gives exactly one.
    fn only_account(&self, user: &str) -> Option<String> {
        let accounts = self.identities.accounts_of(user);
        (accounts.len() == 1)
            .then(|| accounts.into_keys().next())
            .flatten()
    }
}

/// One lake batch's columns, as product events need them.
struct Columns<'a> {
    kind: &'a StringArray,
    event: &'a StringArray,
    user: &'a StringArray,
    anon: &'a StringArray,
    acct: &'a StringArray,
    props: Option<&'a StringArray>,
    offsets: &'a UInt64Array,
    times: &'a TimestampMicrosecondArray,
}

impl<'a> Columns<'a> {
    fn of(b: &'a RecordBatch) -> Option<Columns<'a>> {
        let text = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        };
        Some(Columns {
            kind: text("type")?,
            event: text("event")?,
            user: text("user_id")?,
            anon: text("anonymous_id")?,
            acct: text("account_id")?,
            props: text("properties"),
            offsets: b
                .column_by_name("offset")
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())?,
            times: b
                .column_by_name("timestamp")
                .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())?,
        })
    }

    /// The user id of row `i`, else its anonymous id.
    fn user(&self, i: usize) -> Option<&'a str> {
        if self.user.is_valid(i) {
            Some(self.user.value(i))
        } else if self.anon.is_valid(i) {
            Some(self.anon.value(i))
        } else {
            None
        }
    }

    /// Calls `f` with row `i` as an event of `account` (properties parsed only when some
    /// measure reads them).
    fn signal(&self, i: usize, account: &str, plan: &Plan, f: &mut impl FnMut(EventSignal<'_>)) {
        let k = self.kind.value(i);
        let name = (k == "track" && self.event.is_valid(i)).then(|| self.event.value(i));
        let parsed: Option<Map<String, Value>> = match self.props {
            Some(p) if plan.reads_properties(name) => serde_json::from_str(p.value(i)).ok(),
            _ => None,
        };
        f(EventSignal {
            offset: self.offsets.value(i),
            account,
            user: self.user(i),
            event: name,
            at: self.times.value(i),
            properties: parsed.as_ref(),
        });
    }
}
