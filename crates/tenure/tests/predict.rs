//! Churn models end to end: a simulated company ingested through the API, `tenure backtest`
//! on its point-in-time renewal decisions, and proof that no later data leaks into a
//! training row: each row's measures equal the account's offline score as of the day they
//! were read.

use serde_json::Value;

mod common;

use common::{send_simulated_events, tenure, text, Server};

#[test]
fn backtest_on_point_in_time_decisions_without_leakage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = (chrono::Utc::now().date_naive() - chrono::Days::new(540)).to_string();
    let out = tenure(
        d,
        &[
            "simulate",
            "--accounts",
            "100",
            "--months",
            "18",
            "--seed",
            "5",
            "--start",
            &start,
            "--out",
            "sim",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tenure(d, &["import", "--data-dir", "d", "sim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (mut server, addr) = Server::start(d, "d");
    send_simulated_events(d, &addr, keys["write_key"].as_str().unwrap());
    server.stop();

    let out = tenure(
        d,
        &[
            "backtest",
            "--data-dir",
            "d",
            "--truth",
            "sim/truth.csv",
            "--export",
            "ts.csv",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let models: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        [
            "health score",
            "logistic regression",
            "boosted trees",
            "true probability"
        ]
    );
    for m in report["models"].as_array().unwrap() {
        for k in ["auc", "brier", "log_loss", "calibration_error"] {
            if let Some(v) = m[k].as_f64() {
                assert!((0.0..=10.0).contains(&v), "{k} {v}");
            }
        }
    }
    let dimensions: std::collections::BTreeSet<&str> = report["by_group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["dimension"].as_str().unwrap())
        .collect();
    assert_eq!(
        dimensions.into_iter().collect::<Vec<_>>(),
        ["cohort", "segment", "tier"]
    );
    // Time order: calibration after training, testing after both.
    let day = |s: &str, k: &str| report[s][k].as_i64().unwrap();
    if report["calibrated_in_sample"] == false {
        assert!(day("train", "last_day") < day("calibration", "first_day"));
    }
    assert!(day("calibration", "last_day") < day("test", "first_day"));
    assert!(day("train", "last_day") < day("test", "first_day"));

    // The exported rows: as many as decisions, and each row's measures are the offline score
    // as of 30 days before its decision.
    let csv = std::fs::read_to_string(d.join("ts.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let total: u64 = ["train", "test"]
        .iter()
        .map(|s| report[s]["decisions"].as_u64().unwrap())
        .sum::<u64>()
        + if report["calibrated_in_sample"] == true {
            0
        } else {
            report["calibration"]["decisions"].as_u64().unwrap()
        };
    assert_eq!(rows.len() as u64, total);
    let first_measure = header
        .iter()
        .position(|h| *h == "true_probability")
        .unwrap()
        + 1;
    let step = (rows.len() / 8).max(1);
    for row in rows.iter().step_by(step) {
        let decided: chrono::NaiveDate = row[1].parse().unwrap();
        let as_of = (decided - chrono::Days::new(30)).to_string();
        let out = tenure(
            d,
            &[
                "score",
                "--data-dir",
                "d",
                row[2],
                "--as-of",
                &as_of,
                "--json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let scored: Value = serde_json::from_slice(&out.stdout).unwrap();
        for (j, name) in header.iter().enumerate().skip(first_measure) {
            let offline = scored["features"][*name].as_f64();
            let trained = row[j].parse::<f64>().ok();
            match (offline, trained) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "{} as of {as_of}: {name} {a} offline, {b} in training",
                    row[2]
                ),
                (None, None) => {}
                other => panic!("{} as of {as_of}: {name} {other:?}", row[2]),
            }
        }
    }

    // The forecast of the renewals ahead adds up, and its interval holds its expectation.
    let out = tenure(
        d,
        &["forecast", "--data-dir", "d", "--days", "120", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fc = &f["forecast"];
    let total = fc["arr_up_for_renewal"].as_f64().unwrap();
    let renewed = fc["expected_renewed_arr"].as_f64().unwrap();
    let risk = fc["arr_at_risk"].as_f64().unwrap();
    assert!(
        (renewed + risk - total).abs() < 1e-6 * total.max(1.0),
        "{fc}"
    );
    assert!(fc["renewed_arr_low"].as_f64().unwrap() <= renewed);
    assert!(renewed <= fc["renewed_arr_high"].as_f64().unwrap());
    assert!(fc["renewals"].as_u64().unwrap() > 0, "{fc}");
    for r in f["riskiest"].as_array().unwrap() {
        let p = r["churn_probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        assert_eq!(r["drivers"].as_array().unwrap().len(), 3);
    }
    assert!(f["rising"].as_array().unwrap().len() <= 5);
    let drift = f["drift"].as_array().unwrap();
    assert!(!drift.is_empty());
    assert!(drift.iter().all(|d| d["psi"].as_f64().unwrap() >= 0.0));
    assert_eq!(f["registered_model"], Value::Null);

    // A registered model: listed, then used by the forecast, and recalibrated on the
    // decisions that came after its training (here: pretending it was trained long ago).
    let out = tenure(d, &["backtest", "--data-dir", "d", "--register", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reg: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = reg["registered"].as_str().unwrap().to_owned();
    let out = tenure(d, &["models", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    let out = tenure(d, &["forecast", "--data-dir", "d", "--json"]);
    let used: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(used["registered_model"], id.as_str());
    assert_eq!(used["recalibrated_on"], 0);
    let path = d.join(format!("d/models/churn-{id}.json"));
    let mut model: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let long_ago = (chrono::Utc::now().date_naive() - chrono::Days::new(400)).to_string();
    model["last_decision"] = Value::String(long_ago);
    std::fs::write(&path, model.to_string()).unwrap();
    let out = tenure(d, &["forecast", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recal: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        recal["recalibrated_on"].as_u64().unwrap() >= 100,
        "{}",
        recal["recalibrated_on"]
    );
    let out = tenure(d, &["forecast", "--data-dir", "d", "--refit", "--json"]);
    let refit: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refit["registered_model"], Value::Null);
    std::fs::write(&path, "{ not json").unwrap();
    let out = tenure(d, &["models", "--data-dir", "d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a registered model"));

    let out = tenure(d, &["forecast", "--data-dir", "d", "--days", "0"]);
    assert_eq!(out.status.code(), Some(1));

    let out = tenure(d, &["backtest", "--data-dir", "d", "--lead-days", "400"]);
    assert_eq!(out.status.code(), Some(1));
    let out = tenure(d, &["backtest", "--data-dir", "d", "--truth", "nope.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.csv"));
}
