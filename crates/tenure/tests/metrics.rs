//! Revenue retention end to end: a simulated company imported into a data directory;
//! `tenure report metrics` and `GET /api/v1/metrics/{name}` give the same figures, which keep
//! their identities and end where the simulator's subscriptions end; bad input is refused
//! precisely.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::Value;

mod common;

use common::{get, send_simulated_events, tenure, text, Server};

/// Brute-force usage per month from the simulator's events: the sums over each day of the
/// users active that day, in the 7 and the 30 days to it; the days from the first event; the
/// accounts with an event.
#[derive(Default, Debug)]
struct MonthUsage {
    days: u64,
    dau: u64,
    wau: u64,
    mau: u64,
    accounts: u64,
}

fn brute_usage(events: &std::path::Path) -> std::collections::HashMap<String, MonthUsage> {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    let mut by_day: BTreeMap<NaiveDate, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in std::fs::read_to_string(events).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if !matches!(v["type"].as_str(), Some("track" | "page" | "screen")) {
            continue;
        }
        let at: chrono::DateTime<chrono::Utc> = v["timestamp"].as_str().unwrap().parse().unwrap();
        let user = v["userId"]
            .as_str()
            .or(v["anonymousId"].as_str())
            .unwrap()
            .to_owned();
        let account = v["context"]["groupId"].as_str().unwrap().to_owned();
        by_day
            .entry(at.date_naive())
            .or_default()
            .insert((account, user));
    }
    let mut out: HashMap<String, MonthUsage> = HashMap::new();
    let Some(first) = by_day.keys().next().copied() else {
        return out;
    };
    let last = *by_day.keys().next_back().unwrap() + chrono::Days::new(90);
    let mut day = first;
    let mut accounts: HashMap<String, BTreeSet<String>> = HashMap::new();
    while day <= last {
        let window = |back: u64| {
            by_day
                .range(day - chrono::Days::new(back - 1)..=day)
                .flat_map(|(_, s)| s.iter())
                .collect::<BTreeSet<_>>()
                .len() as u64
        };
        let month = day.format("%Y-%m").to_string();
        let m = out.entry(month.clone()).or_default();
        m.days += 1;
        m.dau += window(1);
        m.wau += window(7);
        m.mau += window(30);
        for (a, _) in by_day.get(&day).into_iter().flatten() {
            accounts.entry(month.clone()).or_default().insert(a.clone());
        }
        day = day.succ_opt().unwrap();
    }
    for (month, a) in accounts {
        out.get_mut(&month).unwrap().accounts = a.len() as u64;
    }
    out
}

