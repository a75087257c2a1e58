//! One account's live state: what every stream, milestone and record source needs to answer
//! its measures on any later day. Applying a signal only folds it in (bits or-ed, counts
//! added, records upserted by id); scoring reads the state (see `features` and `health`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenure_domain::model::ActivityKind;
use tenure_domain::{
    Account, BillingInterval, ChangeKind, CsmActivity, Subscription, SubscriptionChange,
    SubscriptionStatus, SurveyResponse, SurveyScore, Ticket, TicketPriority, TicketStatus,
};

use crate::day::{self, bits, Day, Micros, NO_DAY};
use crate::plan::{self, EventMilestone, MilestoneRule, Plan, Region, Stream, STAT_WORDS};
use crate::sym::Sym;

/// The 64-bit key of a user id (FNV-1a: the same in every process and version).
pub fn user_key(user: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in user.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Per-day statistics of a numeric property.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayStat {
    pub sum: f64,
    pub n: u32,
    pub min: f64,
    pub max: f64,
}

/// Days-ring words for a capacity.
pub fn words(cap: u32) -> usize {
    cap.div_ceil(64) as usize
}

/// One stored stream of an account, read from its arena (see `plan::Region`). Users and
/// distinct values are kept apart, as 64-bit hashes followed by their day bits, `1 + words`
/// words per entry, sorted by hash.
#[derive(Clone, Copy)]
pub struct StreamRef<'a> {
    /// The latest day written (the ring holds `head-cap+1 ..= head`).
    pub head: Day,
    /// Latest event time seen (the max, whatever the arrival order) and its log offset.
    pub last: Micros,
    pub last_offset: u64,
    pub users: &'a [u64],
    values: &'a [u64],
    arena: &'a [u64],
    r: Region,
    wide: bool,
}

impl<'a> StreamRef<'a> {
    pub fn has_counts(&self) -> bool {
        self.r.bits > self.r.counts
    }

    /// The event count in `slot`.
    pub fn count(&self, slot: usize) -> u32 {
        count_at(self.arena, &self.r, self.wide, slot)
    }

    /// The active-day bits (when kept).
    pub fn days(&self, s: &Stream) -> &'a [u64] {
        if s.needs.days {
            &self.arena[self.r.bits..self.r.bits + words(s.cap)]
        } else {
            &[]
        }
    }

    /// Each feature area's day bits (when kept).
    pub fn features(&self, s: &Stream) -> &'a [u64] {
        if s.needs.features {
            &self.arena[self.r.bits + s.needs.days as usize * words(s.cap)..self.r.stats]
        } else {
            &[]
        }
    }

    pub fn has_stats(&self) -> bool {
        self.r.end > self.r.stats
    }

    /// The property statistics of `slot` (when kept).
    pub fn stat(&self, slot: usize) -> DayStat {
        let w = &self.arena[self.r.stats + slot * STAT_WORDS..];
        DayStat {
            sum: f64::from_bits(w[0]),
            n: w[1] as u32,
            min: f64::from_bits(w[2]),
            max: f64::from_bits(w[3]),
        }
    }

    /// Distinct values as `[key, bits…]` entries (empty when not kept).
    pub fn values(&self) -> &'a [u64] {
        self.values
    }
}

fn count_at(arena: &[u64], r: &Region, wide: bool, slot: usize) -> u32 {
    if wide {
        (arena[r.counts + slot / 2] >> ((slot % 2) * 32)) as u32
    } else {
        ((arena[r.counts + slot / 4] >> ((slot % 4) * 16)) & 0xffff) as u32
    }
}

fn clear_count(arena: &mut [u64], r: &Region, wide: bool, slot: usize) {
    if wide {
        arena[r.counts + slot / 2] &= !(0xffff_ffff << ((slot % 2) * 32));
    } else {
        arena[r.counts + slot / 4] &= !(0xffff << ((slot % 4) * 16));
    }
}

/// Adds one to the count in `slot`; the caller widened the counts first if it was full.
fn increment(arena: &mut [u64], r: &Region, wide: bool, slot: usize) {
    if wide {
        if count_at(arena, r, wide, slot) < u32::MAX {
            arena[r.counts + slot / 2] += 1 << ((slot % 2) * 32);
        }
    } else {
        arena[r.counts + slot / 4] += 1 << ((slot % 4) * 16);
    }
}

