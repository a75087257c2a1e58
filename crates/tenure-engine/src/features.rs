//! Measures evaluated on one day from an account's state: the features the health score,
//! milestones and playbooks read. Every value says what it was computed from (its lineage)
//! and how recent its newest input is (for confidence).

use serde::Serialize;
use tenure_domain::model::{Aggregate, Compare, MeasureSource, SurveyKind};
use tenure_domain::SurveyScore;

use crate::day::{self, bits, Day, Micros};
use crate::plan::{MeasurePlan, Plan, Stream};
use crate::state::{self, AccountState, StreamRef};

/// The rows behind a measure's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Lineage {
    /// Product events of the account in `from ..= to` (UTC days) matching the measure's
    /// filter; the lake holds them (`tenure score ACCOUNT --lineage MEASURE` lists them).
    Events {
        events: Vec<String>,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        /// Events in the window (or, for `days_since_last`, the offset of the latest).
        matched: u64,
        latest_offset: Option<u64>,
    },
    /// External ids of the tickets, survey responses, activities or subscriptions read.
    Records {
        kind: &'static str,
        ids: Vec<String>,
    },
    Milestones {
        reached: Vec<String>,
    },
    Account {
        field: &'static str,
    },
    /// Not collected (daily snapshots need only the value).
    Omitted,
}

/// One measure's value on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    /// `None` when there is nothing to measure (no survey answered, no seats known …).
    pub raw: Option<f64>,
    /// When the newest input was observed; `None` when freshness does not apply.
    #[serde(skip)]
    pub observed: Option<Micros>,
    pub lineage: Lineage,
}

/// Seats and ARR in force on `day`.
pub fn seats(state: &AccountState, day: Day) -> u32 {
    state
        .subscriptions
        .iter()
        .filter(|s| s.active_on(day))
        .map(|s| state.seats_and_arr_on(s, day).0)
        .sum()
}

pub fn arr(state: &AccountState, day: Day) -> f64 {
    state
        .subscriptions
        .iter()
        .filter(|s| s.active_on(day))
        .map(|s| state.seats_and_arr_on(s, day).1)
        .sum()
}

/// The next renewal (end date) among subscriptions in force on `day`.
pub fn renewal(state: &AccountState, day: Day) -> Option<Day> {
    state
        .subscriptions
        .iter()
        .filter(|s| s.active_on(day))
        .filter_map(|s| s.term_end_after(day))
        .min()
}

pub fn evaluate(plan: &Plan, state: &AccountState, m: &MeasurePlan, now: Micros) -> Value {
    evaluate_with(plan, state, m, now, true)
}

/// `evaluate`, with the lineage collected only when `explain`.
pub fn evaluate_with(
    plan: &Plan,
    state: &AccountState,
    m: &MeasurePlan,
    now: Micros,
    explain: bool,
) -> Value {
    let mut v = evaluate_inner(plan, state, m, now, explain);
    if !explain {
        v.lineage = Lineage::Omitted;
    }
    v
}

