//! `tenure fit bgnbd|cox|km` on the reference data sets: the JSON carries the figures
//! lifetimes and lifelines give; bad input is refused with its file, line and column.

use serde_json::Value;

mod common;

use common::{tenure, text};

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenure-predict/tests/data")
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir().join(name)).unwrap()).unwrap()
}

fn fit(args: &[&str]) -> Value {
    let mut all = vec!["fit"];
    all.extend_from_slice(args);
    let out = tenure(&data_dir(), &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(dir: &std::path::Path, args: &[&str], message: &str) {
    let mut all = vec!["fit"];
    all.extend_from_slice(args);
    let out = tenure(dir, &all);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(message), "expected `{message}` in: {err}");
}

fn close(got: &Value, want: &Value, rel: f64) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!((g - w).abs() <= rel * w.abs(), "{g} vs {w}");
}

#[test]
fn bgnbd_and_gamma_gamma_on_cdnow() {
    let out = fit(&["bgnbd", "--input", "cdnow_summary.csv"]);
    let want = &expected("reference.json")["cdnow_summary.csv"];
    for k in ["r", "alpha", "a", "b", "log_likelihood"] {
        close(&out[k], &want["bgnbd"][k], 1e-6);
    }
    for k in ["p", "q", "v"] {
        close(
            &out[k],
            &want["gamma_gamma_on_rows_with_frequency_gt_0"][k],
            1e-6,
        );
    }
    assert_eq!(out["customers"], 2357);
    assert_eq!(out["gamma_gamma"]["customers"], 946);

    // Per-customer predictions: probability alive, purchases in 10 weeks, spend and value.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("predictions.csv");
    let input = data_dir().join("cdnow_summary.csv");
    let out = tenure(
        dir.path(),
        &[
            "fit",
            "bgnbd",
            "--input",
            input.to_str().unwrap(),
            "--predict",
            file.to_str().unwrap(),
            "--horizon",
            "10",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "ID,p_alive,expected_purchases_10,expected_spend,clv_12_months"
    );
    let want = &expected("lifelines.json");
    for (i, line) in lines.take(6).enumerate() {
        let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        close(
            &cells[1].into(),
            &want["bgnbd_predictions_first_6_rows"]["p_alive"][i],
            1e-6,
        );
        close(
            &cells[2].into(),
            &want["bgnbd_predictions_first_6_rows"]["expected_purchases_10"][i],
            1e-6,
        );
        close(
            &cells[3].into(),
            &want["gamma_gamma_spend_first_6_rows"]["expected_spend"][i],
            1e-6,
        );
        close(&cells[4].into(), &want["clv_first_6_rows"]["clv"][i], 1e-6);
    }
}

#[test]
fn cox_on_rossi_with_every_other_column_or_some() {
    let out = fit(&[
        "cox",
        "--input",
        "rossi.csv",
        "--duration",
        "week",
        "--event",
        "arrest",
    ]);
    let want = &expected("reference.json")["rossi.csv"]["cox_efron_week_arrest_all_other_columns"];
    let coefs = out["coefficients"].as_object().unwrap();
    assert_eq!(coefs.len(), 7);
    for (name, c) in coefs {
        close(&c["coef"], &want["coef"][name], 1e-6);
        close(&c["se"], &want["se"][name], 1e-6);
        let hr = c["hazard_ratio"].as_f64().unwrap();
        assert!((hr - c["coef"].as_f64().unwrap().exp()).abs() < 1e-12);
    }
    close(&out["log_likelihood"], &want["log_likelihood"], 1e-9);
    close(&out["concordance"], &want["concordance"], 1e-12);
    let some = fit(&[
        "cox",
        "--input",
        "rossi.csv",
        "--duration",
        "week",
        "--event",
        "arrest",
        "--covariates",
        "fin,age,prio",
    ]);
    let want = &expected("lifelines.json")["cox_rossi_fin_age_prio"];
    for name in ["fin", "age", "prio"] {
        close(
            &some["coefficients"][name]["coef"],
            &want["coef"][name],
            1e-6,
        );
        close(&some["coefficients"][name]["p"], &want["p"][name], 1e-5);
    }
}

#[test]
fn kaplan_meier_with_and_without_groups() {
    let out = fit(&[
        "km",
        "--input",
        "rossi.csv",
        "--duration",
        "week",
        "--event",
        "arrest",
    ]);
    assert_eq!(out["median"], Value::Null);
    let want = &expected("lifelines.json")["km_rossi"];
    let table = out["table"].as_array().unwrap();
    assert_eq!(table.len(), want["times"].as_array().unwrap().len());
    for (i, row) in table.iter().enumerate() {
        close(&row["survival"], &want["survival"][i], 1e-12);
    }
    let out = fit(&[
        "km",
        "--input",
        "waltons.csv",
        "--duration",
        "T",
        "--event",
        "E",
        "--group",
        "group",
    ]);
    let want = &expected("lifelines.json")["km_waltons_by_group"];
    for (label, g) in out["groups"].as_object().unwrap() {
        assert_eq!(g["median"], want["groups"][label]["median"], "{label}");
    }
    close(
        &out["log_rank"]["statistic"],
        &want["logrank"]["statistic"],
        1e-9,
    );
    assert_eq!(out["log_rank"]["degrees_of_freedom"], 1);
}

#[test]
fn bad_input_is_named_by_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, body: &str| std::fs::write(d.join(name), body).unwrap();
    write("bad.csv", "week,arrest,age\n3,1,30\n4,yes,31\n");
    refused(
        d,
        &[
            "cox",
            "--input",
            "bad.csv",
            "--duration",
            "week",
            "--event",
            "arrest",
        ],
        "bad.csv:3: column `arrest`: `yes` is not an event flag (1/0 or true/false)",
    );
    refused(
        d,
        &[
            "km",
            "--input",
            "bad.csv",
            "--duration",
            "weeks",
            "--event",
            "arrest",
        ],
        "no column `weeks` (--duration); the columns are: week, arrest, age",
    );
    write("neg.csv", "week,arrest\n3,1\n-2,0\n");
    refused(
        d,
        &[
            "km",
            "--input",
            "neg.csv",
            "--duration",
            "week",
            "--event",
            "arrest",
        ],
        "neg.csv:3: column `week`: -2 is negative; a duration must be ≥ 0",
    );
    refused(
        d,
        &[
            "km",
            "--input",
            "neg.csv",
            "--duration",
            "week",
            "--event",
            "arrest",
            "--confidence",
            "95",
        ],
        "--confidence must be between 0 and 1",
    );
    write("rfm.csv", "frequency,recency,T\n2,10,30\n1.5,3,30\n");
    refused(
        d,
        &["bgnbd", "--input", "rfm.csv"],
        "rfm.csv:3: frequency must be a whole number ≥ 0 (repeat purchases), got 1.5",
    );
    write("rfm2.csv", "frequency,recency,T\n2,40,30\n");
    refused(
        d,
        &["bgnbd", "--input", "rfm2.csv"],
        "rfm2.csv:2: recency must be from 0 to T (30), got 40",
    );
    write("text.csv", "frequency,recency,T\n2,ten,30\n");
    refused(
        d,
        &["bgnbd", "--input", "text.csv"],
        "text.csv:2: column `recency`: `ten` is not a number",
    );
    refused(d, &["bgnbd", "--input", "missing.csv"], "missing.csv");
    write("flat.csv", "week,arrest,x\n3,0,1\n4,0,2\n");
    refused(
        d,
        &[
            "cox",
            "--input",
            "flat.csv",
            "--duration",
            "week",
            "--event",
            "arrest",
        ],
        "no events",
    );
}