fn read_head(arena: &[u64], r: &Region) -> Day {
    arena[r.at] as u32 as i32
}

/// Folds one event on `day` into a stream's region and lists. Returns false when the event
/// is older than the ring.
#[allow(clippy::too_many_arguments)]
fn add(
    arena: &mut [u64],
    r: &Region,
    wide: bool,
    lists: &mut [Vec<u64>],
    s: &Stream,
    day: Day,
    e: &Event<'_>,
    feature: Option<u16>,
) -> bool {
    let last = arena[r.at + 1] as i64;
    if e.at > last || (e.at == last && e.offset > arena[r.at + 2]) {
        arena[r.at + 1] = e.at as u64;
        arena[r.at + 2] = e.offset;
    }
    let cap = s.cap;
    let words = words(cap);
    let mut head = read_head(arena, r);
    let moved = head != NO_DAY && day > head;
    let fresh = day::advance(&mut head, cap, day, |d| {
        let slot = d.rem_euclid(cap as Day) as usize;
        if r.bits > r.counts {
            clear_count(arena, r, wide, slot);
        }
        if r.end > r.stats {
            let at = r.stats + slot * STAT_WORDS;
            arena[at..at + STAT_WORDS].fill(0);
        }
        for w in arena[r.bits..r.stats].chunks_mut(words) {
            bits::clear(w, cap, d);
        }
        for list in [s.users, s.values].into_iter().flatten() {
            for entry in lists[list].chunks_mut(words + 1) {
                bits::clear(&mut entry[1..], cap, d);
            }
        }
    });
    arena[r.at] = head as u32 as u64;
    if !fresh {
        return false;
    }
    if moved {
        for list in [s.users, s.values].into_iter().flatten() {
            prune(&mut lists[list], words);
        }
    }
    let slot = day.rem_euclid(cap as Day) as usize;
    if s.needs.counts {
        increment(arena, r, wide, slot);
    }
    if s.needs.days {
        bits::set(&mut arena[r.bits..r.bits + words], cap, day);
    }
    if let (Some(list), Some(u)) = (s.users, e.user) {
        mark(&mut lists[list], words, u, cap, day);
    }
    if let (Some(f), true) = (feature, s.needs.features) {
        let at = r.bits + (s.needs.days as usize + f as usize) * words;
        bits::set(&mut arena[at..at + words], cap, day);
    }
    if let (Some(p), Some(name)) = (e.properties, &s.needs.stats) {
        if let Some(v) = plan::number(p, name) {
            let w = &mut arena[r.stats + slot * STAT_WORDS..][..STAT_WORDS];
            if w[1] == 0 {
                w.copy_from_slice(&[v.to_bits(), 1, v.to_bits(), v.to_bits()]);
            } else {
                w[0] = (f64::from_bits(w[0]) + v).to_bits();
                w[1] += 1;
                w[2] = f64::from_bits(w[2]).min(v).to_bits();
                w[3] = f64::from_bits(w[3]).max(v).to_bits();
            }
        }
    }
    if let (Some(p), Some(name), Some(list)) = (e.properties, &s.needs.values, s.values) {
        if let Some(k) = plan::value_key(p, name) {
            mark(&mut lists[list], words, k, cap, day);
        }
    }
    true
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
    if list.is_empty() {
        return 0;
    }
    let masks = bits::masks(cap, from, to);
    list.chunks(words(cap) + 1)
        .filter(|e| bits::hits(&e[1..], &masks))
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
    pub name: Box<str>,
    pub plan: Option<Sym>,
    pub industry: Option<Sym>,
    pub region: Option<Sym>,
    pub country: Option<Sym>,
    pub size_band: Option<Sym>,
    pub owner: Option<Sym>,
    pub signed_up: Option<Micros>,
    pub executive_sponsor: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sub {
    pub id: Box<str>,
    pub plan: Sym,
    pub seats: u32,
    /// Annual recurring revenue in major units.
    pub arr: f64,
    pub start: Day,
    pub end: Option<Day>,
    /// Months per term (0: unknown; the end date is then the renewal date).
    #[serde(default)]
    pub term_months: u32,
    pub status: SubscriptionStatus,
}

/// One change of a subscription's seats and ARR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubChange {
    pub id: Box<str>,
    pub subscription: Box<str>,
    pub day: Day,
    pub seats: i32,
    /// ARR in major units.
    pub arr: f64,
    /// The subscription's opening change (new business or a reactivation): with it known,
    /// the changes are the subscription's whole history.
    pub opening: bool,
}