fn evaluate_inner(
    plan: &Plan,
    state: &AccountState,
    m: &MeasurePlan,
    now: Micros,
    explain: bool,
) -> Value {
    let today = day::day_of(now);
    let spec = &m.spec;
    let w = spec.window_days as Day;
    let (from, to) = (today - w + 1, today);
    match spec.source {
        MeasureSource::Events => {
            let si = m.stream.unwrap_or(0);
            let (s, st) = (&plan.streams[si], state.stream(plan, si));
            let (last, last_offset) = st.map_or((Micros::MIN, 0), |st| (st.last, st.last_offset));
            let events = match &s.filter.events {
                _ if !explain => Vec::new(),
                None => Vec::new(),
                Some(evs) => evs
                    .iter()
                    .map(|e| plan.event_names[*e as usize].clone())
                    .collect(),
            };
            if spec.aggregate == Aggregate::DaysSinceLast {
                let raw = if last != Micros::MIN {
                    Some((today - day::day_of(last)).max(0) as f64)
                } else {
                    // Never used: idle since sign-up, when that is known.
                    state
                        .info
                        .as_ref()
                        .and_then(|i| i.signed_up)
                        .map(|s| (today - day::day_of(s)).max(0) as f64)
                };
                return Value {
                    raw,
                    observed: None,
                    lineage: Lineage::Events {
                        events,
                        from: day::date_of(day::day_of(last.max(0))),
                        to: day::date_of(today),
                        matched: (last != Micros::MIN) as u64,
                        latest_offset: (last != Micros::MIN).then_some(last_offset),
                    },
                };
            }
            let cur = aggregate(s, st, spec.aggregate, from, to);
            let mut raw = match spec.compare {
                Some(Compare::PriorWindow) => {
                    let prior = aggregate(s, st, spec.aggregate, from - w, to - w);
                    match (cur, prior) {
                        (Some(c), Some(p)) if p != 0.0 => Some((c - p) / p.abs()),
                        (Some(c), Some(_)) => Some(if c == 0.0 { 0.0 } else { 1.0 }),
                        _ => None,
                    }
                }
                None => cur,
            };
            if spec.per_seat {
                let n = seats(state, today);
                raw = raw.and_then(|v| (n > 0).then(|| v / n as f64));
            }
            let lineage_from = if spec.compare.is_some() {
                from - w
            } else {
                from
            };
            Value {
                raw,
                observed: None,
                lineage: Lineage::Events {
                    events,
                    from: day::date_of(lineage_from),
                    to: day::date_of(to),
                    matched: count(s, st, lineage_from, to),
                    latest_offset: (last != Micros::MIN).then_some(last_offset),
                },
            }
        }
        MeasureSource::Tickets => tickets(state, spec.aggregate, now, from, explain),
        MeasureSource::Surveys => surveys(state, spec.aggregate, spec.survey, now, from, explain),
        MeasureSource::Activities => activities(state, spec, now, from, explain),
        MeasureSource::Milestones => {
            let reached: Vec<String> = plan
                .milestones
                .iter()
                .zip(&state.milestones)
                .filter(|(_, s)| s.reached.is_some_and(|r| r <= today))
                .map(|(m, _)| m.name.clone())
                .collect();
            Value {
                raw: Some(reached.len() as f64),
                observed: None,
                lineage: Lineage::Milestones { reached },
            }
        }
        MeasureSource::Account => account(state, spec.aggregate, today),
    }
}

/// Events in `from ..= to` (all of the stream's events; for lineage).
fn count(s: &Stream, st: Option<StreamRef<'_>>, from: Day, to: Day) -> u64 {
    let Some(st) = st else { return 0 };
    let Some((lo, hi)) = day::clip(from, to, st.head, s.cap) else {
        return 0;
    };
    if st.has_counts() {
        (lo..=hi).map(|d| st.count(slot(d, s)) as u64).sum()
    } else if st.has_stats() {
        (lo..=hi).map(|d| st.stat(slot(d, s)).n as u64).sum()
    } else {
        0
    }
}

fn slot(d: Day, s: &Stream) -> usize {
    d.rem_euclid(s.cap as Day) as usize
}

fn aggregate(
    s: &Stream,
    st: Option<StreamRef<'_>>,
    a: Aggregate,
    from: Day,
    to: Day,
) -> Option<f64> {
    let clipped = st.and_then(|st| day::clip(from, to, st.head, s.cap).map(|r| (st, r)));
    let Some((st, (lo, hi))) = clipped else {
        return match a {
            Aggregate::Average | Aggregate::Min | Aggregate::Max => None,
            _ => Some(0.0),
        };
    };
    let words = state::words(s.cap);
    let stats = || (lo..=hi).map(|d| st.stat(slot(d, s))).filter(|x| x.n > 0);
    match a {
        Aggregate::Count => Some((lo..=hi).map(|d| st.count(slot(d, s)) as f64).sum()),
        Aggregate::DistinctUsers => Some(state::distinct(st.users, s.cap, lo, hi) as f64),
        Aggregate::ActiveDays => Some(bits::count(st.days(s), s.cap, lo, hi) as f64),
        Aggregate::DistinctFeatures => {
            let masks = bits::masks(s.cap, lo, hi);
            Some(
                st.features(s)
                    .chunks(words.max(1))
                    .filter(|w| bits::hits(w, &masks))
                    .count() as f64,
            )
        }
        Aggregate::DistinctValues => Some(state::distinct(st.values(), s.cap, lo, hi) as f64),
        Aggregate::Sum => Some(stats().map(|x| x.sum).sum()),
        Aggregate::Average => {
            let (sum, n) = stats().fold((0.0, 0u64), |(s, n), x| (s + x.sum, n + x.n as u64));
            (n > 0).then(|| sum / n as f64)
        }
        Aggregate::Min => stats().map(|x| x.min).reduce(f64::min),
        Aggregate::Max => stats().map(|x| x.max).reduce(f64::max),
        _ => None,
    }
}

