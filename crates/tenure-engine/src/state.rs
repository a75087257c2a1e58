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

/// Per-day statistics of a numeric property.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DayStat {
    pub sum: f64,
    pub n: u32,
    pub min: f64,
    pub max: f64,
}

/// A stream's rings for one account (those its plan needs; the others stay empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub head: Day,
    /// Latest event time seen (the max, whatever the arrival order) and its log offset.
    pub last: Micros,
    pub last_offset: u64,
    pub total: u64,
    pub counts: Vec<u32>,
    pub days: Vec<u64>,
    /// Sorted user indexes, and `words` bits per user (parallel).
    pub users: Vec<u32>,
    pub user_bits: Vec<u64>,
    /// `words` bits per feature area.
    pub features: Vec<u64>,
    pub stats: Vec<DayStat>,
    pub values: Vec<u64>,
    pub value_bits: Vec<u64>,
}

impl StreamState {
    fn new(s: &Stream, features: usize) -> StreamState {
        let words = (s.cap / 64) as usize;
        StreamState {
            head: NO_DAY,
            last: Micros::MIN,
            last_offset: 0,
            total: 0,
            counts: if s.needs.counts {
                vec![0; s.cap as usize]
            } else {
                Vec::new()
            },
            days: if s.needs.days {
                vec![0; words]
            } else {
                Vec::new()
            },
            users: Vec::new(),
            user_bits: Vec::new(),
            features: if s.needs.features {
                vec![0; words * features]
            } else {
                Vec::new()
            },
            stats: if s.needs.stats.is_some() {
                vec![DayStat::default(); s.cap as usize]
            } else {
                Vec::new()
            },
            values: Vec::new(),
            value_bits: Vec::new(),
        }
    }

    fn words(cap: u32) -> usize {
        (cap / 64) as usize
    }

