//! Playbooks on hand-made accounts: triggers, durations, cool-downs, scope and holdouts, as
//! the engine ticks day by day.

use std::collections::BTreeMap;
use std::sync::Arc;

use tenure_domain::model::{held_out, Action, Band, Playbook, Priority, Role, Trigger};
use tenure_domain::*;
use tenure_engine::day::{self, Micros};
use tenure_engine::{Engine, Firing, Partition, Plan, Signal};

fn at(date: &str) -> Micros {
    day::start_of(day::day_of_date(date.parse().unwrap()))
}

fn account(id: &str, signed_up: &str) -> Record {
    Record::Account(Account {
        id: AccountId::parse(id).unwrap(),
        name: format!("{id} Inc."),
        plan: Some("pro".into()),
        industry: None,
        region: None,
        country: None,
        size_band: Some("11-50".into()),
        owner: Some(UserId::parse("csm-1").unwrap()),
        parent: None,
        signed_up_at: Some(
            chrono::DateTime::from_timestamp_micros(at(signed_up))
                .unwrap()
                .fixed_offset(),
        ),
        executive_sponsor: None,
    })
}

fn subscription(account: &str) -> Record {
    Record::Subscription(Subscription {
        id: SubscriptionId::parse(format!("sub-{account}")).unwrap(),
        account: AccountId::parse(account).unwrap(),
        plan: "pro".into(),
        seats: 10,
        amount: Money::new(2_000_000, Currency::USD),
        interval: BillingInterval::Year,
        start: "2025-01-01".parse().unwrap(),
        end: Some("2025-12-31".parse().unwrap()),
        term_months: 12,
        status: SubscriptionStatus::Active,
        auto_renew: true,
    })
}

fn playbook(trigger: Trigger, cooldown_days: u32, holdout_percent: f64) -> Playbook {
    Playbook {
        description: String::new(),
        owner: String::new(),
        trigger,
        tiers: Vec::new(),
        segments: Vec::new(),
        cooldown_days,
        holdout_percent,
        actions: vec![Action::Task {
            title: "Call".into(),
            role: Role::Csm,
            priority: Priority::High,
            sla_hours: 24,
        }],
    }
}

/// Ticks the engine each day from `from` for `days` days; every firing with its day.
fn run(engine: &mut Engine, from: &str, days: i64) -> Vec<(chrono::NaiveDate, Firing)> {
    let start = day::day_of_date(from.parse().unwrap());
    let mut out = Vec::new();
    for d in start..start + days as tenure_engine::day::Day {
        engine.tick(day::start_of(d));
        out.extend(
            engine
                .take_firings()
                .into_iter()
                .map(|f| (day::date_of(day::day_of(f.at)), f)),
        );
    }
    out
}

fn engine_with(playbooks: BTreeMap<String, Playbook>) -> (Engine, Arc<Plan>) {
    let mut model = SuccessModel::default_model();
    model.playbooks = playbooks;
    let plan = Arc::new(Plan::new(model));
    let mut e = Engine::new(Arc::clone(&plan), Partition::ALL);
    for a in ["quiet", "other"] {
        e.apply(Signal::Record(&account(a, "2025-01-01")), at("2025-01-01"));
        e.apply(Signal::Record(&subscription(a)), at("2025-01-01"));
    }
    (e, plan)
}

fn names(
    plan: &Plan,
    fired: &[(chrono::NaiveDate, Firing)],
    account: &str,
) -> Vec<(String, String)> {
    fired
        .iter()
        .filter(|(_, f)| f.account == account)
        .map(|(d, f)| (d.to_string(), plan.playbooks[f.playbook].name.clone()))
        .collect()
}

#[test]
fn default_playbooks_fire_on_their_triggers_and_respect_cool_downs() {
    let plan = Arc::new(Plan::new(SuccessModel::default_model()));
    let mut e = Engine::new(Arc::clone(&plan), Partition::ALL);
    e.apply(
        Signal::Record(&account("quiet", "2025-01-01")),
        at("2025-01-01"),
    );
    e.apply(Signal::Record(&subscription("quiet")), at("2025-01-01"));
    // From 2025-10-02 the renewal (2025-12-31) is within 90 days; a silent account is red,
    // and it never activated.
    let fired = run(&mut e, "2025-10-01", 62);
    let got = names(&plan, &fired, "quiet");
    let on = |p: &str| -> Vec<&str> {
        got.iter()
            .filter(|(_, n)| n == p)
            .map(|(d, _)| d.as_str())
            .collect()
    };
    // Renewal at risk: cool-down 60 days.
    assert_eq!(on("renewal_at_risk"), ["2025-10-02", "2025-12-01"]);
    // Activation rescue: cool-down 30 days.
    assert_eq!(
        on("activation_rescue"),
        ["2025-10-01", "2025-10-31", "2025-11-30"]
    );
    // Usage drop is for high and mid touch only, and a silent account has no drop.
    assert!(on("usage_drop").is_empty());
    for (_, f) in &fired {
        let p = &plan.playbooks[f.playbook];
        assert_eq!(f.held_out, held_out(&p.name, &f.account, p.holdout_percent));
        assert_eq!(f.band, Band::Red);
        assert!(!f.reason.is_empty());
    }
    let reason = &fired
        .iter()
        .find(|(_, f)| plan.playbooks[f.playbook].name == "renewal_at_risk")
        .unwrap()
        .1
        .reason;
    assert_eq!(reason, "renewal on 2025-12-31 and health red");
}