/// A record id for lineage (an empty string, which does not allocate, when not explaining).
fn id(explain: bool, id: &str) -> String {
    if explain {
        id.to_owned()
    } else {
        String::new()
    }
}

fn tickets(state: &AccountState, a: Aggregate, now: Micros, from: Day, explain: bool) -> Value {
    let start = day::start_of(from);
    let in_window = state
        .tickets
        .iter()
        .filter(|t| t.opened >= start && t.opened <= now);
    let resolved_by = |r: Option<Micros>| r.is_some_and(|r| r <= now);
    let (raw, ids): (Option<f64>, Vec<String>) = match a {
        Aggregate::Count | Aggregate::HighPriorityCount => {
            let ids: Vec<String> = in_window
                .filter(|t| a == Aggregate::Count || t.high)
                .map(|t| id(explain, &t.id))
                .collect();
            (Some(ids.len() as f64), ids)
        }
        Aggregate::OpenCount => {
            let ids: Vec<String> = in_window
                .filter(|t| !resolved_by(t.resolved))
                .map(|t| id(explain, &t.id))
                .collect();
            (Some(ids.len() as f64), ids)
        }
        Aggregate::AverageResolutionHours => {
            let done: Vec<_> = state
                .tickets
                .iter()
                .filter(|t| {
                    t.resolved
                        .is_some_and(|r| r != Micros::MIN && r >= start && r <= now)
                })
                .collect();
            let hours: f64 = done
                .iter()
                .map(|t| (t.resolved.unwrap_or(t.opened) - t.opened).max(0) as f64 / 3.6e9)
                .sum();
            let ids = done.iter().map(|t| id(explain, &t.id)).collect();
            ((!done.is_empty()).then(|| hours / done.len() as f64), ids)
        }
        Aggregate::AverageCsat => {
            let rated: Vec<_> = in_window.filter(|t| t.csat.is_some()).collect();
            let sum: f64 = rated.iter().filter_map(|t| t.csat).map(f64::from).sum();
            let ids = rated.iter().map(|t| id(explain, &t.id)).collect();
            ((!rated.is_empty()).then(|| sum / rated.len() as f64), ids)
        }
        _ => (None, Vec::new()),
    };
    Value {
        raw,
        observed: None,
        lineage: Lineage::Records {
            kind: "ticket",
            ids,
        },
    }
}

fn surveys(
    state: &AccountState,
    a: Aggregate,
    kind: Option<SurveyKind>,
    now: Micros,
    from: Day,
    explain: bool,
) -> Value {
    let start = day::start_of(from);
    let mut answers: Vec<_> = state
        .surveys
        .iter()
        .filter(|s| s.at >= start && s.at <= now)
        .filter(|s| {
            matches!(
                (kind, s.score),
                (None, _)
                    | (Some(SurveyKind::Nps), SurveyScore::Nps(_))
                    | (Some(SurveyKind::Csat), SurveyScore::Csat(_))
                    | (Some(SurveyKind::Ces), SurveyScore::Ces(_))
            )
        })
        .collect();
    answers.sort_by(|x, y| (x.at, &x.id).cmp(&(y.at, &y.id)));
    let values = || answers.iter().map(|s| s.score.value() as f64);
    let n = answers.len() as f64;
    let raw = match a {
        Aggregate::Latest => answers.last().map(|s| s.score.value() as f64),
        Aggregate::Average => (n > 0.0).then(|| values().sum::<f64>() / n),
        Aggregate::Nps => (n > 0.0).then(|| {
            let promoters = values().filter(|v| *v >= 9.0).count() as f64;
            let detractors = values().filter(|v| *v <= 6.0).count() as f64;
            100.0 * (promoters - detractors) / n
        }),
        Aggregate::Count => Some(n),
        _ => None,
    };
    let (observed, ids) = match a {
        Aggregate::Latest => (
            answers.last().map(|s| s.at),
            answers
                .last()
                .map(|s| vec![id(explain, &s.id)])
                .unwrap_or_default(),
        ),
        _ => (
            answers.last().map(|s| s.at),
            answers.iter().map(|s| id(explain, &s.id)).collect(),
        ),
    };
    Value {
        raw,
        observed,
        lineage: Lineage::Records {
            kind: "survey_response",
            ids,
        },
    }
}

