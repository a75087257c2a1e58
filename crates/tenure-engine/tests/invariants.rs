//! The engine's invariants, property-tested against a naive reference that recomputes every
//! event measure and milestone from the full list of signals:
//! - incremental application equals batch recomputation from scratch;
//! - late and out-of-order events give the same result as sorted ones;
//! - restart from a snapshot plus replay equals uninterrupted running.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tenure_domain::model::{
    Aggregate, Compare, MeasureSource, MilestoneCondition, SuccessModel, DEFAULT_MODEL_TOML,
};
use tenure_domain::Record;
use tenure_engine::day::{day_of, Day, Micros};
use tenure_engine::plan::{self, Plan};
use tenure_engine::{Engine, EventSignal, Partition, Signal};

/// The default model plus measures that exercise every event aggregate.
fn model() -> SuccessModel {
    let extra = r#"
[measures.widgets_sum_30d]
description = "Widgets in reports created in the last 30 days."
source = "events"
events = ["report_created"]
aggregate = "sum"
property = "widgets"
window_days = 30

[measures.widgets_avg_30d]
description = "Mean widgets per report."
source = "events"
events = ["report_created"]
aggregate = "average"
property = "widgets"
window_days = 30

[measures.widgets_min_30d]
description = "Fewest widgets in a report."
source = "events"
events = ["report_created"]
aggregate = "min"
property = "widgets"
window_days = 30

[measures.widgets_max_30d]
description = "Most widgets in a report."
source = "events"
events = ["report_created"]
aggregate = "max"
property = "widgets"
window_days = 30

[measures.reports_touched_30d]
description = "Distinct reports shared or commented on."
source = "events"
events = ["report_shared", "comment_added"]
aggregate = "distinct_values"
property = "report_id"
window_days = 30

[measures.users_trend]
description = "Active users against the prior 14 days."
source = "events"
aggregate = "distinct_users"
window_days = 14
compare = "prior_window"

[milestones.three_reports]
kind = "custom"
description = "Three reports created by two users, ever."
events = ["report_created"]
min_count = 3
min_distinct_users = 2
"#;
    SuccessModel::parse("tenure.toml", &format!("{DEFAULT_MODEL_TOML}\n{extra}")).unwrap()
}

const EVENTS: &[Option<&str>] = &[
    None,
    Some("session_started"),
    Some("dashboard_viewed"),
    Some("report_created"),
    Some("report_shared"),
    Some("integration_connected"),
    Some("comment_added"),
    Some("theme_changed"),
    Some("automation_created"),
    Some("undeclared_event"),
];

#[derive(Debug, Clone)]
struct Ev {
    offset: u64,
    account: String,
    user: Option<String>,
    event: Option<&'static str>,
    at: Micros,
    props: Map<String, Value>,
}

fn now() -> Micros {
    // 2025-06-30T12:00:00Z
    1_751_284_800_000_000
}

fn events(span_days: i64, max: usize) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0..3u8,
            prop::option::weighted(0.95, 0..6u8),
            0..EVENTS.len(),
            -span_days * 24..36i64,
            0..7u8,
            0..4u8,
        ),
        1..max,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (a, u, e, hours, widgets, report))| {
                let mut props = Map::new();
                if i % 5 != 0 {
                    props.insert("widgets".into(), json!(widgets));
                }
                props.insert("report_id".into(), json!(format!("r{report}")));
                Ev {
                    offset: i as u64,
                    account: format!("acct-{a}"),
                    user: u.map(|u| format!("user-{a}-{u}")),
                    event: EVENTS[e],
                    at: now() + hours * 3_600_000_000 + i as i64,
                    props,
                }
            })
            .collect()
    })
}

fn records() -> Vec<Record> {
    let sub =
        |id: &str, account: &str, seats: u32| tenure_ingest_free::subscription(id, account, seats);
    vec![sub("s0", "acct-0", 4), sub("s1", "acct-1", 10)]
}

/// Records built without the import crate: a subscription in force over the test's days.
mod tenure_ingest_free {
    use tenure_domain::*;
    pub fn subscription(id: &str, account: &str, seats: u32) -> Record {
        Record::Subscription(Subscription {
            id: SubscriptionId::parse(id).unwrap(),
            account: AccountId::parse(account).unwrap(),
            plan: "pro".into(),
            seats,
            amount: Money::new(1_200_000, Currency::USD),
            interval: BillingInterval::Year,
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            end: Some(chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()),
            term_months: 24,
            status: SubscriptionStatus::Active,
            auto_renew: true,
        })
    }
}

fn run(plan: &Arc<Plan>, evs: &[Ev], records: &[Record]) -> Engine {
    let mut engine = Engine::new(Arc::clone(plan), Partition::ALL);
    for r in records {
        engine.apply(Signal::Record(r), now());
    }
    for e in evs {
        engine.apply(signal(e), now());
    }
    engine.refresh(now());
    engine
}

