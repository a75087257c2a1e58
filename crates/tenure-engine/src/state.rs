//! One account's live state: what every stream, milestone and record source needs to answer
//! its measures on any later day. Applying a signal only folds it in (bits or-ed, counts
//! added, records upserted by id); scoring reads the state (see `features` and `health`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenure_domain::model::ActivityKind;
use tenure_domain::{
    Account, BillingInterval, CsmActivity, Subscription, SubscriptionStatus, SurveyResponse,
    SurveyScore, Ticket, TicketPriority, TicketStatus,
};

use crate::day::{self, bits, Day, Micros, NO_DAY};
use crate::plan::{self, EventMilestone, MilestoneRule, Plan, Stream};

/// The 64-bit key of a user id (FNV-1a: the same in every process and version).
pub fn user_key(user: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in user.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Per-day event counts: 16 bits a day until a day passes 65,535, then 32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Counts {
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
}

impl Counts {
    fn new(days: usize) -> Counts {
        Counts::Narrow(vec![0; days].into())
    }

    fn none() -> Counts {
        Counts::Narrow(Box::default())
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Counts::Narrow(v) => v.is_empty(),
            Counts::Wide(v) => v.is_empty(),
        }
    }

    /// The count in `slot`.
    pub fn get(&self, slot: usize) -> u32 {
        match self {
            Counts::Narrow(v) => v[slot] as u32,
            Counts::Wide(v) => v[slot],
        }
    }

    fn clear(&mut self, slot: usize) {
        match self {
            Counts::Narrow(v) => {
                if let Some(c) = v.get_mut(slot) {
                    *c = 0
                }
            }
            Counts::Wide(v) => {
                if let Some(c) = v.get_mut(slot) {
                    *c = 0
                }
            }
        }
    }

    fn increment(&mut self, slot: usize) {
        match self {
            Counts::Narrow(v) if v.is_empty() => {}
            Counts::Narrow(v) if v[slot] < u16::MAX => v[slot] += 1,
            Counts::Narrow(v) => {
                let mut wide: Box<[u32]> = v.iter().map(|c| *c as u32).collect();
                wide[slot] += 1;
                *self = Counts::Wide(wide);
            }
            Counts::Wide(v) => v[slot] = v[slot].saturating_add(1),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Counts::Narrow(v) => v.len() * 2,
            Counts::Wide(v) => v.len() * 4,
        }
    }
}

/// Per-day statistics of a numeric property.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DayStat {
    pub sum: f64,
    pub n: u32,
    pub min: f64,
    pub max: f64,
}

/// A stream's rings for one account (those its plan needs; the others stay empty). Users
/// and distinct values are kept as 64-bit hashes followed by their day bits, `1 + words`
/// words per entry, sorted by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub head: Day,
    /// Latest event time seen (the max, whatever the arrival order) and its log offset.
    pub last: Micros,
    pub last_offset: u64,
    pub counts: Counts,
    /// Active-day bits, then each feature area's day bits.
    pub bits: Box<[u64]>,
    pub users: Vec<u64>,
    /// Per-day property statistics and distinct values, for the few streams that keep them.
    pub extra: Option<Box<Extra>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extra {
    pub stats: Box<[DayStat]>,
    pub values: Vec<u64>,
}

/// Days-ring words for a capacity.
pub fn words(cap: u32) -> usize {
    cap.div_ceil(64) as usize
}

impl StreamState {
    fn new(s: &Stream, features: usize) -> StreamState {
        let words = words(s.cap);
        let bit_rows = s.needs.days as usize + if s.needs.features { features } else { 0 };
        StreamState {
            head: NO_DAY,
            last: Micros::MIN,
            last_offset: 0,
            counts: if s.needs.counts {
                Counts::new(s.cap as usize)
            } else {
                Counts::none()
            },
            bits: vec![0; words * bit_rows].into(),
            users: Vec::new(),
            extra: (s.needs.stats.is_some() || s.needs.values.is_some()).then(|| {
                Box::new(Extra {
                    stats: if s.needs.stats.is_some() {
                        vec![DayStat::default(); s.cap as usize].into()
                    } else {
                        Box::default()
                    },
                    values: Vec::new(),
                })
            }),
        }
    }

    /// Per-day property statistics (empty when not kept).
    pub fn stats(&self) -> &[DayStat] {
        self.extra.as_deref().map_or(&[], |x| &x.stats)
    }