fn activities(
    state: &AccountState,
    spec: &tenure_domain::model::Measure,
    now: Micros,
    from: Day,
    explain: bool,
) -> Value {
    let start = day::start_of(from);
    let mut rows: Vec<_> = state
        .activities
        .iter()
        .filter(|x| {
            x.held
                && x.at <= now
                && (spec.activities.is_empty() || spec.activities.contains(&x.kind))
        })
        .collect();
    rows.sort_by(|x, y| (x.at, &x.id).cmp(&(y.at, &y.id)));
    let today = day::day_of(now);
    let in_window: Vec<_> = rows.iter().filter(|x| x.at >= start).collect();
    let (raw, ids): (Option<f64>, Vec<String>) = match spec.aggregate {
        Aggregate::Count => (
            Some(in_window.len() as f64),
            in_window.iter().map(|x| id(explain, &x.id)).collect(),
        ),
        Aggregate::DaysSinceLast => match rows.last() {
            Some(x) => (
                Some((today - day::day_of(x.at)) as f64),
                vec![id(explain, &x.id)],
            ),
            None => (None, Vec::new()),
        },
        Aggregate::AverageResponseHours => {
            let answered: Vec<_> = in_window
                .iter()
                .filter(|x| x.responded.is_some_and(|r| r <= now))
                .collect();
            let hours: f64 = answered
                .iter()
                .map(|x| (x.responded.unwrap_or(x.at) - x.at).max(0) as f64 / 3.6e9)
                .sum();
            (
                (!answered.is_empty()).then(|| hours / answered.len() as f64),
                answered.iter().map(|x| id(explain, &x.id)).collect(),
            )
        }
        _ => (None, Vec::new()),
    };
    Value {
        raw,
        observed: None,
        lineage: Lineage::Records {
            kind: "activity",
            ids,
        },
    }
}

fn account(state: &AccountState, a: Aggregate, today: Day) -> Value {
    let info = state.info.as_ref();
    let subs = || {
        state
            .subscriptions
            .iter()
            .filter(|s| s.active_on(today))
            .map(|s| s.id.to_string())
            .collect::<Vec<_>>()
    };
    let (raw, lineage) = match a {
        Aggregate::Seats => {
            let n = seats(state, today);
            (
                (n > 0).then_some(n as f64),
                Lineage::Records {
                    kind: "subscription",
                    ids: subs(),
                },
            )
        }
        Aggregate::DaysToRenewal => (
            renewal(state, today).map(|r| (r - today) as f64),
            Lineage::Records {
                kind: "subscription",
                ids: subs(),
            },
        ),
        Aggregate::DaysSinceSignup => (
            info.and_then(|i| i.signed_up)
                .map(|s| (today - day::day_of(s)).max(0) as f64),
            Lineage::Account {
                field: "signed_up_at",
            },
        ),
        Aggregate::HasExecutiveSponsor => (
            info.map(|i| i.executive_sponsor as u8 as f64),
            Lineage::Account {
                field: "executive_sponsor",
            },
        ),
        _ => (None, Lineage::Account { field: "" }),
    };
    Value {
        raw,
        observed: None,
        lineage,
    }
}