fn signal(e: &Ev) -> Signal<'_> {
    Signal::Event(EventSignal {
        offset: e.offset,
        account: &e.account,
        user: e.user.as_deref(),
        event: e.event,
        at: e.at,
        properties: Some(&e.props),
    })
}

/// The naive reference for one event measure.
fn reference(plan: &Plan, evs: &[Ev], account: &str, measure: &str, seats: u32) -> Option<f64> {
    let m = plan.measure(measure).unwrap();
    let spec = &m.spec;
    let today = day_of(now());
    let matching: Vec<&Ev> = evs
        .iter()
        .filter(|e| e.account == account)
        .filter(|e| {
            spec.events.is_empty() || e.event.is_some_and(|n| spec.events.iter().any(|x| x == n))
        })
        .filter(|e| plan::conditions_hold(&spec.conditions, &e.props))
        .collect();
    let agg = |from: Day, to: Day| -> Option<f64> {
        let inw: Vec<&&Ev> = matching
            .iter()
            .filter(|e| (from..=to).contains(&day_of(e.at)))
            .collect();
        let nums: Vec<f64> = inw
            .iter()
            .filter_map(|e| {
                spec.property
                    .as_ref()
                    .and_then(|p| plan::number(&e.props, p))
            })
            .collect();
        match spec.aggregate {
            Aggregate::Count => Some(inw.len() as f64),
            Aggregate::DistinctUsers => Some(
                inw.iter()
                    .filter_map(|e| e.user.clone())
                    .collect::<HashSet<_>>()
                    .len() as f64,
            ),
            Aggregate::ActiveDays => Some(
                inw.iter()
                    .map(|e| day_of(e.at))
                    .collect::<HashSet<_>>()
                    .len() as f64,
            ),
            Aggregate::DistinctFeatures => Some(
                inw.iter()
                    .filter_map(|e| {
                        e.event
                            .and_then(|n| plan.model.events.get(n))
                            .map(|s| s.feature.clone())
                    })
                    .collect::<HashSet<_>>()
                    .len() as f64,
            ),
            Aggregate::DistinctValues => Some(
                inw.iter()
                    .filter_map(|e| plan::value_key(&e.props, spec.property.as_ref().unwrap()))
                    .collect::<HashSet<_>>()
                    .len() as f64,
            ),
            Aggregate::Sum => Some(nums.iter().sum()),
            Aggregate::Average => {
                (!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64)
            }
            Aggregate::Min => nums.iter().copied().reduce(f64::min),
            Aggregate::Max => nums.iter().copied().reduce(f64::max),
            other => panic!("no reference for {other:?}"),
        }
    };
    if spec.aggregate == Aggregate::DaysSinceLast {
        return matching
            .iter()
            .map(|e| e.at)
            .max()
            .map(|t| (today - day_of(t)).max(0) as f64);
    }
    let w = spec.window_days as Day;
    let cur = agg(today - w + 1, today);
    let mut v = match spec.compare {
        Some(Compare::PriorWindow) => match (cur, agg(today - 2 * w + 1, today - w)) {
            (Some(c), Some(p)) if p != 0.0 => Some((c - p) / p.abs()),
            (Some(c), Some(_)) => Some(if c == 0.0 { 0.0 } else { 1.0 }),
            _ => None,
        },
        None => cur,
    };
    if spec.per_seat {
        v = v.and_then(|v| (seats > 0).then(|| v / seats as f64));
    }
    v
}