    /// Folds in one event on `day`. Returns false when the event is older than the ring.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        s: &Stream,
        day: Day,
        at: Micros,
        offset: u64,
        user: Option<u32>,
        feature: Option<u16>,
        props: Option<&Map<String, Value>>,
    ) -> bool {
        self.total += 1;
        if at > self.last || (at == self.last && offset > self.last_offset) {
            self.last = at;
            self.last_offset = offset;
        }
        let cap = s.cap;
        let words = Self::words(cap);
        let counts = &mut self.counts;
        let days = &mut self.days;
        let user_bits = &mut self.user_bits;
        let features = &mut self.features;
        let stats = &mut self.stats;
        let value_bits = &mut self.value_bits;
        let moved = self.head != NO_DAY && day > self.head;
        let fresh = day::advance(&mut self.head, cap, day, |d| {
            let slot = d.rem_euclid(cap as Day) as usize;
            if let Some(c) = counts.get_mut(slot) {
                *c = 0;
            }
            if let Some(st) = stats.get_mut(slot) {
                *st = DayStat::default();
            }
            for chunk in [
                &mut **days,
                &mut **user_bits,
                &mut **features,
                &mut **value_bits,
            ] {
                for w in chunk.chunks_mut(words) {
                    bits::clear(w, cap, d);
                }
            }
        });
        if !fresh {
            return false;
        }
        if moved {
            self.prune();
        }
        let slot = day.rem_euclid(cap as Day) as usize;
        if !self.counts.is_empty() {
            self.counts[slot] = self.counts[slot].saturating_add(1);
        }
        if !self.days.is_empty() {
            bits::set(&mut self.days, cap, day);
        }
        if s.needs.users {
            if let Some(u) = user {
                let i = match self.users.binary_search(&u) {
                    Ok(i) => i,
                    Err(i) => {
                        self.users.insert(i, u);
                        let at = i * words;
                        self.user_bits.splice(at..at, std::iter::repeat_n(0, words));
                        i
                    }
                };
                bits::set(&mut self.user_bits[i * words..(i + 1) * words], cap, day);
            }
        }
        if let (Some(f), false) = (feature, self.features.is_empty()) {
            let f = f as usize;
            bits::set(&mut self.features[f * words..(f + 1) * words], cap, day);
        }
        if let (Some(p), Some(name)) = (props, &s.needs.stats) {
            if let Some(v) = plan::number(p, name) {
                let st = &mut self.stats[slot];
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
        if let (Some(p), Some(name)) = (props, &s.needs.values) {
            if let Some(k) = plan::value_key(p, name) {
                let i = match self.values.binary_search(&k) {
                    Ok(i) => i,
                    Err(i) => {
                        self.values.insert(i, k);
                        let at = i * words;
                        self.value_bits
                            .splice(at..at, std::iter::repeat_n(0, words));
                        i
                    }
                };
                bits::set(&mut self.value_bits[i * words..(i + 1) * words], cap, day);
            }
        }
        true
    }

    /// Drops users and values with no day left in the ring: they count in no window.
    fn prune(&mut self) {
        if self.users.is_empty() && self.values.is_empty() {
            return;
        }
        let words = if self.users.is_empty() {
            self.value_bits.len() / self.values.len().max(1)
        } else {
            self.user_bits.len() / self.users.len()
        };
        if words == 0 {
            return;
        }
        let mut keep = 0;
        for i in 0..self.users.len() {
            if self.user_bits[i * words..(i + 1) * words]
                .iter()
                .any(|w| *w != 0)
            {
                self.users[keep] = self.users[i];
                self.user_bits
                    .copy_within(i * words..(i + 1) * words, keep * words);
                keep += 1;
            }
        }
        self.users.truncate(keep);
        self.user_bits.truncate(keep * words);
        let mut keep = 0;
        for i in 0..self.values.len() {
            if self.value_bits[i * words..(i + 1) * words]
                .iter()
                .any(|w| *w != 0)
            {
                self.values[keep] = self.values[i];
                self.value_bits
                    .copy_within(i * words..(i + 1) * words, keep * words);
                keep += 1;
            }
        }
        self.values.truncate(keep);
        self.value_bits.truncate(keep * words);
    }
}

/// An all-time event milestone's evidence: the smallest days that can decide when it was
/// first reached, whatever order events arrive in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EverState {
    /// The `min_count` earliest event days.
    pub event_days: Vec<Day>,
    /// Each user's first day.
    pub user_first: Vec<(u32, Day)>,
    /// The `min_days` earliest distinct days.
    pub active_days: Vec<Day>,
}

impl EverState {
    fn add(&mut self, m: &EventMilestone, day: Day, user: Option<u32>) {
        keep_smallest(&mut self.event_days, day, m.min_count as usize, false);
        if m.min_days > 0 {
            keep_smallest(&mut self.active_days, day, m.min_days as usize, true);
        }
        if let (true, Some(u)) = (m.min_users > 0, user) {
            match self.user_first.iter_mut().find(|(x, _)| *x == u) {
                Some((_, d)) => *d = (*d).min(day),
                None => self.user_first.push((u, day)),
            }
        }
    }