    /// Distinct values as `[key, bits…]` entries (empty when not kept).
    pub fn values(&self) -> &[u64] {
        self.extra.as_deref().map_or(&[], |x| &x.values)
    }

    /// The active-day bits (when kept).
    pub fn days<'a>(&'a self, s: &Stream) -> &'a [u64] {
        if s.needs.days {
            &self.bits[..words(s.cap)]
        } else {
            &[]
        }
    }

    /// Each feature area's day bits (when kept).
    pub fn features<'a>(&'a self, s: &Stream) -> &'a [u64] {
        if s.needs.features {
            &self.bits[s.needs.days as usize * words(s.cap)..]
        } else {
            &[]
        }
    }

    /// Folds in one event on `day`. Returns false when the event is older than the ring.
    fn add(&mut self, s: &Stream, day: Day, e: &Event<'_>, feature: Option<u16>) -> bool {
        if e.at > self.last || (e.at == self.last && e.offset > self.last_offset) {
            self.last = e.at;
            self.last_offset = e.offset;
        }
        let cap = s.cap;
        let words = words(cap);
        let moved = self.head != NO_DAY && day > self.head;
        let (counts, bits_, users) = (&mut self.counts, &mut self.bits, &mut self.users);
        let extra = &mut self.extra;
        let fresh = day::advance(&mut self.head, cap, day, |d| {
            let slot = d.rem_euclid(cap as Day) as usize;
            counts.clear(slot);
            if let Some(x) = extra.as_deref_mut() {
                if let Some(st) = x.stats.get_mut(slot) {
                    *st = DayStat::default();
                }
                for entry in x.values.chunks_mut(words + 1) {
                    bits::clear(&mut entry[1..], cap, d);
                }
            }
            for w in bits_.chunks_mut(words) {
                bits::clear(w, cap, d);
            }
            for entry in users.chunks_mut(words + 1) {
                bits::clear(&mut entry[1..], cap, d);
            }
        });
        if !fresh {
            return false;
        }
        if moved {
            prune(&mut self.users, words);
            if let Some(x) = self.extra.as_deref_mut() {
                prune(&mut x.values, words);
            }
        }
        let slot = day.rem_euclid(cap as Day) as usize;
        self.counts.increment(slot);
        if s.needs.days {
            bits::set(&mut self.bits[..words], cap, day);
        }
        if let (true, Some(u)) = (s.needs.users, e.user) {
            mark(&mut self.users, words, u, cap, day);
        }
        if let (Some(f), true) = (feature, s.needs.features) {
            let at = (s.needs.days as usize + f as usize) * words;
            bits::set(&mut self.bits[at..at + words], cap, day);
        }
        if let (Some(p), Some(name)) = (e.properties, &s.needs.stats) {
            if let Some(v) = plan::number(p, name) {
                let Some(x) = self.extra.as_deref_mut() else {
                    return true;
                };
                let st = &mut x.stats[slot];
                if st.n == 0 {
                    *st = DayStat {
                        sum: v,
                        n: 1,
                        min: v,
                        max: v,
                    };
                } else {
                    st.sum += v;
                    st.n += 1;
                    st.min = st.min.min(v);
                    st.max = st.max.max(v);
                }
            }
        }
        if let (Some(p), Some(name)) = (e.properties, &s.needs.values) {
            if let Some(k) = plan::value_key(p, name) {
                if let Some(x) = self.extra.as_deref_mut() {
                    mark(&mut x.values, words, k, cap, day);
                }
            }
        }
        true
    }
}

impl StreamState {
    /// Bytes this stream holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counts.heap_bytes()
            + self.bits.len() * 8
            + self.users.capacity() * 8
            + self.extra.as_deref().map_or(0, |x| {
                std::mem::size_of::<Extra>()
                    + x.stats.len() * std::mem::size_of::<DayStat>()
                    + x.values.capacity() * 8
            })
    }
}

/// Sets `day` for `key` in an interleaved `[key, bits…]` list sorted by key.
fn mark(list: &mut Vec<u64>, words: usize, key: u64, cap: u32, day: Day) {
    let stride = words + 1;
    let n = list.len() / stride;
    // Binary search over entries.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if list[mid * stride] < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let at = lo * stride;
    if lo == n || list[at] != key {
        list.splice(
            at..at,
            std::iter::once(key).chain(std::iter::repeat_n(0, words)),
        );
    }
    bits::set(&mut list[at + 1..at + stride], cap, day);
}