/// The naive first day an event milestone held.
fn reference_milestone(plan: &Plan, evs: &[Ev], account: &str, name: &str) -> Option<Day> {
    let MilestoneCondition::Events {
        events,
        min_count,
        min_distinct_users,
        min_active_days,
        window_days,
    } = &plan.model.milestones[name].condition
    else {
        return None;
    };
    let matching: Vec<&Ev> = evs
        .iter()
        .filter(|e| e.account == account && e.event.is_some_and(|n| events.iter().any(|x| x == n)))
        .collect();
    let days: BTreeSet<Day> = matching.iter().map(|e| day_of(e.at)).collect();
    days.into_iter().find(|end| {
        let from = window_days.map_or(Day::MIN, |w| end - w as Day + 1);
        let inw: Vec<&&Ev> = matching
            .iter()
            .filter(|e| (from..=*end).contains(&day_of(e.at)))
            .collect();
        // A threshold of one user is implied by one event (Segment requires a user or an
        // anonymous id on every message).
        let users = if *min_distinct_users > 1 {
            *min_distinct_users
        } else {
            0
        };
        inw.len() as u32 >= (*min_count).max(1)
            && inw
                .iter()
                .filter_map(|e| e.user.as_ref())
                .collect::<HashSet<_>>()
                .len() as u32
                >= users
            && inw
                .iter()
                .map(|e| day_of(e.at))
                .collect::<HashSet<_>>()
                .len() as u32
                >= *min_active_days
    })
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Incremental application equals batch recomputation from scratch, for every event
    /// measure and event milestone.
    #[test]
    fn incremental_equals_batch(evs in events(30, 400)) {
        let plan = Arc::new(Plan::new(model()));
        let recs = records();
        let mut engine = run(&plan, &evs, &recs);
        for account in ["acct-0", "acct-1", "acct-2"] {
            let Some(view) = engine.view(account, now()) else { continue };
            let seats = match account { "acct-0" => 4, "acct-1" => 10, _ => 0 };
            for m in &plan.measures {
                if m.spec.source != MeasureSource::Events {
                    continue;
                }
                let want = reference(&plan, &evs, account, &m.name, seats);
                let got = view.features[&m.name];
                prop_assert!(close(got, want), "{account} {}: engine {got:?}, reference {want:?}", m.name);
            }
            let state = engine.account_state(account).unwrap();
            for (i, mp) in plan.milestones.iter().enumerate() {
                if let Some(want) = reference_milestone(&plan, &evs, account, &mp.name) {
                    prop_assert_eq!(state.milestones[i].reached, Some(want), "{} {}", account, mp.name);
                } else if matches!(mp.rule, plan::MilestoneRule::Events(_)) {
                    prop_assert_eq!(state.milestones[i].reached, None, "{} {}", account, mp.name);
                }
            }
        }
    }

    /// Any arrival order gives the same state and the same score as time order, for events
    /// up to 30 days late (the reach of milestone rings; features take any lateness, below).
    #[test]
    fn order_does_not_matter(evs in events(30, 300), seed in any::<u64>()) {
        let plan = Arc::new(Plan::new(model()));
        let recs = records();
        let mut sorted = evs.clone();
        sorted.sort_by_key(|e| (e.at, e.offset));
        let mut shuffled = evs.clone();
        shuffle(&mut shuffled, seed);
        let mut a = run(&plan, &sorted, &recs);
        let mut b = run(&plan, &shuffled, &recs);
        prop_assert_eq!(a.digest(), b.digest());
        for account in ["acct-0", "acct-1", "acct-2"] {
            let (va, vb) = (a.view(account, now()), b.view(account, now()));
            prop_assert_eq!(va.map(|v| (v.features, v.health.score)), vb.map(|v| (v.features, v.health.score)));
        }
    }

    /// Events late by more than the rings reach change no feature on the evaluation day.
    #[test]
    fn very_late_events_leave_features_alone(evs in events(400, 300), seed in any::<u64>()) {
        let plan = Arc::new(Plan::new(model()));
        let recs = records();
        let mut sorted = evs.clone();
        sorted.sort_by_key(|e| (e.at, e.offset));
        let mut shuffled = evs.clone();
        shuffle(&mut shuffled, seed);
        let mut a = run(&plan, &sorted, &recs);
        let mut b = run(&plan, &shuffled, &recs);
        for account in ["acct-0", "acct-1", "acct-2"] {
            let strip = |v: tenure_engine::AccountView| {
                let mut f = v.features;
                f.remove("milestones_reached");
                f
            };
            prop_assert_eq!(a.view(account, now()).map(strip), b.view(account, now()).map(strip));
        }
    }

    /// Saving at any point, restoring and replaying the rest equals running straight through.
    #[test]
    fn restart_from_snapshot_equals_uninterrupted(evs in events(50, 300), cut in 0usize..300) {
        let plan = Arc::new(Plan::new(model()));
        let recs = records();
        let cut = cut.min(evs.len());
        let mut straight = run(&plan, &evs, &recs);
        let first = run(&plan, &evs[..cut], &recs);
        let bytes = first.save();
        let mut resumed = Engine::restore(Arc::clone(&plan), Partition::ALL, &bytes).unwrap();
        for e in &evs[cut..] {
            resumed.apply(signal(e), now());
        }
        resumed.refresh(now());
        prop_assert_eq!(straight.digest(), resumed.digest());
        for account in ["acct-0", "acct-1", "acct-2"] {
            let (x, y) = (straight.view(account, now()), resumed.view(account, now()));
            prop_assert_eq!(x.map(|v| (v.features, v.health.score)), y.map(|v| (v.features, v.health.score)));
        }
    }

    /// Partitioned engines together hold exactly what one engine holds.
    #[test]
    fn partitions_split_accounts_without_loss(evs in events(50, 200)) {
        let plan = Arc::new(Plan::new(model()));
        let recs = records();
        let mut whole = run(&plan, &evs, &recs);
        let mut parts: Vec<Engine> = (0..3)
            .map(|i| Engine::new(Arc::clone(&plan), Partition { index: i, count: 3 }))
            .collect();
        for p in &mut parts {
            for r in &recs { p.apply(Signal::Record(r), now()); }
            for e in &evs { p.apply(signal(e), now()); }
            p.refresh(now());
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        prop_assert_eq!(total, whole.len());
        for p in &mut parts {
            let ids: Vec<String> = p.accounts().map(str::to_owned).collect();
            for id in ids {
                prop_assert_eq!(p.view(&id, now()).map(|v| v.features), whole.view(&id, now()).map(|v| v.features));
            }
        }
    }
}

fn shuffle(v: &mut [Ev], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}