    /// The first day on which the condition held.
    fn reached(&self, m: &EventMilestone) -> Option<Day> {
        let mut on = *self.event_days.get(m.min_count as usize - 1)?;
        if m.min_days > 0 {
            on = on.max(*self.active_days.get(m.min_days as usize - 1)?);
        }
        if m.min_users > 0 {
            let mut firsts: Vec<Day> = self.user_first.iter().map(|(_, d)| *d).collect();
            firsts.sort_unstable();
            on = on.max(*firsts.get(m.min_users as usize - 1)?);
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
    pub ever: Option<EverState>,
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
    pub id: String,
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
    pub id: String,
    pub opened: Micros,
    /// When resolved; `Some(Micros::MIN)` when solved at an unknown time.
    pub resolved: Option<Micros>,
    pub high: bool,
    pub csat: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyEntry {
    pub id: String,
    pub at: Micros,
    pub score: SurveyScore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub id: String,
    pub at: Micros,
    pub kind: ActivityKind,
    pub responded: Option<Micros>,
    /// False for a meeting the customer did not attend (it counts as no meeting).
    pub held: bool,
}

/// What last changed an account: the signal behind its latest score change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// "event", or a record kind such as "ticket".
    pub kind: String,
    /// The event name or the record's external id.
    pub what: String,
    /// The log offset of an event.
    pub offset: Option<u64>,
    pub at: Micros,
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
    pub points: Vec<f32>,
    pub cause: Option<Cause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub info: Option<Info>,
    pub subscriptions: Vec<Sub>,
    pub streams: Vec<StreamState>,
    pub milestones: Vec<MilestoneState>,
    pub tickets: Vec<TicketEntry>,
    pub surveys: Vec<SurveyEntry>,
    pub activities: Vec<ActivityEntry>,
    /// The first product event ever seen.
    pub first_event: Option<Micros>,
    pub last_cause: Option<Cause>,
    pub current: Option<Memo>,
    pub previous: Option<Memo>,
}

/// A product event, as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub offset: u64,
    pub user: Option<u32>,
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
            streams: plan
                .streams
                .iter()
                .map(|s| StreamState::new(s, plan.features.len()))
                .collect(),
            milestones: plan
                .milestones
                .iter()
                .map(|m| MilestoneState {
                    reached: None,
                    ever: match &m.rule {
                        MilestoneRule::Events(e) if e.window.is_none() => {
                            Some(EverState::default())
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
            if s.reads_properties {
                let holds = e
                    .properties
                    .is_some_and(|p| plan::conditions_hold(&s.filter.conditions, p));
                if !holds {
                    continue;
                }
            }
            self.streams[si].add(s, day, e.at, e.offset, e.user, feature, e.properties);
        }
        for (mi, m) in plan.milestones.iter().enumerate() {
            let MilestoneRule::Events(rule) = &m.rule else {
                continue;
            };
            let s = &plan.streams[rule.stream];
            let reads = match &s.filter.events {
                None => true,
                Some(evs) => e.event.is_some_and(|i| evs.binary_search(&i).is_ok()),
            };
            if !reads {
                continue;
            }
            let state = &mut self.milestones[mi];
            match (&mut state.ever, rule.window) {
                (Some(ever), _) => {
                    ever.add(rule, day, e.user);
                    state.reached = ever.reached(rule);
                }
                (None, Some(w)) => {
                    let stream = &self.streams[rule.stream];
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
            id: s.id.as_str().to_owned(),
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
            id: t.id.as_str().to_owned(),
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
            id: s.id.as_str().to_owned(),
            at: s.responded_at.timestamp_micros(),
            score: s.score,
        };
        upsert(&mut self.surveys, entry, |x| &x.id);
    }

    pub fn apply_activity(&mut self, a: &CsmActivity) {
        let entry = ActivityEntry {
            id: a.id.as_str().to_owned(),
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
    }
}

fn survey_slot(s: &SurveyScore) -> usize {
    match s {
        SurveyScore::Nps(_) => 0,
        SurveyScore::Csat(_) => 1,
        SurveyScore::Ces(_) => 2,
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
        .map(|d| stream.counts[d.rem_euclid(s.cap as Day) as usize] as u64)
        .sum();
    if count < rule.min_count as u64 {
        return false;
    }
    if rule.min_days > 0 && bits::count(&stream.days, s.cap, lo, hi) < rule.min_days {
        return false;
    }
    if rule.min_users > 0 {
        let words = (s.cap / 64) as usize;
        let users = stream
            .user_bits
            .chunks(words)
            .filter(|w| bits::any(w, s.cap, lo, hi))
            .count();
        if users < rule.min_users as usize {
            return false;
        }
    }
    true
}

fn upsert<T>(v: &mut Vec<T>, item: T, id: impl Fn(&T) -> &String) {
    match v.iter().position(|x| id(x) == id(&item)) {
        Some(i) => v[i] = item,
        None => v.push(item),
    }
}