#[test]
fn durations_wait_their_days_and_a_broken_run_starts_again() {
    let mut pbs = BTreeMap::new();
    pbs.insert(
        "red_for_a_week".to_owned(),
        playbook(
            Trigger::BandIs {
                band: Band::Red,
                for_days: 7,
            },
            365,
            0.0,
        ),
    );
    let (mut e, plan) = engine_with(pbs);
    let fired = run(&mut e, "2025-03-01", 10);
    // Red from the first tick (2025-03-01): fires on its seventh day after, once.
    assert_eq!(
        names(&plan, &fired, "quiet"),
        [("2025-03-08".to_owned(), "red_for_a_week".to_owned())]
    );
    assert_eq!(
        fired.iter().filter(|(_, f)| f.account == "other").count(),
        1
    );
    assert!(
        fired[0].1.reason.ends_with("for 7 days"),
        "{}",
        fired[0].1.reason
    );
}

#[test]
fn holdouts_split_accounts_at_the_share_whatever_the_playbook() {
    let n = 100_000;
    for (playbook, percent) in [("a", 10.0), ("b", 10.0), ("c", 50.0)] {
        let held = (0..n)
            .filter(|i| held_out(playbook, &format!("acct-{i:06}"), percent))
            .count();
        let share = held as f64 / n as f64;
        assert!(
            (share - percent / 100.0).abs() < 0.005,
            "{playbook}: {share}"
        );
    }
    // Independent across playbooks: held out of both about 1 % of the time.
    let both = (0..n)
        .filter(|i| {
            let a = format!("acct-{i:06}");
            held_out("a", &a, 10.0) && held_out("b", &a, 10.0)
        })
        .count();
    assert!((both as f64 / n as f64 - 0.01).abs() < 0.002);
    // Stable: the documented hash (FNV-1a, then the SplitMix64 finaliser), computed
    // independently, gives these draws on every machine and version.
    let draw = tenure_domain::model::holdout_draw;
    assert_eq!(draw("usage_drop", "acct-000001"), 0.01349184596215347);
    assert_eq!(draw("activation_rescue", "acct-000042"), 0.1177158352986587);
    assert!(!held_out("x", "y", 0.0));
    assert!(held_out("x", "y", 100.0));
}

fn release(id: &str, at_: Micros, features: &[&str]) -> Record {
    Record::Release(Release {
        id: ReleaseId::parse(id).unwrap(),
        name: format!("{id} release"),
        released_at: chrono::DateTime::from_timestamp_micros(at_)
            .unwrap()
            .fixed_offset(),
        features: features.iter().map(|f| f.to_string()).collect(),
        notes: None,
    })
}

