//! The tracking plan's three modes, the data-quality tally and its anomaly detection, and the
//! identity graph (anonymous → identified, alias, several accounts), on hand-made messages.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use tenure_domain::model::{TrackingMode, DEFAULT_MODEL_TOML};
use tenure_domain::SuccessModel;
use tenure_ingest::identity::Identities;
use tenure_ingest::logged::LogRecord;
use tenure_ingest::quality::{volume_anomalies, AnomalyKind, Quality};
use tenure_ingest::segment::{parse_request, Endpoint, Message};
use tenure_ingest::tracking::{TrackingPlan, Verdict};

fn now() -> tenure_domain::Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z").unwrap()
}

fn msg(endpoint: Endpoint, body: serde_json::Value) -> Message {
    let parsed = parse_request(
        endpoint,
        body.to_string().as_bytes(),
        now(),
        "context.groupId",
    )
    .unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    parsed.accepted.into_iter().next().unwrap()
}

fn plan(mode: &str) -> TrackingPlan {
    let source = DEFAULT_MODEL_TOML.replace("mode = \"flag\"", &format!("mode = \"{mode}\""));
    TrackingPlan::of(&SuccessModel::parse("tenure.toml", &source).unwrap())
}

fn codes(v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Accept(v) => v.iter().map(|v| v.code.clone()).collect(),
        Verdict::Reject { code, .. } => vec![format!("REJECT {code}")],
    }
}

#[test]
fn each_mode_treats_the_undeclared_and_the_wrong_as_documented() {
    let unknown = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "bogus"}),
    );
    let extra = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "report_created", "properties": {"report_id": "r", "colour": "red"}}),
    );
    let wrong = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "report_created", "properties": {"widgets": 2.5}}),
    );
    let good = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "report_created", "properties": {"report_id": "r", "widgets": 2}}),
    );
    let identify = msg(
        Endpoint::Identify,
        serde_json::json!({"userId": "u", "traits": {"x": 1}}),
    );

    let allow = plan("allow");
    assert_eq!(allow.mode, TrackingMode::Allow);
    assert!(codes(&allow.check(&unknown)).is_empty());
    assert!(codes(&allow.check(&extra)).is_empty());
    assert_eq!(
        codes(&allow.check(&wrong)),
        ["mistyped_property", "missing_property"]
    );

    let flag = plan("flag");
    assert_eq!(codes(&flag.check(&unknown)), ["unknown_event"]);
    assert_eq!(codes(&flag.check(&extra)), ["undeclared_property"]);
    assert_eq!(
        codes(&flag.check(&wrong)),
        ["mistyped_property", "missing_property"]
    );

    let reject = plan("reject");
    assert_eq!(codes(&reject.check(&unknown)), ["REJECT unknown_event"]);
    assert_eq!(
        codes(&reject.check(&wrong)),
        ["REJECT tracking_plan_violation"]
    );
    for p in [&allow, &flag, &reject] {
        assert!(codes(&p.check(&good)).is_empty());
        assert!(
            codes(&p.check(&identify)).is_empty(),
            "only track calls are checked"
        );
    }
}

#[test]
fn the_tally_counts_lateness_skew_and_violations_per_source_and_event() {
    let mut q = Quality::default();
    // Sent a minute after it happened, from a clock two hours fast: corrected, skewed, on time.
    let skewed = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "x", "timestamp": "2026-03-10T13:59:00Z", "sentAt": "2026-03-10T14:00:00Z"}),
    );
    assert_eq!(
        skewed.timestamp,
        chrono::DateTime::parse_from_rfc3339("2026-03-10T11:59:00Z").unwrap()
    );
    // Two days old, no sentAt: late.
    let late = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "x", "timestamp": "2026-03-08T12:00:00Z"}),
    );
    // Dated tomorrow, no sentAt: future.
    let future = msg(
        Endpoint::Track,
        serde_json::json!({"userId": "u", "event": "y", "timestamp": "2026-03-11T12:00:00Z"}),
    );
    let flagged = plan("flag");
    for (key, m) in [("wk1", &skewed), ("wk1", &late), ("wk2", &future)] {
        let Verdict::Accept(v) = flagged.check(m) else {
            panic!()
        };
        q.add(&LogRecord::message(key.into(), false, m.clone(), v));
    }
    let r = q.report(&flagged, now());
    assert_eq!(
        (
            r.totals.accepted,
            r.totals.late,
            r.totals.future,
            r.totals.skewed,
            r.totals.flagged
        ),
        (3, 1, 1, 1, 3)
    );
    assert_eq!(r.sources[0].clock_skew.measured, 1);
    assert_eq!(r.sources[0].clock_skew.median_below_secs, Some(86_400));
    let unknown: Vec<(&str, u64)> = r
        .unknown_events
        .iter()
        .map(|u| (u.event.as_str(), u.count))
        .collect();
    assert_eq!(unknown, [("x", 2), ("y", 1)]);
}

