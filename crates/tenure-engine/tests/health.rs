//! The health score's arithmetic and explanation on hand-made accounts.

use std::sync::Arc;

use serde_json::Map;
use tenure_domain::model::{Band, Pillar};
use tenure_domain::*;
use tenure_engine::day::Micros;
use tenure_engine::{Engine, EventSignal, Partition, Plan, Signal};

const DAY: i64 = 86_400_000_000;

fn now() -> Micros {
    // 2025-06-30T12:00:00Z
    1_751_284_800_000_000
}

fn ts(t: Micros) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(t)
        .unwrap()
        .fixed_offset()
}

fn account(id: &str, size_band: &str) -> Record {
    Record::Account(Account {
        id: AccountId::parse(id).unwrap(),
        name: format!("{id} Inc."),
        plan: Some("pro".into()),
        industry: None,
        region: None,
        country: None,
        size_band: Some(size_band.into()),
        owner: Some(UserId::parse("csm-1").unwrap()),
        parent: None,
        signed_up_at: Some(ts(now() - 200 * DAY)),
        executive_sponsor: None,
    })
}

fn subscription(account: &str, arr_major: i64, seats: u32) -> Record {
    Record::Subscription(Subscription {
        id: SubscriptionId::parse(format!("sub-{account}")).unwrap(),
        account: AccountId::parse(account).unwrap(),
        plan: "pro".into(),
        seats,
        amount: Money::new(arr_major * 100, Currency::USD),
        interval: BillingInterval::Year,
        start: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        end: Some(chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()),
        term_months: 12,
        status: SubscriptionStatus::Active,
        auto_renew: true,
    })
}

fn engine() -> Engine {
    Engine::new(
        Arc::new(Plan::new(SuccessModel::default_model())),
        Partition::ALL,
    )
}

/// `users` users each doing `per_day` core actions on each of the last `days` days.
fn busy(e: &mut Engine, account: &str, users: u32, days: i64, per_day: u32) {
    let props = Map::new();
    let mut offset = 0;
    for d in 0..days {
        for u in 0..users {
            for k in 0..per_day {
                let user = format!("{account}-u{u}");
                let event = [
                    "report_created",
                    "report_shared",
                    "integration_connected",
                    "comment_added",
                ][k as usize % 4];
                e.apply(
                    Signal::Event(EventSignal {
                        offset,
                        account,
                        user: Some(&user),
                        event: Some(event),
                        at: now() - d * DAY - k as i64 * 1000,
                        properties: Some(&props),
                    }),
                    now(),
                );
                offset += 1;
            }
        }
    }
}

#[test]
fn points_add_up_to_the_score_and_weights_to_one_hundred() {
    let mut e = engine();
    e.apply(Signal::Record(&account("a", "11-50")), now());
    e.apply(Signal::Record(&subscription("a", 20_000, 10)), now());
    busy(&mut e, "a", 6, 40, 3);
    let v = e.view("a", now()).unwrap();
    let h = &v.health;
    let max: f64 = h.measures.iter().map(|m| m.max_points).sum();
    assert!((max - 100.0).abs() < 1e-9, "max points sum to {max}");
    let points: f64 = h.measures.iter().map(|m| m.points).sum();
    assert!((points - h.score).abs() < 1e-9);
    let pillar_points: f64 = h.pillars.iter().map(|p| p.points).sum();
    assert!((pillar_points - h.score).abs() < 1e-9);
    assert_eq!(v.summary.tier, "mid_touch");
    assert_eq!(v.summary.segment, "smb");
    assert_eq!(
        h.model_version,
        SuccessModel::default_model().version().to_string()
    );
    // Seats: 6 of 10 used.
    assert_eq!(v.features["seat_utilisation"], Some(0.6));
    assert_eq!(
        v.journey.activated_on.map(|d| d.to_string()).as_deref(),
        Some("2025-05-22")
    );
}