#[test]
fn releases_fire_for_the_accounts_relying_on_what_they_changed() {
    use tenure_engine::EventSignal;
    let mut pbs = BTreeMap::new();
    pbs.insert(
        "release_check_in".to_owned(),
        playbook(
            Trigger::ReleaseTouchesFeature {
                min_days: 5,
                within_days: 30,
            },
            7,
            0.0,
        ),
    );
    let (mut e, plan) = engine_with(pbs);
    assert!(plan.release_playbooks);
    // "quiet" shares reports on 6 days of the 30 before 2025-06-15; "other" on 3 days, and
    // views dashboards every day.
    let base = day::day_of_date("2025-05-20".parse().unwrap());
    let mut offset = 0;
    let mut event = |e: &mut Engine, account: &str, name: &str, d: i32| {
        offset += 1;
        e.apply(
            Signal::Event(EventSignal {
                offset,
                account,
                user: Some("u1"),
                event: Some(name),
                at: day::start_of(d) + 3_600_000_000,
                properties: None,
            }),
            day::start_of(d) + 3_600_000_000,
        );
    };
    // Days out of order: the days of use do not depend on the order they arrive in.
    for k in [20, 3, 9, 14, 1, 25] {
        event(&mut e, "quiet", "report_shared", base + k);
    }
    for k in [2, 5, 8] {
        event(&mut e, "other", "export_downloaded", base + k);
    }
    for k in 0..26 {
        event(&mut e, "other", "dashboard_viewed", base + k);
    }
    // Known before it is out: nothing fires until 2025-06-15 (16:00).
    let out = at("2025-06-15") + 16 * 3_600_000_000;
    e.apply(
        Signal::Record(&release("r-2025.06", out, &["reporting", "theme_changed"])),
        at("2025-06-01"),
    );
    // A release naming an area nobody uses, and one too old to act on.
    e.apply(
        Signal::Record(&release("r-2025.05", at("2025-05-01"), &["automation"])),
        at("2025-06-01"),
    );
    let fired = run(&mut e, "2025-06-10", 10);
    assert_eq!(
        names(&plan, &fired, "quiet"),
        [("2025-06-16".to_owned(), "release_check_in".to_owned())]
    );
    assert_eq!(names(&plan, &fired, "other"), []);
    let (_, f) = fired.iter().find(|(_, f)| f.account == "quiet").unwrap();
    assert_eq!(
        f.reason,
        "release r-2025.06 release (2025-06-15) changed reporting, used on 6 of the 30 days before"
    );
    // A changed release that now names dashboards fires for "other" at its next check
    // ("quiet" fired on it already); the same release seen again (the store is re-read
    // every minute) fires nothing more.
    e.apply(
        Signal::Record(&release("r-2025.06", out, &["dashboards"])),
        at("2025-06-20"),
    );
    let fired = run(&mut e, "2025-06-21", 1);
    assert_eq!(
        names(&plan, &fired, "other"),
        [("2025-06-21".to_owned(), "release_check_in".to_owned())]
    );
    assert_eq!(names(&plan, &fired, "quiet"), []);
    e.apply(
        Signal::Record(&release("r-2025.06", out, &["dashboards"])),
        at("2025-06-22"),
    );
    assert!(run(&mut e, "2025-06-22", 1).is_empty());
    // Past the days a release stays fresh: the same change a week later fires nothing.
    let (mut e, _) = engine_with({
        let mut p = BTreeMap::new();
        p.insert(
            "release_check_in".to_owned(),
            playbook(
                Trigger::ReleaseTouchesFeature {
                    min_days: 1,
                    within_days: 30,
                },
                7,
                0.0,
            ),
        );
        p
    });
    event(&mut e, "quiet", "report_created", base + 20);
    e.apply(
        Signal::Record(&release("r-old", at("2025-06-12"), &["reporting"])),
        at("2025-06-01"),
    );
    assert!(run(&mut e, "2025-06-20", 5).is_empty());
}

#[test]
fn feature_days_keep_the_last_64_days_in_any_order() {
    use tenure_engine::state::FeatureDays;
    let days = [100, 40, 101, 163, 99, 164, 30];
    let mut a = FeatureDays::default();
    for d in days {
        a.mark(d);
    }
    let mut b = FeatureDays::default();
    for d in days.iter().rev() {
        b.mark(*d);
    }
    assert_eq!(a, b);
    assert_eq!(a.newest, 164);
    // 164 - 63 = 101: the days before fall out of the window.
    assert_eq!(a.days_in(0, 200), 3);
    assert_eq!(a.days_in(101, 163), 2);
    assert_eq!(a.days_in(150, 140), 0);
}

#[test]
fn a_milestone_fires_while_fresh_not_for_last_year_s_reaching() {
    use tenure_engine::EventSignal;
    let mut pbs = BTreeMap::new();
    pbs.insert(
        "nps".to_owned(),
        playbook(
            Trigger::MilestoneReached {
                milestone: "first_value".into(),
            },
            90,
            0.0,
        ),
    );
    let (mut e, plan) = engine_with(pbs);
    let shared = |e: &mut Engine, account: &str, date: &str, offset: u64| {
        let t = at(date) + 3_600_000_000;
        e.apply(
            Signal::Event(EventSignal {
                offset,
                account,
                user: Some("u1"),
                event: Some("report_shared"),
                at: t,
                properties: None,
            }),
            t,
        );
    };
    // "quiet" shared a report long before the engine first checks it; "other" shares one
    // while it runs.
    shared(&mut e, "quiet", "2025-02-01", 1);
    shared(&mut e, "other", "2025-03-10", 2);
    let fired = run(&mut e, "2025-03-01", 20);
    assert_eq!(names(&plan, &fired, "quiet"), []);
    assert_eq!(
        names(&plan, &fired, "other"),
        [("2025-03-10".to_owned(), "nps".to_owned())]
    );
}