impl Sub {
    /// The end of the term running on `day` (the renewal date then): term after term from the
    /// start, each `term_months` long; a cancelled or expired subscription's terms stop at its
    /// end date. The record's end date alone would be the *current* term's end, which a day in
    /// the past did not know.
    pub fn term_end_after(&self, day: Day) -> Option<Day> {
        let stopped = matches!(
            self.status,
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired
        );
        if self.term_months == 0 {
            return self.end.filter(|e| *e >= day);
        }
        // Within the record's current term, its end date is the renewal date, whatever the
        // schedule says (co-termed and irregular contracts keep their own dates).
        if let Some(e) = self.end {
            let term_start = day::date_of(e)
                .checked_sub_months(chrono::Months::new(self.term_months))
                .map(day::day_of_date);
            if term_start.is_some_and(|t| t < day) && day <= e {
                return Some(e);
            }
        }
        // Term after term from the start. Adding months clamps the day of the month (31
        // January + 1 month is 28 February), so a schedule can drift once, to a day of 28 or
        // less, and keeps that day from then on: after that, whole terms are skipped at once
        // (the same dates as stepping, without a step per term of a years-old subscription).
        use chrono::Datelike;
        let step = chrono::Months::new(self.term_months);
        let mut end = day::date_of(self.start);
        let target = day::date_of(day);
        while end < target && end.day() > 28 {
            end = end.checked_add_months(step)?;
        }
        if end < target {
            let months =
                (target.year() - end.year()) * 12 + target.month0() as i32 - end.month0() as i32;
            let whole = months.max(0) as u32 / self.term_months;
            if whole > 1 {
                end =
                    end.checked_add_months(chrono::Months::new((whole - 1) * self.term_months))?;
            }
        }
        while end < target {
            end = end.checked_add_months(step)?;
        }
        let mut on = day::day_of_date(end);
        if let (true, Some(e)) = (stopped, self.end) {
            on = on.min(e);
        }
        (on >= day).then_some(on)
    }

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
        id: Box<str>,
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
    /// Boxed: most of the engine's work never reads it.
    pub info: Option<Box<Info>>,
    pub subscriptions: Vec<Sub>,
    /// The subscriptions' changes of seats and ARR (see `seats_and_arr_on`).
    #[serde(default)]
    pub sub_changes: Vec<SubChange>,
    /// Each playbook's bookkeeping, in the plan's order (`playbook.rs`).
    #[serde(default)]
    pub playbooks: Vec<crate::playbook::Tracking>,
    /// Daily scores kept for `health_drop` triggers: (day, score), oldest first.
    #[serde(default)]
    pub score_days: ScoreDays,
    /// The days each feature area was used, for `release_touches_feature` triggers (empty
    /// when the plan has none): see `FeatureDays`.
    #[serde(default)]
    pub feature_days: Vec<FeatureDays>,
    /// Every stored stream's rings, laid out by the plan (`plan::Region`): one allocation
    /// per account, made at its first product event.
    pub arena: Box<[u64]>,
    /// Whether the arena's day counts are 32-bit (once some day passed 65,535 events).
    pub wide: bool,
    /// The users and distinct values of the streams that keep them (`Stream::users`,
    /// `Stream::values`).
    pub lists: Box<[Vec<u64>]>,
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

/// An account's daily scores for `health_drop` triggers: a ring of the last `len` days, the
/// slot of day `d` at `d mod len`, NaN for a day without a score. One slot per day, so the
/// score of a day is one read (a check touches one cache line, not a bisection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreDays {
    pub newest: Day,
    pub slots: Vec<f32>,
}

impl ScoreDays {
    /// Records `score` as `day`'s (the last one of a day wins), keeping `len` days.
    pub fn record(&mut self, day: Day, score: f32, len: usize) {
        if self.slots.len() != len {
            self.slots = vec![f32::NAN; len];
            self.newest = day;
        }
        if day < self.newest {
            return;
        }
        let n = len as i64;
        // Days skipped since the newest have no score.
        let gap = (i64::from(day) - i64::from(self.newest)).min(n);
        for k in 1..gap {
            let d = i64::from(day) - k;
            self.slots[d.rem_euclid(n) as usize] = f32::NAN;
        }
        self.slots[i64::from(day).rem_euclid(n) as usize] = score;
        self.newest = day;
    }