/// The ARR (minor units) of the simulator's subscriptions in force at its end.
fn simulated_arr(sim: &std::path::Path) -> i64 {
    let text = std::fs::read_to_string(sim.join("subscriptions.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (amount, interval, status) = (col("amount"), col("billing_interval"), col("status"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[status] == "active")
        .map(|f| {
            let minor = (f[amount].parse::<f64>().unwrap() * 100.0).round() as i64;
            if f[interval] == "month" {
                minor * 12
            } else {
                minor
            }
        })
        .sum()
}

/// Runs `tenure report ARGS` on the data directory `d`, which must succeed.
fn report_cmd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["report"];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&["--data-dir", "d"]);
    all.extend_from_slice(&args[1..]);
    let out = tenure(dir, &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// The simulator's renewal decisions and churns (truth.csv).
fn truth_renewals(sim: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(sim.join("truth.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let churned = header.iter().position(|h| *h == "churned").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let churns = rows.iter().filter(|f| f[churned] == "1").count() as u64;
    (rows.len() as u64, churns)
}

/// The accounts with some revenue in the simulator's subscription changes.
fn accounts_with_revenue(sim: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(sim.join("subscription_changes.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (account, delta) = (col("account_id"), col("arr_delta"));
    let mut ids: Vec<String> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[delta].parse::<f64>().unwrap() > 0.0)
        .map(|f| f[account].to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids.len() as u64
}

#[test]
fn revenue_retention_from_the_cli_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let admin = keys["admin_token"].as_str().unwrap().to_owned();
    // Eighteen whole months, ending with the last day of the previous month.
    let today = chrono::Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let start = this_month.checked_sub_months(Months::new(18)).unwrap();
    let last = this_month.pred_opt().unwrap();
    let out = tenure(
        d,
        &[
            "simulate",
            "--accounts",
            "60",
            "--months",
            "18",
            "--seed",
            "11",
            "--start",
            &start.to_string(),
            "--out",
            "sim",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tenure(d, &["import", "--data-dir", "d", "sim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let report = |args: &[&str]| {
        let mut all = vec!["report", "metrics", "--data-dir", "d"];
        all.extend_from_slice(args);
        let out = tenure(d, &all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    let json = |args: &[&str]| -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_slice(&report(&a).stdout).unwrap()
    };
    let from = start.to_string();
    let to = last.to_string();
    let months = json(&["--period", "month", "--from", &from, "--to", &to]);
    let rows = months["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 18, "one row per whole month");
    assert_eq!(months["currency"], "USD");
    for r in rows {
        let n = |k: &str| r[k].as_i64().unwrap();
        assert_eq!(
            n("start_arr"),
            n("retained_arr") + n("churned_arr") + n("contraction_arr")
        );
        assert_eq!(
            n("end_arr"),
            n("end_arr_of_start") + n("new_arr") + n("reactivated_arr")
        );
        if let (Some(nrr), Some(grr), Some(e)) = (
            r["nrr"].as_f64(),
            r["grr"].as_f64(),
            r["expansion_rate"].as_f64(),
        ) {
            assert!(grr <= 1.0);
            assert!((nrr - grr - e).abs() < 1e-9);
        }
    }
    // The first month's start customers are none: the company starts then.
    assert_eq!(rows[0]["start_customers"], 0);
    assert!(rows[0]["nrr"].is_null());
    // Month by month the ledger ends where the simulator's subscriptions end.
    let end = rows.last().unwrap()["end_arr"].as_i64().unwrap();
    assert_eq!(end, simulated_arr(&d.join("sim")));
    // Consecutive months chain: one month's end is the next month's start plus new and
    // reactivated revenue of accounts that had none.
    for w in rows.windows(2) {
        assert_eq!(
            w[0]["end_arr"].as_i64().unwrap(),
            w[1]["start_arr"].as_i64().unwrap()
        );
    }

    // Groups add up to the total, for every grouping.
    let quarters = json(&["--from", &from, "--to", &to]);
    for by in ["plan", "csm", "industry", "region", "size_band", "cohort"] {
        let grouped = json(&["--from", &from, "--to", &to, "--by", by]);
        for q in quarters["rows"].as_array().unwrap() {
            let sum: i64 = grouped["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["period"] == q["period"])
                .map(|g| g["start_arr"].as_i64().unwrap())
                .sum();
            assert_eq!(
                sum,
                q["start_arr"].as_i64().unwrap(),
                "by {by}, {}",
                q["period"]
            );
        }
    }
    // CSV: a header and one line per row.
    let csv = text(&report(&["--from", &from, "--to", &to, "--csv"]).stdout);
    assert_eq!(
        csv.lines().count(),
        1 + quarters["rows"].as_array().unwrap().len()
    );
    assert!(csv.starts_with("period,from,to,group,nrr,grr,"));

    // Bad input: a precise message and a non-zero exit.
    for (args, says) in [
        (
            vec!["--period", "week"],
            "`period` must be one of month, quarter, year, ttm",
        ),
        (vec!["--by", "colour"], "`by` must be one of plan, csm"),
        (
            vec!["--from", "2026-13-01"],
            "`from` must be a date as YYYY-MM-DD",
        ),
        (
            vec!["--from", "2026-05-01", "--to", "2026-04-01"],
            "is after `to`",
        ),
    ] {
        let mut all = vec!["report", "metrics", "--data-dir", "d"];
        all.extend_from_slice(&args);
        let out = tenure(d, &all);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }

    // Cohorts: every account with revenue in one sign-up cohort; month 0 keeps all revenue.
    let cohorts: Value = serde_json::from_slice(
        &tenure(
            d,
            &[
                "report",
                "cohorts",
                "--data-dir",
                "d",
                "--months",
                "18",
                "--as-of",
                &to,
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let crows = cohorts["rows"].as_array().unwrap();
    assert!(crows.len() >= 12, "a cohort per sign-up month");
    let in_cohorts: u64 = crows.iter().map(|r| r["accounts"].as_u64().unwrap()).sum();
    assert_eq!(in_cohorts, accounts_with_revenue(&d.join("sim")));
    for r in crows {
        if let Some(r0) = r["revenue"][0].as_f64() {
            assert!((r0 - 1.0).abs() < 1e-12);
        }
    }
    let table = text(
        &tenure(
            d,
            &[
                "report",
                "cohorts",
                "--data-dir",
                "d",
                "--metric",
                "revenue",
            ],
        )
        .stdout,
    );
    assert!(
        table.starts_with("Revenue retention by signup cohort"),
        "{table}"
    );
    let out = tenure(
        d,
        &["report", "cohorts", "--data-dir", "d", "--by", "colour"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("expected one of signup, plan"),
        "{}",
        text(&out.stderr)
    );

    // Experience, month by month over the whole simulation: every NPS answer and every
    // ticket is counted once.
    let exp: Value = serde_json::from_slice(
        &report_cmd(
            d,
            &[
                "experience",
                "--period",
                "month",
                "--from",
                &from,
                "--to",
                &to,
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let erows = exp["rows"].as_array().unwrap();
    assert_eq!(erows.len(), 18);
    let total = |k: &str| erows.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    let sim = std::fs::read_to_string(d.join("sim/surveys.csv")).unwrap();
    let nps_answers = sim
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(4) == Some("nps"))
        .count() as u64;
    assert_eq!(total("nps_responses"), nps_answers);
    assert_eq!(
        total("promoters") + total("passives") + total("detractors"),
        nps_answers
    );
    let tickets = std::fs::read_to_string(d.join("sim/tickets.csv"))
        .unwrap()
        .lines()
        .count() as u64
        - 1;
    assert_eq!(total("tickets_opened"), tickets);
    for r in erows {
        if let Some(n) = r["nps"].as_f64() {
            assert!((-100.0..=100.0).contains(&n));
        }
        if let (Some(m), Some(p)) = (
            r["resolution_hours_median"].as_f64(),
            r["resolution_hours_p90"].as_f64(),
        ) {
            assert!(m <= p);
        }
    }

    // Signals and the health-score backtest: every churn the simulator recorded is a decision.
    let out = tenure(d, &["report", "signals", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (truth_decisions, truth_churned) = truth_renewals(&d.join("sim"));
    assert_eq!(ev["churned"].as_u64().unwrap(), truth_churned);
    // Renewals falling after the simulation stopped count as renewed.
    assert!(ev["decisions"].as_u64().unwrap() >= truth_decisions);
    let banded: u64 = ev["by_band"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["decisions"].as_u64().unwrap())
        .sum();
    assert_eq!(banded, ev["decisions"].as_u64().unwrap());
    for key in ["health_auc", "activity_only_auc"] {
        let a = ev[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{key} {a}");
    }
    let signals = ev["signals"].as_array().unwrap();
    let weights: u64 = signals
        .iter()
        .map(|s| s["suggested_weight"].as_u64().unwrap())
        .sum();
    assert!(
        (97..=103).contains(&weights),
        "weights are shares of 100 (rounded): {weights}"
    );
    let csv = text(&report_cmd(d, &["signals", "--csv"]).stdout);
    assert_eq!(csv.lines().count(), 1 + signals.len() + 2);
    assert!(csv.starts_with("signal,decisions,auc,direction,suggested_weight,"));
    let out = tenure(
        d,
        &["report", "signals", "--data-dir", "d", "--lead-days", "400"],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--lead-days must be from 0 to 365"));

    // The API serves the same figures.
    let (mut server, addr) = Server::start(d, "d");
    let (status, nrr) = get(
        &addr,
        &format!("/api/v1/metrics/nrr?from={from}&to={to}"),
        &admin,
    );
    assert_eq!(status, 200, "{nrr}");
    let api: Vec<Value> = nrr["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].clone())
        .collect();
    let cli: Vec<Value> = quarters["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["nrr"].clone())
        .collect();
    assert_eq!(api, cli);
    let (status, nps) = get(
        &addr,
        &format!("/api/v1/metrics/nps?period=month&from={from}&to={to}"),
        &admin,
    );
    assert_eq!(status, 200, "{nps}");
    let api: Vec<Value> = nps["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].clone())
        .collect();
    let cli: Vec<Value> = erows.iter().map(|r| r["nps"].clone()).collect();
    assert_eq!(api, cli);
    let (status, body) = get(&addr, "/api/v1/metrics/arpu", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_metric"))
    );
    let (status, body) = get(&addr, "/api/v1/metrics/grr?by=colour", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_group"))
    );
    let (status, body) = get(&addr, "/api/v1/metrics/grr?limit=3", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_parameter"))
    );
    let (status, _) = get(&addr, "/api/v1/metrics/grr", "not-a-token");
    assert_eq!(status, 401);
    let (status, api_cohorts) = get(
        &addr,
        &format!("/api/v1/cohorts/signup?months=18&as_of={to}"),
        &admin,
    );
    assert_eq!(status, 200, "{api_cohorts}");
    assert_eq!(api_cohorts["rows"], cohorts["rows"]);
    let (status, body) = get(&addr, "/api/v1/cohorts/colour", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_cohort_kind"))
    );
    let (status, body) = get(&addr, "/api/v1/cohorts/industry?months=0", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_months"))
    );

    // The evidence over HTTP, after the product events went in through the ingestion API:
    // the server replays its own lake, the CLI the lake and log beside it; the same figures.
    let (status, body) = get(&addr, "/api/v1/signals?lead_days=366", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_lead_days"))
    );
    let (status, body) = get(&addr, "/api/v1/signals?lead=3", &admin);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_parameter"))
    );
    let (status, _) = get(&addr, "/api/v1/signals", "not-a-token");
    assert_eq!(status, 401);
    let (status, no_events) = get(&addr, "/api/v1/signals", &admin);
    assert_eq!(status, 200, "{no_events}");
    send_simulated_events(d, &addr, keys["write_key"].as_str().unwrap());
    let (status, api) = get(&addr, "/api/v1/signals?lead_days=45", &admin);
    assert_eq!(status, 200, "{api}");
    let out = tenure(
        d,
        &[
            "report",
            "signals",
            "--data-dir",
            "d",
            "--lead-days",
            "45",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(api["lead_days"], 45);
    for key in [
        "decisions",
        "churned",
        "health_auc",
        "activity_only_auc",
        "by_band",
        "signals",
    ] {
        assert_eq!(api[key], cli[key], "{key}");
    }
    // The events moved the activity measures: the answer was not served from the cache.
    assert_ne!(api["activity_only_auc"], no_events["activity_only_auc"]);

    // Usage: the API and the CLI agree, and match a brute-force count over the simulator's
    // events.
    let usage_q = format!("period=month&from={from}&to={to}");
    let (status, api_usage) = get(&addr, &format!("/api/v1/metrics/usage?{usage_q}"), &admin);
    assert_eq!(status, 200, "{api_usage}");
    let out = tenure(
        d,
        &[
            "report",
            "usage",
            "--data-dir",
            "d",
            "--period",
            "month",
            "--from",
            &from,
            "--to",
            &to,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli_usage: Value = serde_json::from_slice(&out.stdout).unwrap();
    let urows = api_usage["rows"].as_array().unwrap();
    assert_eq!(urows.len(), 18);
    for (a, c) in urows.iter().zip(cli_usage["rows"].as_array().unwrap()) {
        // Every activity figure is the same; journeys come from the live engine and from a
        // replay, which agree too.
        assert_eq!(a, c);
    }
    assert_eq!(api_usage["windows"]["activation_days"], 14);
    let brute = brute_usage(&d.join("sim/events.jsonl"));
    for r in urows.iter().skip(1) {
        let month = r["period"].as_str().unwrap();
        let b = &brute[month];
        let days = r["days_observed"].as_f64().unwrap();
        assert_eq!(days, b.days as f64, "{month}");
        for (key, sum) in [("dau", b.dau), ("wau", b.wau), ("mau", b.mau)] {
            let got = r[key].as_f64().unwrap();
            assert!(
                (got - sum as f64 / days).abs() < 1e-9,
                "{month} {key}: {got} vs {sum}/{days}"
            );
        }
        assert_eq!(
            r["active_accounts"].as_u64().unwrap(),
            b.accounts,
            "{month}"
        );
    }
    let mid = &urows[9];
    let (status, dau) = get(
        &addr,
        &format!(
            "/api/v1/metrics/dau?period=month&from={}&to={}",
            mid["from"].as_str().unwrap(),
            mid["to"].as_str().unwrap()
        ),
        &admin,
    );
    assert_eq!(status, 200, "{dau}");
    assert_eq!(dau["rows"][0]["value"], mid["dau"]);
    // Groupings the model assigns: the groups add up to the total.
    for by in ["stage", "tier", "segment", "term"] {
        let (status, g) = get(
            &addr,
            &format!("/api/v1/metrics/usage?{usage_q}&by={by}"),
            &admin,
        );
        assert_eq!(status, 200, "{g}");
        let grows = g["rows"].as_array().unwrap();
        assert!(grows.iter().all(|r| r["group"] != "(none)"), "{by}: {g}");
        for total in urows {
            let sum: u64 = grows
                .iter()
                .filter(|r| r["period"] == total["period"])
                .map(|r| r["signed_up"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, total["signed_up"].as_u64().unwrap(), "{by}");
        }
        let (status, n) = get(
            &addr,
            &format!("/api/v1/metrics/revenue_retention?period=quarter&by={by}"),
            &admin,
        );
        assert_eq!(status, 200, "{n}");
        let (_, all) = get(
            &addr,
            "/api/v1/metrics/revenue_retention?period=quarter",
            &admin,
        );
        for total in all["rows"].as_array().unwrap() {
            let sum: i64 = n["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["period"] == total["period"])
                .map(|r| r["start_arr"].as_i64().unwrap())
                .sum();
            assert_eq!(sum, total["start_arr"].as_i64().unwrap(), "{by}");
        }
    }
    let out = tenure(
        d,
        &[
            "report",
            "metrics",
            "--data-dir",
            "d",
            "--by",
            "tier",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli_tier: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, api_tier) = get(&addr, "/api/v1/metrics/revenue_retention?by=tier", &admin);
    assert_eq!(cli_tier["rows"], api_tier["rows"]);
    let (status, c) = get(&addr, "/api/v1/cohorts/term?months=6", &admin);
    assert_eq!(status, 200, "{c}");
    assert!(c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| ["monthly", "annual"].contains(&r["cohort"].as_str().unwrap())));

    // A metric the model defines: served by its kind, in its period, with its definition.
    let (status, m) = get(&addr, "/api/v1/metrics/activation_rate", &admin);
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["period"], "month");
    assert_eq!(m["definition"]["target"], 75.0);
    assert_eq!(m["definition"]["kind"], "activation_rate");
    let (status, m) = get(&addr, "/api/v1/metrics/seat_utilisation", &admin);
    assert_eq!(status, 200, "{m}");
    let row = &m["rows"][0];
    assert!(row["accounts"].as_u64().unwrap() > 0, "{m}");
    let v = row["value"].as_f64().unwrap();
    assert!((0.0..=1.5).contains(&v), "{m}");
    assert_eq!(m["definition"]["measure"], "seat_utilisation");

    // Before and after a release: the API and the CLI agree; every account in the windows
    // is in one side.
    let release = std::fs::read_to_string(d.join("sim/releases.csv"))
        .unwrap()
        .lines()
        .nth(6)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let (status, api_release) = get(
        &addr,
        &format!("/api/v1/cohorts/release?release={release}&window_days=60&months=6"),
        &admin,
    );
    assert_eq!(status, 200, "{api_release}");
    let out = tenure(
        d,
        &[
            "report",
            "cohorts",
            "--data-dir",
            "d",
            "--release",
            &release,
            "--window-days",
            "60",
            "--months",
            "6",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli_release: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(api_release["rows"], cli_release["rows"]);
    assert_eq!(api_release["journeys"], cli_release["journeys"]);
    let sides: Vec<&str> = api_release["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cohort"].as_str().unwrap())
        .collect();
    assert_eq!(sides, ["before", "after"]);
    let journeys = api_release["journeys"].as_array().unwrap();
    assert_eq!(journeys.len(), 2);
    assert!(journeys
        .iter()
        .all(|j| j["signed_up"].as_u64().unwrap() > 0));
    for (query, code) in [
        ("release=nope", (404, "unknown_release")),
        ("window_days=30", (400, "missing_release")),
        (
            &*format!("release={release}&window_days=0"),
            (400, "invalid_window_days"),
        ),
    ] {
        let (status, body) = get(&addr, &format!("/api/v1/cohorts/release?{query}"), &admin);
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            code,
            "{query}"
        );
    }

    // The suggested weights, adopted into the model file: a valid model whose measures carry
    // exactly the suggested weights.
    let out = tenure(
        d,
        &[
            "report",
            "signals",
            "--data-dir",
            "d",
            "--lead-days",
            "45",
            "--adopt",
            "d/tenure.toml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("Adopted the weights suggested by"));
    std::fs::write(d.join("adopted.toml"), &out.stdout).unwrap();
    let out = tenure(d, &["model", "check", "adopted.toml", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let adopted = std::fs::read_to_string(d.join("adopted.toml")).unwrap();
    let mut scored = 0;
    for s in api["signals"].as_array().unwrap() {
        let (m, w) = (
            s["measure"].as_str().unwrap(),
            s["suggested_weight"].as_u64().unwrap(),
        );
        let line = adopted
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{{ measure = \"{m}\"")));
        if let Some(line) = line {
            assert!(line.contains(&format!("weight = {w},")), "{m}: {line}");
            scored += 1;
        }
    }
    assert_eq!(scored, 15, "every measure of the default health score");
    let out = tenure(
        d,
        &[
            "report",
            "signals",
            "--data-dir",
            "d",
            "--adopt",
            "missing.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml"));

    // A change imported while the server runs is in the next answer.
    let all = format!("/api/v1/metrics/revenue_retention?period=month&from={to}&to={to}");
    let (_, before) = get(&addr, &all, &admin);
    let new_arr = |v: &Value| v["rows"][0]["new_arr"].as_i64().unwrap();
    std::fs::create_dir_all(d.join("more")).unwrap();
    std::fs::write(
        d.join("more/subscription_changes.csv"),
        format!(
            "change_id,subscription_id,account_id,kind,effective_date,arr_delta,currency,seats_delta,reason\n\
             late-chg-1,late-sub-1,late-acct-1,new,{last},1234.00,USD,3,\n"
        ),
    )
    .unwrap();
    let out = tenure(d, &["import", "--data-dir", "d", "more"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, after) = get(&addr, &all, &admin);
    assert_eq!(new_arr(&after), new_arr(&before) + 123_400);
    server.stop();
}