#[test]
fn missing_data_lowers_confidence_and_never_makes_an_account_healthy() {
    let mut e = engine();
    e.apply(Signal::Record(&account("quiet", "11-50")), now());
    e.apply(Signal::Record(&subscription("quiet", 20_000, 10)), now());
    e.refresh(now());
    let v = e.view("quiet", now()).unwrap();
    assert_eq!(
        v.health.band,
        Band::Red,
        "an account that never used the product: {}",
        v.health.score
    );
    assert!(
        v.health.confidence < 0.9,
        "confidence {}",
        v.health.confidence
    );
    let nps = v
        .health
        .measures
        .iter()
        .find(|m| m.measure == "latest_nps")
        .unwrap();
    assert!(nps.missing && nps.raw.is_none() && nps.normalised == 0.5 && nps.impact == 0.0);
    // Event measures are stale: the engine has seen no product event at all.
    assert!(v.health.measures.iter().any(|m| m.stale));
    assert!(v.journey.behind && v.journey.stage.name() == "onboarding");
}

#[test]
fn the_path_to_the_next_band_closes_the_gap() {
    let mut e = engine();
    e.apply(Signal::Record(&account("b", "11-50")), now());
    e.apply(Signal::Record(&subscription("b", 20_000, 40)), now());
    busy(&mut e, "b", 3, 10, 1);
    let v = e.view("b", now()).unwrap();
    let h = &v.health;
    assert_ne!(h.band, Band::Green);
    let path = h.path_to_next_band.as_ref().unwrap();
    let steps = if path.options.is_empty() {
        &path.combined
    } else {
        &path.options
    };
    assert!(!steps.is_empty());
    if path.options.is_empty() {
        let total: f64 = steps.iter().map(|s| s.points).sum();
        assert!((total - path.points_needed).abs() < 1e-6);
    } else {
        for s in steps {
            assert!((s.points - path.points_needed).abs() < 1e-6, "{s:?}");
        }
    }
}

#[test]
fn tiers_and_segments_change_weights() {
    let mut e = engine();
    e.apply(Signal::Record(&account("small", "11-50")), now());
    e.apply(Signal::Record(&subscription("small", 5_000, 5)), now());
    e.apply(Signal::Record(&account("big", "5000+")), now());
    e.apply(Signal::Record(&subscription("big", 250_000, 500)), now());
    e.refresh(now());
    let small = e.view("small", now()).unwrap();
    let big = e.view("big", now()).unwrap();
    assert_eq!(
        (small.summary.tier.as_str(), small.summary.segment.as_str()),
        ("tech_touch", "smb")
    );
    assert_eq!(
        (big.summary.tier.as_str(), big.summary.segment.as_str()),
        ("high_touch", "enterprise")
    );
    let weight = |v: &tenure_engine::AccountView, p: Pillar| {
        v.health
            .pillars
            .iter()
            .find(|x| x.pillar == p)
            .unwrap()
            .weight
    };
    assert_eq!(weight(&small, Pillar::RelationshipSignals), 5.0);
    assert_eq!(weight(&big, Pillar::RelationshipSignals), 20.0);
    let sponsor = |v: &tenure_engine::AccountView| {
        v.health
            .measures
            .iter()
            .find(|m| m.measure == "executive_sponsor")
            .unwrap()
            .weight
    };
    assert_eq!(sponsor(&small), 0.0);
    assert_eq!(sponsor(&big), 3.0);
}