    /// The score of the newest day on or before `day` still kept.
    pub fn on_or_before(&self, day: Day) -> Option<f32> {
        let n = self.slots.len() as i64;
        if n == 0 {
            return None;
        }
        let newest = i64::from(self.newest);
        let from = i64::from(day).min(newest);
        (0..n)
            .map(|k| from - k)
            .take_while(|d| newest - d < n)
            .map(|d| self.slots[d.rem_euclid(n) as usize])
            .find(|s| !s.is_nan())
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.newest = 0;
    }
}

/// The days one feature area was used in the 64 days up to the newest day of use: bit `k` of
/// `mask` is the day `newest - k`. Marking does not depend on the order of the days marked
/// (an older day is set in place, a newer one shifts the window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureDays {
    pub newest: Day,
    pub mask: u64,
}

impl FeatureDays {
    pub fn mark(&mut self, d: Day) {
        if self.mask == 0 || d > self.newest {
            let shift = if self.mask == 0 {
                64
            } else {
                i64::from(d) - i64::from(self.newest)
            };
            self.mask = if shift >= 64 { 0 } else { self.mask << shift };
            self.newest = d;
        }
        let back = i64::from(self.newest) - i64::from(d);
        if back < 64 {
            self.mask |= 1 << back;
        }
    }

    /// Days of use in `from ..= to`.
    pub fn days_in(&self, from: Day, to: Day) -> u32 {
        if self.mask == 0 || to < from {
            return 0;
        }
        (from.max(self.newest - 63)..=to.min(self.newest))
            .filter(|d| self.mask >> (self.newest - d) as u32 & 1 == 1)
            .count() as u32
    }
}