/// Drops entries with no day left in the ring: they count in no window.
fn prune(list: &mut Vec<u64>, words: usize) {
    let stride = words + 1;
    let mut keep = 0;
    for i in 0..list.len() / stride {
        if list[i * stride + 1..(i + 1) * stride]
            .iter()
            .any(|w| *w != 0)
        {
            list.copy_within(i * stride..(i + 1) * stride, keep * stride);
            keep += 1;
        }
    }
    list.truncate(keep * stride);
}

/// The entries of an interleaved list with some day in `from ..= to` (already clipped).
pub fn distinct(list: &[u64], cap: u32, from: Day, to: Day) -> usize {
    let words = words(cap);
    list.chunks(words + 1)
        .filter(|e| bits::any(&e[1..], cap, from, to))
        .count()
}

/// An all-time event milestone's evidence: the smallest days that can decide when it was
/// first reached, whatever order events arrive in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EverState {
    /// The `min_count` earliest event days.
    pub event_days: Vec<Day>,
    /// Each user's first day.
    pub user_first: Vec<(u64, Day)>,
    /// The `min_days` earliest distinct days.
    pub active_days: Vec<Day>,
}

impl EverState {
    fn add(&mut self, m: &EventMilestone, day: Day, user: Option<u64>) {
        keep_smallest(&mut self.event_days, day, m.min_count as usize, false);
        if m.min_days > 0 {
            keep_smallest(&mut self.active_days, day, m.min_days as usize, true);
        }
        if let (true, Some(u)) = (m.min_users > 0, user) {
            // Only the `min_users` users with the earliest first days can decide the day, so
            // only they are kept: the smallest (first day, user) pairs, the same set in any
            // arrival order (a user dropped and seen again earlier comes back with that day).
            match self.user_first.iter().position(|(x, _)| *x == u) {
                Some(i) => self.user_first[i].1 = self.user_first[i].1.min(day),
                None => self.user_first.push((u, day)),
            }
            self.user_first.sort_unstable_by_key(|(x, d)| (*d, *x));
            self.user_first.truncate(m.min_users as usize);
        }
    }

    /// The first day on which the condition held.
    fn reached(&self, m: &EventMilestone) -> Option<Day> {
        let mut on = *self.event_days.get(m.min_count as usize - 1)?;
        if m.min_days > 0 {
            on = on.max(*self.active_days.get(m.min_days as usize - 1)?);
        }
        if m.min_users > 0 {
            on = on.max(self.user_first.get(m.min_users as usize - 1)?.1);
        }
        Some(on)
    }
}