#[test]
fn a_change_names_its_measures_and_its_signal() {
    let mut e = engine();
    e.apply(Signal::Record(&account("c", "11-50")), now());
    e.apply(Signal::Record(&subscription("c", 20_000, 10)), now());
    busy(&mut e, "c", 2, 5, 1);
    e.refresh(now());
    let ticket = Record::Ticket(Ticket {
        id: TicketId::parse("t-1").unwrap(),
        account: AccountId::parse("c").unwrap(),
        contact: None,
        subject: None,
        opened_at: ts(now() - DAY),
        resolved_at: None,
        priority: TicketPriority::Urgent,
        status: TicketStatus::Open,
        csat: None,
        category: None,
    });
    e.apply(Signal::Record(&ticket), now());
    e.refresh(now());
    let v = e.view("c", now()).unwrap();
    let change = v.change.expect("the ticket changed the score");
    assert!(change.delta < 0.0);
    let names: Vec<&str> = change.measures.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        names.contains(&"urgent_tickets_90d") && names.contains(&"open_tickets"),
        "{names:?}"
    );
    let moved: f64 = change.measures.iter().map(|(_, d)| d).sum();
    assert!((moved - change.delta).abs() < 1e-3);
    let signal = change.signal.unwrap();
    assert_eq!(
        (signal.kind.as_str(), signal.what.as_str()),
        ("ticket", "t-1")
    );
    let open = v
        .health
        .measures
        .iter()
        .find(|m| m.measure == "open_tickets")
        .unwrap();
    assert_eq!(
        serde_json::to_value(&open.lineage).unwrap(),
        serde_json::json!({"source": "records", "kind": "ticket", "ids": ["t-1"]})
    );
}

#[test]
fn daily_ticks_snapshot_the_previous_day() {
    let mut e = engine();
    e.apply(Signal::Record(&account("d", "11-50")), now());
    assert!(
        e.tick(now()).is_empty(),
        "the first tick has no previous day"
    );
    busy(&mut e, "d", 2, 1, 2);
    let snaps = e.tick(now() + DAY);
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].day.to_string(), "2025-06-30");
    assert!(
        e.tick(now() + DAY + 1000).is_empty(),
        "one snapshot per day"
    );
}

fn change(account: &str, n: u32, kind: ChangeKind, on: &str, arr_major: i64, seats: i32) -> Record {
    Record::SubscriptionChange(SubscriptionChange {
        id: SubscriptionChangeId::parse(format!("chg-{account}-{n}")).unwrap(),
        subscription: SubscriptionId::parse(format!("sub-{account}")).unwrap(),
        account: AccountId::parse(account).unwrap(),
        kind,
        effective: on.parse().unwrap(),
        arr_delta: Money::new(arr_major * 100, Currency::USD),
        seats_delta: seats,
        reason: None,
    })
}

#[test]
fn seats_and_arr_are_read_as_they_stood_on_the_day() {
    // The record holds today's 30 seats and 30,000 ARR; its changes say 20 and 20,000 until
    // an expansion on 2025-06-01.
    let before = now() - 60 * DAY; // 2025-05-01
                                   // (seats, ARR) of account `a` seen on `at` by a fresh engine given `records`.
    let seen = |records: &[Record], at: Micros| {
        let mut e = engine();
        for r in records {
            e.apply(Signal::Record(r), now());
        }
        let v = e.view("a", at).unwrap();
        (v.summary.seats, v.summary.arr)
    };
    let record = [account("a", "11-50"), subscription("a", 30_000, 30)];
    // Without its history, the record's values hold on every day.
    assert_eq!(seen(&record, before), (30, 30_000.0));
    let opening = change("a", 0, ChangeKind::New, "2025-01-01", 20_000, 20);
    let expansion = change("a", 1, ChangeKind::Expansion, "2025-06-01", 10_000, 10);
    let full = [
        record[0].clone(),
        record[1].clone(),
        opening.clone(),
        expansion.clone(),
    ];
    assert_eq!(seen(&full, before), (20, 20_000.0));
    assert_eq!(seen(&full, now()), (30, 30_000.0));
    // Applied twice, a change counts once (records are upserts); order does not matter.
    let twice = [
        expansion.clone(),
        full[0].clone(),
        full[1].clone(),
        opening,
        expansion.clone(),
    ];
    assert_eq!(seen(&twice, now()), (30, 30_000.0));
    // A history without its opening change is partial: the record's values hold.
    let partial = [record[0].clone(), record[1].clone(), expansion];
    assert_eq!(seen(&partial, before), (30, 30_000.0));
}