impl AccountState {
    pub fn new(plan: &Plan) -> AccountState {
        AccountState {
            info: None,
            subscriptions: Vec::new(),
            sub_changes: Vec::new(),
            playbooks: Vec::new(),
            score_days: ScoreDays::default(),
            feature_days: Vec::new(),
            arena: Box::default(),
            wide: false,
            lists: Box::default(),
            milestones: plan
                .milestones
                .iter()
                .map(|m| MilestoneState {
                    reached: None,
                    // Reached at the first matching event needs no evidence beyond the
                    // earliest day; other all-time conditions keep the deciding days.
                    ever: match &m.rule {
                        MilestoneRule::Events(e)
                            if e.window.is_none()
                                && (e.min_count > 1 || e.min_users > 0 || e.min_days > 0) =>
                        {
                            Some(Box::default())
                        }
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
        if plan.release_playbooks {
            if let Some(f) = feature {
                if self.feature_days.len() != plan.features.len() {
                    self.feature_days
                        .resize(plan.features.len(), FeatureDays::default());
                }
                self.feature_days[f as usize].mark(day);
            }
        }
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
            if self.arena.is_empty() {
                self.make_arena(plan);
            }
            if !self.wide && s.needs.counts && self.count_full(s, day) {
                self.widen(plan);
            }
            let r = s.regions[self.wide as usize];
            if self.arena.len() >= r.end {
                add(
                    &mut self.arena,
                    &r,
                    self.wide,
                    &mut self.lists,
                    s,
                    day,
                    e,
                    feature,
                );
            }
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
                    let reached = state.reached;
                    let Some(stream) = self.stream(plan, rule.stream) else {
                        continue;
                    };
                    let last_end = (day + w as Day - 1).min(stream.head);
                    let last_end = match reached {
                        Some(r) => last_end.min(r - 1),
                        None => last_end,
                    };
                    let found = (day..=last_end)
                        .find(|end| window_holds(stream, s, rule, end - w as Day + 1, *end));
                    if found.is_some() {
                        self.milestones[mi].reached = found;
                    }
                }
                (None, None) => state.reached = Some(state.reached.map_or(day, |r| r.min(day))),
            }
        }
    }

    /// A stored stream's state; `None` before its first event.
    pub fn stream<'a>(&'a self, plan: &Plan, si: usize) -> Option<StreamRef<'a>> {
        let s = plan.streams.get(si)?;
        let r = s.regions[self.wide as usize];
        if !s.stores || self.arena.len() < r.end {
            return None;
        }
        let head = read_head(&self.arena, &r);
        let list = |l: Option<usize>| -> &'a [u64] {
            l.and_then(|l| self.lists.get(l))
                .map_or(&[], |v| v.as_slice())
        };
        (head != NO_DAY).then(|| StreamRef {
            head,
            last: self.arena[r.at + 1] as i64,
            last_offset: self.arena[r.at + 2],
            users: list(s.users),
            values: list(s.values),
            arena: &self.arena,
            r,
            wide: self.wide,
        })
    }

    fn make_arena(&mut self, plan: &Plan) {
        let mut arena = vec![0u64; plan.arena[self.wide as usize]];
        for s in plan.streams.iter().filter(|s| s.stores) {
            let r = s.regions[self.wide as usize];
            arena[r.at] = NO_DAY as u32 as u64;
            arena[r.at + 1] = Micros::MIN as u64;
        }
        self.arena = arena.into();
        self.lists = vec![Vec::new(); plan.lists].into();
    }

    /// Whether adding an event on `day` would overflow a 16-bit day count of stream `s`.
    fn count_full(&self, s: &Stream, day: Day) -> bool {
        let r = s.regions[0];
        if self.arena.len() < r.end {
            return false;
        }
        let head = read_head(&self.arena, &r);
        head != NO_DAY
            && day <= head
            && day > head - s.cap as Day
            && count_at(
                &self.arena,
                &r,
                false,
                day.rem_euclid(s.cap as Day) as usize,
            ) == u16::MAX as u32
    }

    /// Moves the arena to 32-bit day counts.
    fn widen(&mut self, plan: &Plan) {
        let mut wide = vec![0u64; plan.arena[1]];
        for s in plan.streams.iter().filter(|s| s.stores) {
            let [n, w] = s.regions;
            if self.arena.len() < n.end || wide.len() < w.end {
                continue;
            }
            wide[w.at..w.counts].copy_from_slice(&self.arena[n.at..n.counts]);
            if n.bits > n.counts {
                for slot in 0..s.cap as usize {
                    let c = count_at(&self.arena, &n, false, slot) as u64;
                    wide[w.counts + slot / 2] |= c << ((slot % 2) * 32);
                }
            }
            wide[w.bits..w.end].copy_from_slice(&self.arena[n.bits..n.end]);
        }
        self.arena = wide.into();
        self.wide = true;
    }

    pub fn apply_account(&mut self, a: &Account) {
        let sym = |s: &Option<String>| s.as_deref().map(Sym::new);
        self.info = Some(Box::new(Info {
            name: a.name.as_str().into(),
            plan: sym(&a.plan),
            industry: sym(&a.industry),
            region: sym(&a.region),
            country: sym(&a.country),
            size_band: sym(&a.size_band),
            owner: a.owner.as_ref().map(|o| Sym::new(o.as_str())),
            signed_up: a.signed_up_at.map(|t| t.timestamp_micros()),
            executive_sponsor: a
                .executive_sponsor
                .as_ref()
                .is_some_and(|s| !s.trim().is_empty()),
        }));
    }

    pub fn apply_subscription(&mut self, s: &Subscription) {
        let minor = match s.interval {
            BillingInterval::Year => s.amount.minor as f64,
            BillingInterval::Month => s.amount.minor as f64 * 12.0,
        };
        let sub = Sub {
            id: s.id.as_str().into(),
            plan: Sym::new(&s.plan),
            seats: s.seats,
            arr: minor / 10f64.powi(s.amount.currency.exponent() as i32),
            start: day::day_of_date(s.start),
            end: s.end.map(day::day_of_date),
            term_months: s.term_months,
            status: s.status,
        };
        upsert(&mut self.subscriptions, sub, |x| &x.id);
    }

    pub fn apply_subscription_change(&mut self, c: &SubscriptionChange) {
        let change = SubChange {
            id: c.id.as_str().into(),
            subscription: c.subscription.as_str().into(),
            day: day::day_of_date(c.effective),
            seats: c.seats_delta,
            arr: c.arr_delta.minor as f64 / 10f64.powi(c.arr_delta.currency.exponent() as i32),
            opening: matches!(c.kind, ChangeKind::New | ChangeKind::Reactivation),
        };
        upsert(&mut self.sub_changes, change, |x| &x.id);
    }

    /// The subscription's seats and ARR on `day`: the sums of its changes by then when its
    /// whole history is known (its opening change is among them), so that a day in the past
    /// sees the seats and ARR it had then; else the record's current values.
    pub fn seats_and_arr_on(&self, s: &Sub, day: Day) -> (u32, f64) {
        let mine = || self.sub_changes.iter().filter(|c| *c.subscription == *s.id);
        if !mine().any(|c| c.opening) {
            return (s.seats, s.arr);
        }
        let (seats, arr) = mine()
            .filter(|c| c.day <= day)
            .fold((0i64, 0.0), |(n, a), c| (n + i64::from(c.seats), a + c.arr));
        (seats.clamp(0, i64::from(u32::MAX)) as u32, arr.max(0.0))
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
        for list in self.lists.iter_mut() {
            list.shrink_to_fit();
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
        // Interned attributes are shared by every account: not counted here.
        let info = self
            .info
            .as_ref()
            .map_or(0, |i| size_of::<Info>() + i.name.len());
        let subs = self.subscriptions.capacity() * size_of::<Sub>()
            + self.subscriptions.iter().map(|s| s.id.len()).sum::<usize>();
        let streams = self.arena.len() * 8
            + self
                .lists
                .iter()
                .map(|l| size_of::<Vec<u64>>() + l.capacity() * 8)
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
            Some(Cause::Record { id, .. }) => id.len(),
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
    stream: StreamRef<'_>,
    s: &Stream,
    rule: &EventMilestone,
    from: Day,
    to: Day,
) -> bool {
    let Some((lo, hi)) = day::clip(from, to, stream.head, s.cap) else {
        return false;
    };
    let count: u64 = (lo..=hi)
        .map(|d| stream.count(d.rem_euclid(s.cap as Day) as usize) as u64)
        .sum();
    if count < rule.min_count as u64 {
        return false;
    }
    if rule.min_days > 0 && bits::count(stream.days(s), s.cap, lo, hi) < rule.min_days {
        return false;
    }
    rule.min_users == 0 || distinct(stream.users, s.cap, lo, hi) >= rule.min_users as usize
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
        use tenure_domain::SuccessModel;
        let plan = Plan::new(SuccessModel::default_model());
        let report = plan.events["report_created"];
        let mut st = AccountState::new(&plan);
        let day0 = 20_000;
        let event = |day: Day, i: u64, user: u64| Event {
            offset: i,
            user: Some(user),
            event: Some(report),
            at: day::start_of(day) + i as i64,
            properties: None,
        };
        for i in 0..3 {
            st.apply_event(&plan, &event(day0 - 1, i, 1));
        }
        for i in 0..70_000 {
            st.apply_event(&plan, &event(day0, 10 + i, 2 + i % 5));
        }
        assert!(st.wide, "the arena moved to 32-bit counts");
        let now = day::start_of(day0) + 86_399_999_999;
        let measure = |name: &str| {
            let m = &plan.measures[plan.measure_index[name]];
            crate::features::evaluate(&plan, &st, m, now).raw
        };
        assert_eq!(measure("core_actions_30d"), Some(70_003.0));
        assert_eq!(measure("active_days_30d"), Some(2.0));
        assert_eq!(measure("active_users_7d"), Some(6.0));
        // Days pass: the wide slots clear like the narrow ones did.
        st.apply_event(&plan, &event(day0 + 40, 80_000, 1));
        let later = day::start_of(day0 + 40) + 1;
        let m = &plan.measures[plan.measure_index["core_actions_30d"]];
        assert_eq!(
            crate::features::evaluate(&plan, &st, m, later).raw,
            Some(1.0)
        );
    }

    #[test]
    fn score_days_keep_the_last_days_and_skip_the_missing_ones() {
        let mut s = ScoreDays::default();
        assert_eq!(s.on_or_before(10), None);
        s.record(100, 50.0, 8);
        s.record(101, 51.0, 8);
        s.record(101, 52.0, 8); // the last score of a day wins
        s.record(104, 54.0, 8); // 102 and 103 had none
        s.record(99, 1.0, 8); // older than the newest: ignored
        assert_eq!(s.on_or_before(104), Some(54.0));
        assert_eq!(s.on_or_before(103), Some(52.0));
        assert_eq!(s.on_or_before(101), Some(52.0));
        assert_eq!(s.on_or_before(100), Some(50.0));
        assert_eq!(s.on_or_before(99), None);
        assert_eq!(s.on_or_before(200), Some(54.0));
        // Eight days on, day 100 has left the ring (it keeps 104 - 7 ..= 111).
        s.record(111, 60.0, 8);
        assert_eq!(s.on_or_before(105), Some(54.0));
        assert_eq!(s.on_or_before(103), None);
        // A gap longer than the ring empties it but the newest.
        s.record(150, 70.0, 8);
        assert_eq!(s.on_or_before(149), None);
        assert_eq!(s.on_or_before(150), Some(70.0));
    }

    #[test]
    fn skipping_whole_terms_gives_the_dates_of_stepping_term_by_term() {
        // The schedule stepped one term at a time, as the renewal date is defined.
        fn stepped(start: Day, term: u32, day: Day) -> Day {
            let mut end = day::date_of(start);
            let target = day::date_of(day);
            while end < target {
                end = end.checked_add_months(chrono::Months::new(term)).unwrap();
            }
            day::day_of_date(end)
        }
        let d = |s: &str| day::day_of_date(s.parse().unwrap());
        let mut checked = 0;
        for start in (d("2023-12-25")..d("2024-03-05")).chain(d("2024-10-25")..d("2024-11-05")) {
            for term in [1, 2, 3, 6, 12, 24, 36] {
                for offset in (0..2200).step_by(7).chain([29, 30, 31, 59, 60, 365, 366]) {
                    let sub = Sub {
                        id: "s".into(),
                        plan: Sym::new("pro"),
                        seats: 1,
                        arr: 1.0,
                        start,
                        end: None,
                        term_months: term,
                        status: SubscriptionStatus::Active,
                    };
                    let day = start + offset;
                    assert_eq!(
                        sub.term_end_after(day),
                        Some(stepped(start, term, day)),
                        "start {} term {term} day {}",
                        day::date_of(start),
                        day::date_of(day)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 150_000);
    }

    #[test]
    fn the_renewal_date_on_a_past_day_is_that_terms_end() {
        let d = |s: &str| day::day_of_date(s.parse().unwrap());
        let mut sub = Sub {
            id: "s".into(),
            plan: Sym::new("pro"),
            seats: 1,
            arr: 1.0,
            start: d("2025-01-31"),
            // The record as it stands today: renewed twice, the current term ends in April.
            end: Some(d("2025-04-28")),
            term_months: 1,
            status: SubscriptionStatus::Active,
        };
        // Terms run month after month from the start: Feb 28, Mar 28, Apr 28.
        assert_eq!(sub.term_end_after(d("2025-02-10")), Some(d("2025-02-28")));
        assert_eq!(sub.term_end_after(d("2025-02-28")), Some(d("2025-02-28")));
        assert_eq!(sub.term_end_after(d("2025-03-01")), Some(d("2025-03-28")));
        // Cancelled at the end of its second term: no term after that.
        sub.status = SubscriptionStatus::Cancelled;
        sub.end = Some(d("2025-03-28"));
        assert_eq!(sub.term_end_after(d("2025-03-10")), Some(d("2025-03-28")));
        assert_eq!(sub.term_end_after(d("2025-03-29")), None);
        // A record whose current term does not follow the schedule keeps its own end date
        // within that term.
        sub.status = SubscriptionStatus::Active;
        sub.end = Some(d("2025-05-10"));
        assert_eq!(sub.term_end_after(d("2025-04-20")), Some(d("2025-05-10")));
        assert_eq!(sub.term_end_after(d("2025-03-01")), Some(d("2025-03-28")));
        sub.status = SubscriptionStatus::Cancelled;
        sub.end = Some(d("2025-03-28"));
        // Without a term length, the end date is the renewal date.
        sub.term_months = 0;
        assert_eq!(sub.term_end_after(d("2025-02-10")), Some(d("2025-03-28")));
    }

    #[test]
    fn user_keys_are_stable() {
        // FNV-1a 64 of "user-1": the same in every process and version.
        assert_eq!(user_key("user-1"), 0xf84b_a2aa_754a_4bd4);
        assert_ne!(user_key("user-1"), user_key("user-2"));
    }
}