#[test]
fn volume_anomalies_respect_the_weekly_rhythm() {
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(); // a Monday
    let mut daily = BTreeMap::new();
    for d in 0..56 {
        let day = start + chrono::Duration::days(d);
        let weekend = d % 7 >= 5;
        daily.insert(day, if weekend { 30 } else { 300 });
    }
    // Quiet weekends are normal; one Wednesday of 5x is a spike, one Thursday near zero a drop.
    let spike = start + chrono::Duration::days(44);
    let drop = start + chrono::Duration::days(52);
    daily.insert(spike, 1500);
    daily.insert(drop, 20);
    let today = start + chrono::Duration::days(56);
    let found: Vec<(NaiveDate, AnomalyKind)> = volume_anomalies("wk", &daily, today)
        .into_iter()
        .map(|a| (a.date, a.kind))
        .collect();
    assert_eq!(
        found,
        [(spike, AnomalyKind::Spike), (drop, AnomalyKind::Drop)]
    );
    // A source that stopped a week ago is reported once as silent.
    let later = today + chrono::Duration::days(7);
    let silent = volume_anomalies("wk", &daily, later);
    assert_eq!(
        silent.last().map(|a| (a.date, a.kind)),
        Some((today, AnomalyKind::Silent))
    );
}

#[test]
fn identities_merge_anonymous_and_aliased_ids_and_span_accounts() {
    let mut ids = Identities::default();
    let add = |ids: &mut Identities, endpoint, body: serde_json::Value| {
        ids.add(&LogRecord::message(
            "wk".into(),
            false,
            msg(endpoint, body),
            vec![],
        ));
    };
    add(
        &mut ids,
        Endpoint::Page,
        serde_json::json!({"anonymousId": "anon-1", "name": "pricing"}),
    );
    add(
        &mut ids,
        Endpoint::Identify,
        serde_json::json!({"anonymousId": "anon-1", "userId": "u1", "traits": {"email": "a@x"}}),
    );
    add(
        &mut ids,
        Endpoint::Group,
        serde_json::json!({"userId": "u1", "groupId": "acme"}),
    );
    add(
        &mut ids,
        Endpoint::Track,
        serde_json::json!({"userId": "u1", "event": "x", "context": {"groupId": "globex"}}),
    );
    add(
        &mut ids,
        Endpoint::Alias,
        serde_json::json!({"previousId": "old-u1", "userId": "u1"}),
    );
    add(
        &mut ids,
        Endpoint::Track,
        serde_json::json!({"userId": "old-u1", "event": "x", "context": {"groupId": "initech"}}),
    );
    // A shared device: another person on anon-1 does not merge the two people.
    add(
        &mut ids,
        Endpoint::Identify,
        serde_json::json!({"anonymousId": "anon-1", "userId": "u2"}),
    );

    assert_eq!(ids.canonical("anon-1"), "u1");
    assert_eq!(ids.canonical("old-u1"), "u1");
    assert_eq!(ids.canonical("u2"), "u2");
    let accounts: Vec<String> = ids.accounts_of("anon-1").into_keys().collect();
    assert_eq!(accounts, ["acme", "globex", "initech"]);
    assert_eq!(
        ids.members_of("acme").into_iter().collect::<Vec<_>>(),
        ["u1"]
    );
    assert_eq!(ids.traits_of("old-u1")["email"], "a@x");
    let s = ids.summary();
    assert_eq!(
        (s.users, s.merged, s.multi_account_users, s.accounts),
        (2, 2, 1, 3)
    );

    let forgotten = ids.forget_user("anon-1");
    assert_eq!(
        forgotten.into_iter().collect::<Vec<_>>(),
        ["anon-1", "old-u1", "u1"]
    );
    assert!(ids.accounts_of("u1").is_empty());
    assert_eq!(ids.summary().users, 1);
}