fn keep_smallest(v: &mut Vec<Day>, day: Day, n: usize, distinct: bool) {
    let i = match v.binary_search(&day) {
        Ok(_) if distinct => return,
        Ok(i) | Err(i) => i,
    };
    if i < n {
        v.insert(i, day);
        v.truncate(n);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MilestoneState {
    pub reached: Option<Day>,
    pub ever: Option<Box<EverState>>,
}

/// The account's own attributes (from the account record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub name: String,
    pub plan: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub size_band: Option<String>,
    pub owner: Option<String>,
    pub signed_up: Option<Micros>,
    pub executive_sponsor: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sub {
    pub id: Box<str>,
    pub plan: String,
    pub seats: u32,
    /// Annual recurring revenue in major units.
    pub arr: f64,
    pub start: Day,
    pub end: Option<Day>,
    pub status: SubscriptionStatus,
}

impl Sub {
    /// Whether the subscription is in force on `day`. An active subscription whose end date
    /// passed without an update is taken as renewed; a cancelled or expired one runs to its
    /// end date.
    pub fn active_on(&self, day: Day) -> bool {
        if self.start > day {
            return false;
        }
        match self.status {
            SubscriptionStatus::Active
            | SubscriptionStatus::Trialing
            | SubscriptionStatus::PastDue => true,
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired => {
                self.end.is_some_and(|end| day <= end)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEntry {
    pub id: Box<str>,
    pub opened: Micros,
    /// When resolved; `Some(Micros::MIN)` when solved at an unknown time.
    pub resolved: Option<Micros>,
    pub high: bool,
    pub csat: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyEntry {
    pub id: Box<str>,
    pub at: Micros,
    pub score: SurveyScore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub id: Box<str>,
    pub at: Micros,
    pub kind: ActivityKind,
    pub responded: Option<Micros>,
    /// False for a meeting the customer did not attend (it counts as no meeting).
    pub held: bool,
}

/// What last changed an account: the signal behind its latest score change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// A product event: the declared event's index (none for page, screen and undeclared
    /// events) and its log offset.
    Event {
        event: Option<u16>,
        offset: u64,
        at: Micros,
    },
    Record {
        record: tenure_domain::RecordKind,
        id: String,
        at: Micros,
    },
}

/// A score remembered to explain the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memo {
    pub score: f32,
    pub at: Micros,
    pub confidence: f32,
    pub tier: u16,
    pub segment: u16,
    pub stage: crate::journey::Stage,
    /// Points per health measure, in the model's pillar order.
    pub points: Box<[f32]>,
    pub cause: Option<Cause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub info: Option<Info>,
    pub subscriptions: Vec<Sub>,
    /// Made at the stream's first event.
    pub streams: Vec<Option<Box<StreamState>>>,
    pub milestones: Vec<MilestoneState>,
    pub tickets: Vec<TicketEntry>,
    pub surveys: Vec<SurveyEntry>,
    pub activities: Vec<ActivityEntry>,
    /// The first product event ever seen.
    pub first_event: Option<Micros>,
    pub last_cause: Option<Cause>,
    pub current: Option<Memo>,
    pub previous: Option<Memo>,
    /// Changed since the last score.
    #[serde(skip)]
    pub dirty: bool,
}

/// A product event, as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub offset: u64,
    /// The user's 64-bit hash (see `user_key`).
    pub user: Option<u64>,
    /// The declared event's index; `None` for page and screen calls and undeclared events.
    pub event: Option<u16>,
    pub at: Micros,
    pub properties: Option<&'a Map<String, Value>>,
}

impl AccountState {
    pub fn new(plan: &Plan) -> AccountState {
        AccountState {
            info: None,
            subscriptions: Vec::new(),
            streams: vec![None; plan.streams.len()],
            milestones: plan
                .milestones
                .iter()
                .map(|m| MilestoneState {
                    reached: None,
                    ever: match &m.rule {
                        MilestoneRule::Events(e) if e.window.is_none() => Some(Box::default()),
                        _ => None,
                    },
                })
                .collect(),
            tickets: Vec::new(),
            surveys: Vec::new(),
            activities: Vec::new(),
            first_event: None,
            last_cause: None,
            current: None,
            previous: None,
            dirty: false,
        }
    }

    pub fn apply_event(&mut self, plan: &Plan, e: &Event<'_>) {
        let day = day::day_of(e.at);
        self.first_event = Some(self.first_event.map_or(e.at, |f| f.min(e.at)));
        let feature = e.event.map(|i| plan.event_feature[i as usize]);
        let named: &[usize] = match e.event {
            Some(i) => &plan.streams_of_event[i as usize],
            None => &[],
        };
        for &si in plan.any_streams.iter().chain(named) {
            let s = &plan.streams[si];
            if !s.stores {
                continue;
            }
            if s.reads_properties {
                let holds = e
                    .properties
                    .is_some_and(|p| plan::conditions_hold(&s.filter.conditions, p));
                if !holds {
                    continue;
                }
            }
            self.streams[si]
                .get_or_insert_with(|| Box::new(StreamState::new(s, plan.features.len())))
                .add(s, day, e, feature);
        }
        let milestones: &[usize] = match e.event {
            Some(i) => &plan.milestones_of_event[i as usize],
            None => &[],
        };
        for &mi in plan.any_milestones.iter().chain(milestones) {
            let MilestoneRule::Events(rule) = &plan.milestones[mi].rule else {
                continue;
            };
            let s = &plan.streams[rule.stream];
            let state = &mut self.milestones[mi];
            match (&mut state.ever, rule.window) {
                (Some(ever), _) => {
                    ever.add(rule, day, e.user);
                    state.reached = ever.reached(rule);
                }
                (None, Some(w)) => {
                    let Some(stream) = self.streams[rule.stream].as_deref() else {
                        continue;
                    };
                    let last_end = (day + w as Day - 1).min(stream.head);
                    let last_end = match state.reached {
                        Some(r) => last_end.min(r - 1),
                        None => last_end,
                    };
                    for end in day..=last_end {
                        if window_holds(stream, s, rule, end - w as Day + 1, end) {
                            state.reached = Some(end);
                            break;
                        }
                    }
                }
                (None, None) => {}
            }
        }
    }

    pub fn apply_account(&mut self, a: &Account) {
        self.info = Some(Info {
            name: a.name.clone(),
            plan: a.plan.clone(),
            industry: a.industry.clone(),
            region: a.region.clone(),
            country: a.country.clone(),
            size_band: a.size_band.clone(),
            owner: a.owner.as_ref().map(|o| o.as_str().to_owned()),
            signed_up: a.signed_up_at.map(|t| t.timestamp_micros()),
            executive_sponsor: a
                .executive_sponsor
                .as_ref()
                .is_some_and(|s| !s.trim().is_empty()),
        });
    }

    pub fn apply_subscription(&mut self, s: &Subscription) {
        let minor = match s.interval {
            BillingInterval::Year => s.amount.minor as f64,
            BillingInterval::Month => s.amount.minor as f64 * 12.0,
        };
        let sub = Sub {
            id: s.id.as_str().into(),
            plan: s.plan.clone(),
            seats: s.seats,
            arr: minor / 10f64.powi(s.amount.currency.exponent() as i32),
            start: day::day_of_date(s.start),
            end: s.end.map(day::day_of_date),
            status: s.status,
        };
        upsert(&mut self.subscriptions, sub, |x| &x.id);
    }

    pub fn apply_ticket(&mut self, t: &Ticket) {
        let solved = matches!(t.status, TicketStatus::Solved | TicketStatus::Closed);
        let entry = TicketEntry {
            id: t.id.as_str().into(),
            opened: t.opened_at.timestamp_micros(),
            resolved: t
                .resolved_at
                .map(|r| r.timestamp_micros())
                .or(solved.then_some(Micros::MIN)),
            high: t.priority >= TicketPriority::High,
            csat: t.csat,
        };
        upsert(&mut self.tickets, entry, |x| &x.id);
    }

    pub fn apply_survey(&mut self, s: &SurveyResponse) {
        let entry = SurveyEntry {
            id: s.id.as_str().into(),
            at: s.responded_at.timestamp_micros(),
            score: s.score,
        };
        upsert(&mut self.surveys, entry, |x| &x.id);
    }

    pub fn apply_activity(&mut self, plan: &Plan, a: &CsmActivity) {
        // Kinds no measure reads are not kept.
        if !plan.activity_kinds.contains(&a.kind) {
            self.activities.retain(|x| &*x.id != a.id.as_str());
            return;
        }
        let entry = ActivityEntry {
            id: a.id.as_str().into(),
            at: a.occurred_at.timestamp_micros(),
            kind: a.kind,
            responded: a.responded_at.map(|r| r.timestamp_micros()),
            held: a.attended != Some(false),
        };
        upsert(&mut self.activities, entry, |x| &x.id);
    }

    /// Forgets records too old for any measure (on a day change), so state stays bounded.
    pub fn trim(&mut self, plan: &Plan, today: Day) {
        let horizon =
            |days: u32| day::start_of(today - days as Day - day::FUTURE_SLACK_DAYS as Day);
        let t = horizon(plan.ticket_horizon);
        self.tickets.retain(|x| {
            x.opened >= t || x.resolved.is_none() || x.resolved.is_some_and(|r| r >= t)
        });
        let a = horizon(plan.activity_horizon);
        self.activities.retain(|x| x.at >= a);
        let s = horizon(plan.survey_horizon);
        // Keep the latest answer of each survey kind whatever its age: `latest` reads it.
        let mut latest: [Option<Micros>; 3] = [None; 3];
        for x in &self.surveys {
            let k = survey_slot(&x.score);
            latest[k] = Some(latest[k].map_or(x.at, |l| l.max(x.at)));
        }
        self.surveys
            .retain(|x| x.at >= s || latest[survey_slot(&x.score)] == Some(x.at));
        // A day's change is the time to give back what growth over-allocated.
        self.subscriptions.shrink_to_fit();
        self.tickets.shrink_to_fit();
        self.activities.shrink_to_fit();
        self.surveys.shrink_to_fit();
        for st in self.streams.iter_mut().flatten() {
            st.users.shrink_to_fit();
            if let Some(x) = st.extra.as_deref_mut() {
                x.values.shrink_to_fit();
            }
        }
    }
}

fn survey_slot(s: &SurveyScore) -> usize {
    match s {
        SurveyScore::Nps(_) => 0,
        SurveyScore::Csat(_) => 1,
        SurveyScore::Ces(_) => 2,
    }
}

impl AccountState {
    /// Bytes this account's state holds on the heap (allocator overhead not counted).
    pub fn heap_bytes(&self) -> usize {
        self.heap_parts().iter().map(|(_, b)| b).sum()
    }

    /// `heap_bytes` by part: account, subscriptions, streams, milestones, tickets, surveys,
    /// activities, scores.
    pub fn heap_parts(&self) -> [(&'static str, usize); 8] {
        use std::mem::size_of;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let info = self.info.as_ref().map_or(0, |i| {
            i.name.capacity()
                + opt(&i.plan)
                + opt(&i.industry)
                + opt(&i.region)
                + opt(&i.country)
                + opt(&i.size_band)
                + opt(&i.owner)
        });
        let subs = self.subscriptions.capacity() * size_of::<Sub>()
            + self
                .subscriptions
                .iter()
                .map(|s| s.id.len() + s.plan.capacity())
                .sum::<usize>();
        let streams = self.streams.capacity() * size_of::<Option<Box<StreamState>>>()
            + self
                .streams
                .iter()
                .flatten()
                .map(|s| size_of::<StreamState>() + s.heap_bytes())
                .sum::<usize>();
        let milestones = self.milestones.capacity() * size_of::<MilestoneState>()
            + self
                .milestones
                .iter()
                .filter_map(|m| m.ever.as_ref())
                .map(|e| {
                    (e.event_days.capacity() + e.active_days.capacity()) * 4
                        + e.user_first.capacity() * size_of::<(u64, Day)>()
                })
                .sum::<usize>();
        let tickets = self.tickets.capacity() * size_of::<TicketEntry>()
            + self.tickets.iter().map(|t| t.id.len()).sum::<usize>();
        let surveys = self.surveys.capacity() * size_of::<SurveyEntry>()
            + self.surveys.iter().map(|t| t.id.len()).sum::<usize>();
        let activities = self.activities.capacity() * size_of::<ActivityEntry>()
            + self.activities.iter().map(|t| t.id.len()).sum::<usize>();
        let cause = |c: &Option<Cause>| match c {
            Some(Cause::Record { id, .. }) => id.capacity(),
            _ => 0,
        };
        let memo = |m: &Option<Memo>| {
            m.as_ref()
                .map_or(0, |m| m.points.len() * 4 + cause(&m.cause))
        };
        [
            ("account", info),
            ("subscriptions", subs),
            ("streams", streams),
            ("milestones", milestones),
            ("tickets", tickets),
            ("surveys", surveys),
            ("activities", activities),
            (
                "scores",
                cause(&self.last_cause) + memo(&self.current) + memo(&self.previous),
            ),
        ]
    }
}

/// Whether a windowed event milestone's condition holds over `from ..= to`.
pub fn window_holds(
    stream: &StreamState,
    s: &Stream,
    rule: &EventMilestone,
    from: Day,
    to: Day,
) -> bool {
    let Some((lo, hi)) = day::clip(from, to, stream.head, s.cap) else {
        return false;
    };
    let count: u64 = (lo..=hi)
        .map(|d| stream.counts.get(d.rem_euclid(s.cap as Day) as usize) as u64)
        .sum();
    if count < rule.min_count as u64 {
        return false;
    }
    if rule.min_days > 0 && bits::count(stream.days(s), s.cap, lo, hi) < rule.min_days {
        return false;
    }
    rule.min_users == 0 || distinct(&stream.users, s.cap, lo, hi) >= rule.min_users as usize
}

fn upsert<T>(v: &mut Vec<T>, item: T, id: impl Fn(&T) -> &str) {
    match v.iter().position(|x| id(x) == id(&item)) {
        Some(i) => v[i] = item,
        None => v.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_widen_past_sixteen_bits_without_losing_any() {
        let mut c = Counts::new(4);
        for _ in 0..70_000 {
            c.increment(2);
        }
        c.increment(1);
        assert_eq!((c.get(2), c.get(1), c.get(0)), (70_000, 1, 0));
        assert!(matches!(c, Counts::Wide(_)));
        c.clear(2);
        assert_eq!(c.get(2), 0);
    }

    #[test]
    fn user_keys_are_stable() {
        // FNV-1a 64 of "user-1": the same in every process and version.
        assert_eq!(user_key("user-1"), 0xf84b_a2aa_754a_4bd4);
        assert_ne!(user_key("user-1"), user_key("user-2"));
    }
}
